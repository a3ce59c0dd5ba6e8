"""prefect.yaml and the serve script against a real Prefect server: deployments, schedules, a run through a
worker, and the drift event starting a retraining run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime

import pytest

from tests.builders import logged
from tests.deployments.conftest import BIN, ROOT, stop

pytestmark = pytest.mark.slow

EXPECTED = {
    "main": ("student-pipeline-main", {"cron": "0 2 * * *", "timezone": "Europe/London"}),
    "score": ("student-pipeline-score", {"interval": 3600.0}),
    "retrain": ("student-pipeline-retrain", {"cron": "0 3 * * 1", "timezone": "Europe/London"}),
    "drill": ("student-pipeline-drill", {"cron": "0 5 * * 0", "timezone": "Europe/London"}),
}


def deployments(server) -> dict[str, dict]:
    return {d["name"]: d for d in server.post("/deployments/filter")}


def check_schedules(found: dict[str, dict]) -> None:
    assert found["rollback"]["schedules"] == []  # by hand only
    for name, (_, schedule) in EXPECTED.items():
        [entry] = found[name]["schedules"]
        assert entry["active"] is True
        assert {k: entry["schedule"].get(k) for k in schedule} == schedule, (name, entry)


def flow_runs(server, deployment_id: str) -> list[dict]:
    return server.post("/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}})


def test_deploy_from_prefect_yaml_run_through_a_worker_and_retrain_on_the_drift_event(prefect_server):
    server = prefect_server
    setup = subprocess.run(["bash", "deployments/setup_pool.sh"], cwd=ROOT, capture_output=True, text=True,
                           env={**server.env, "PATH": f"{BIN}:{server.env['PATH']}"}, timeout=120)
    assert setup.returncode == 0, setup.stderr[-2000:]
    server.prefect("--no-prompt", "deploy", "--all")

    found = deployments(server)
    assert set(found) == {*EXPECTED, "rollback"}
    check_schedules(found)
    assert found["main"]["parameters"] == {}  # the flow's own defaults
    assert found["score"]["parameters"] == {}  # every default in the flow's model: an override keeps the rest
    assert found["main"]["work_pool_name"] == "student-pipeline-pool"
    assert "student-pipeline" in found["retrain"]["tags"] and found["score"]["description"]
    assert found["drill"]["parameters"] == {}
    assert found["main"]["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == str(ROOT)
    assert found["retrain"]["global_concurrency_limit"]["limit"] == 1  # one retraining at a time; a burst queues
    assert found["retrain"]["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    assert found["main"]["global_concurrency_limit"] is None
    [pool] = [p for p in server.post("/work_pools/filter") if p["name"] == "student-pipeline-pool"]
    assert pool["concurrency_limit"] == 4
    automations = server.post("/automations/filter")
    assert [a["name"] for a in automations] == ["retrain-on-drift"]

    # a run by hand, executed by a worker as a separate process on the test's database
    params = {"params": {"students": 300, "seed": 0, "train": False, "export": False}}
    created = server.prefect("deployment", "run", "student-pipeline-main/main", "--params", json.dumps(params))
    run_id = re.search(r"UUID\('([0-9a-f-]{36})'\)|([0-9a-f]{8}-[0-9a-f-]{27})", created.stdout)
    run_id = run_id.group(1) or run_id.group(2)
    server.prefect("worker", "start", "--pool", "student-pipeline-pool", "--run-once", timeout=300)
    run = server.http.get(f"/flow_runs/{run_id}").json()
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["parameters"] == params

    # the drift event, as the score/retrain flows emit it, starts a retraining run through the automation
    emit = ("from prefect.events import emit_event; emit_event(event='student-pipeline.drift.detected', "
            "resource={'prefect.resource.id': 'student-pipeline.model.high_performer'}, payload={'batch_id': 'b'})")
    def triggered() -> list[dict]:  # not the runs the scheduler creates ahead of time
        return [r for r in flow_runs(server, found["retrain"]["id"]) if not r["auto_scheduled"]]

    assert triggered() == []
    subprocess.run([sys.executable, "-c", emit], env=server.env, check=True, timeout=60)
    [run] = server.wait_for(triggered, 90, "a retrain run from the drift event")
    assert run["state_type"] in ("SCHEDULED", "PENDING", "RUNNING", "COMPLETED")
    # ... on the drifted batch's labels: the trigger passes the event's batch id
    assert run["parameters"] == {"params": {"labels_for": "b"}}

    # a burst: four more drift events at once; a worker runs them all, one at a time, each on its own batch
    burst = ("from prefect.events import emit_event\nfor b in ['b2', 'b3', 'b4', 'b5']:\n"
             "    emit_event(event='student-pipeline.drift.detected', resource={'prefect.resource.id': "
             "'student-pipeline.model.high_performer'}, payload={'batch_id': b})")
    subprocess.run([sys.executable, "-c", burst], env=server.env, check=True, timeout=60)
    runs = server.wait_for(lambda: len(r := triggered()) == 5 and r, 90, "five retrain runs from five events")
    assert sorted(r["parameters"]["params"]["labels_for"] for r in runs) == ["b", "b2", "b3", "b4", "b5"]
    worker = subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", "student-pipeline-pool"], cwd=ROOT,
                              env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    most_running, states, deadline = 0, set(), time.monotonic() + 400
    try:
        while time.monotonic() < deadline:
            runs = triggered()
            most_running = max(most_running, sum(r["state_type"] == "RUNNING" for r in runs))
            states |= {r["state_name"] for r in runs}
            if all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for r in runs):
                break
            time.sleep(0.3)
    finally:
        stop(worker)
    assert all(r["state_type"] in ("COMPLETED", "FAILED") for r in runs), [r["state_name"] for r in runs]
    assert most_running == 1 and "AwaitingConcurrencySlot" in states, states  # queued, never two at once
    # no champion in this store: each run stopped before touching its batch, and said why
    messages = [server.http.get(f"/flow_runs/{r['id']}").json()["state"]["message"] or "" for r in runs]
    assert all(r["state_type"] == "FAILED" for r in runs) and all("champion" in m for m in messages), messages


def test_serve_script_registers_the_deployments_with_their_schedules(prefect_server):
    server = prefect_server
    process = subprocess.Popen([sys.executable, "deployments/serve.py"], cwd=ROOT, env=server.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        found = server.wait_for(lambda: (d := deployments(server)) and len(d) == 5 and d, 120,
                                "the served deployments")
        check_schedules(found)
        assert len({d["flow_id"] for d in found.values()}) == 5
        assert all(d["work_pool_name"] is None for d in found.values())  # served: no pool needed
        assert found["score"]["parameters"] == {}  # every default in the flow's model: an override keeps the rest
        assert found["retrain"]["global_concurrency_limit"]["limit"] == 1  # prefect.yaml's limit, served too
        assert found["retrain"]["concurrency_options"]["collision_strategy"] == "ENQUEUE"
        automations = server.wait_for(lambda: server.post("/automations/filter"), 60, "the drift trigger's automation")
        assert [a["name"] for a in automations] == ["retrain-on-drift"]
    finally:
        stop(process)


def test_two_workers_on_one_pool_run_main_and_score_at_once_with_exact_counts(prefect_server, db, tmp_path):
    """Several machines: two workers (each taking one run at a time) poll one pool; a main run and a scoring run
    created together go one to each worker, run at the same time against the one store, and add exactly their
    students."""
    from infra.collections import BATCHES, STUDENTS_FEATURES, STUDENTS_RAW

    server = prefect_server
    env = {**server.env, "PATH": f"{BIN}:{server.env['PATH']}"}
    subprocess.run(["bash", "deployments/setup_pool.sh"], cwd=ROOT, env=env, check=True, capture_output=True,
                   timeout=120)
    server.prefect("--no-prompt", "deploy", "--name", "main", "--name", "score")
    for deployment in deployments(server).values():  # no scheduled run may join in: only the two made below
        server.http.patch(f"/deployments/{deployment['id']}", json={"paused": True}).raise_for_status()
    first = subprocess.run([sys.executable, "flows/main.py", "--students", "400", "--seed", "0", "--algorithms",
                            "linear", "--no-export"], cwd=ROOT, env=server.env, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]  # the champion the scoring run needs

    logs = [tmp_path / f"machine-{i}.log" for i in (1, 2)]

    def worker(i: int) -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", "student-pipeline-pool",
                                 "--limit", "1", "--name", f"machine-{i}"], cwd=ROOT,
                                env={**server.env, "PREFECT_WORKER_QUERY_SECONDS": "1"},
                                stdout=logs[i - 1].open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def online() -> set[str]:
        found = server.post("/work_pools/student-pipeline-pool/workers/filter")
        return {w["name"] for w in found if w["status"] == "ONLINE"}

    # both machines polling before the runs exist: each takes one (one at a time) as soon as they are made,
    # so neither waits on the other machine's start-up
    workers = [worker(1), worker(2)]
    found = deployments(server)
    runs = {}
    try:
        server.wait_for(lambda: online() >= {"machine-1", "machine-2"}, 120, "both workers online")
        for name, params in (("main", {"students": 300, "seed": 1, "train": False, "export": False}),
                             ("score", {"students": 300, "seed": 2})):  # made together (the CLI takes seconds each)
            runs[name] = server.post(f"/deployments/{found[name]['id']}/create_flow_run",
                                     {"parameters": {"params": params}})["id"]

        def finished() -> bool:
            states = [server.http.get(f"/flow_runs/{run}").json()["state_type"] for run in runs.values()]
            return all(state in ("COMPLETED", "FAILED", "CRASHED") for state in states)

        server.wait_for(finished, 400, "both runs to finish")
    finally:
        for w in workers:
            stop(w)
    outputs = [log.read_text() for log in logs]
    ended = {name: server.http.get(f"/flow_runs/{run}").json() for name, run in runs.items()}
    assert all(s["state_type"] == "COMPLETED" for s in ended.values()), {n: s["state"] for n, s in ended.items()}
    # one run each: each worker's log names the run it handed to its infrastructure (both may try the same run
    # first; the server lets one have it, and the other takes the next)
    taken = [{name for name, run in ended.items() if f"Flow run '{run['name']}' submitted to infrastructure" in out}
             for out in outputs]
    assert sorted(map(len, taken)) == [1, 1] and taken[0] != taken[1], outputs
    # at the same time, against the one store: each started before the other ended (the server's own times)
    times = [(datetime.fromisoformat(r["start_time"]), datetime.fromisoformat(r["end_time"])) for r in ended.values()]
    assert max(start for start, _ in times) < min(end for _, end in times), times
    assert db[BATCHES].count_documents({}) == 3
    assert db[STUDENTS_RAW].count_documents({}) == 1000 and db[STUDENTS_FEATURES].count_documents({}) == 1000
    assert len(logged(db, {"batch_id": "gen-s2-n300-U"})) == 300
