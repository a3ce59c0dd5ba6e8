"""``python flows/main.py`` as users run it, as separate processes: on a fresh folder (the local server starts,
then is reused), killed mid-ingest and re-run, and two runs at the same moment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.collections import BATCHES, MODEL_ALIASES, MODELS, STUDENTS_FEATURES, STUDENTS_RAW, STUDENTS_REJECTED
from infra.local_server import read_state, stop_server
from tests.conftest import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def run_main(env: dict, *args: str, timeout: int = 300) -> dict:
    done = subprocess.run([sys.executable, "flows/main.py", *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"summary": json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


@pytest.fixture
def harness_env(store, tmp_path) -> dict:
    """The test's database, folders and Prefect test server, for flow processes started by a test."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}


def test_two_runs_on_a_fresh_folder_start_the_local_server_then_reuse_it(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "MONGO_URI": "", "PIPELINE_DATA_DIR": str(data), "PIPELINE_LOCAL_MONGO_PORT": str(free_port()),
           "PIPELINE_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    env.pop("PREFECT_API_URL", None)
    try:
        first = run_main(env, "--students", "150", "--no-train")
        state = read_state(data / "mongo")
        second = run_main(env, "--students", "150", "--no-train")
    finally:
        stopped = stop_server(data / "mongo")
    assert "started SecantusDB" in first["stderr"] and "started SecantusDB" not in second["stderr"]
    assert stopped["stopped"] and stopped["pid"] == state.pid  # the second run reused the first run's server
    first, second = first["summary"], second["summary"]
    assert (first["batch_id"], second["batch_id"]) == ("gen-s0-n150-L", "gen-s1-n150-L")
    assert second["counts"] == {"batches": 2, "students_raw": 300, "students_rejected": 0, "students_features": 300,
                                "students_truth": 300}
    assert second["store"] == f"{state.uri} (local server, folder {data / 'mongo'})"
    assert (data / "raw" / "gen-s1-n150-L.jsonl").exists()


def test_a_flow_killed_mid_ingest_then_rerun_ends_with_exact_counts(harness_env, db):
    students = 12000
    process = subprocess.Popen([sys.executable, "flows/main.py", "--students", str(students), "--seed", "5",
                                "--no-train", "--no-export"], cwd=ROOT, env=harness_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    batch_id = f"gen-s5-n{students}-L"
    deadline = time.monotonic() + 240
    while db[STUDENTS_RAW].count_documents({"batch_id": batch_id}) == 0:
        assert process.poll() is None and time.monotonic() < deadline, "the flow never started ingesting"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = db[STUDENTS_RAW].count_documents({"batch_id": batch_id})
    assert 0 < partial < students and db[BATCHES].find_one({"batch_id": batch_id})["status"] == "registered"

    rerun = run_main(harness_env, "--students", str(students), "--seed", "5", "--no-train", "--no-export")["summary"]
    assert rerun["batch_seq"] == 1 and rerun["accepted"] == students
    assert db[STUDENTS_RAW].count_documents({}) == students and db[STUDENTS_REJECTED].count_documents({}) == 0
    assert db[STUDENTS_FEATURES].count_documents({}) == students
    assert db[BATCHES].find_one({"batch_id": batch_id})["status"] == "featurized"


def test_two_flow_processes_at_once_both_succeed_with_exact_counts(harness_env, db):
    processes = [subprocess.Popen([sys.executable, "flows/main.py", "--students", "1500", "--seed", str(seed),
                                   "--algorithms", "linear", "--no-export", "--json"], cwd=ROOT, env=harness_env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for seed in (1, 2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sorted(s["batch_seq"] for s in summaries) == [1, 2]
    assert all(s["accepted"] == 1500 for s in summaries)
    assert db[STUDENTS_RAW].count_documents({}) == 3000 and db[STUDENTS_FEATURES].count_documents({}) == 3000
    # each run trains on the window it finds: the same data twice is one version (the second run finds it)
    versions = sorted(doc["version"] for doc in db[MODELS].find({}, {"version": 1}))
    assert versions in ([1], [1, 2])
    assert {s["training"]["models"][0]["version"] for s in summaries} == set(versions)
    assert sum(s["training"]["models"][0]["existing"] for s in summaries) == 2 - len(versions)
    assert db[MODEL_ALIASES].count_documents({"alias": "champion"}) == 1
