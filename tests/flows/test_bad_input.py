"""Bad input never poisons the store: each defect found by trying the pipeline as an attacker and a careless user
would, as a test. A bad record is quarantined with its reason, a bad stored document is named, a failed
registration leaves nothing behind, and every expected failure is one `error:` line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.main import main, main_flow
from flows.params import MainParams
from infra.collections import BATCHES, COUNTERS, MODELS, STUDENTS_FEATURES, STUDENTS_RAW, STUDENTS_REJECTED
from infra.settings import get_settings
from tasks.data.sources import SourceFileError
from tasks.training.params import TrainingParams
from validation.features import FeatureContractError

FAST = TrainingParams(algorithms=["linear"])
ROOT = Path(__file__).resolve().parents[2]

DUMMY_RECORD = {"algorithm": "dummy", "problem": "classification"}  # what a registered version needs at least


def write_records(path: Path, records: list) -> str:
    path.write_text("\n".join(json.dumps(record) for record in records))
    return str(path)


def students(reference_record: dict, n: int, first_id: int = 100) -> list[dict]:
    return [{**reference_record, "student_id": first_id + i} for i in range(n)]


def test_an_unchecked_field_is_quarantined_and_later_runs_still_work(db, tmp_path, reference_record):
    bad = {**reference_record, "student_id": 99, "study": {"tutoring": "sometimes"}}
    source = write_records(tmp_path / "b.jsonl", [*students(reference_record, 40), bad])
    summary = main_flow(MainParams(source=source, max_rejected_share=0.1, train=False))
    assert (summary["accepted"], summary["rejected"]) == (40, 1)
    [rejected] = db[STUDENTS_REJECTED].find({})
    assert rejected["reasons"] == [{"field": "study.tutoring", "rule": "type", "value": "sometimes",
                                    "expected": "true or false"}]
    assert db[STUDENTS_FEATURES].count_documents({"student_id": 99}) == 0
    after = main_flow(MainParams(students=300, seed=3, training=FAST))  # export and training still work
    assert after["exports"]["parquet"] and after["training"]["champion"]["promoted"]


def test_a_nul_in_a_major_is_quarantined_and_training_keeps_working(db, tmp_path, reference_record):
    bad = {**reference_record, "student_id": 98, "major": "Math\u0000Null", "final_score": 50.0,
           "high_performer": False}
    good = main_flow(MainParams(students=300, seed=4, training=FAST))
    source = write_records(tmp_path / "nul.jsonl", [bad])
    with pytest.raises(Exception, match="rejected"):
        main_flow(MainParams(source=source, kind="labeled", training=FAST))
    assert db[STUDENTS_REJECTED].find_one({"student_id": 98})["reasons"][0]["rule"] == "format"
    again = main_flow(MainParams(students=300, seed=5, training=FAST))
    assert again["training"]["models"][0]["version"] == good["training"]["models"][0]["version"] + 1


@pytest.mark.parametrize(("record_change", "field"), [
    ({"student_id": 2**70}, "student_id"),
    ({"nickname": 2**70}, "nickname"),
    ({"$where": "1 == 1"}, "$where"),
])
def test_records_mongodb_cannot_store_are_quarantined_and_every_record_is_accounted_for(
        db, tmp_path, reference_record, record_change, field):
    records = [*students(reference_record, 299), {**reference_record, **record_change}]
    source = write_records(tmp_path / "unstorable.jsonl", records)
    summary = main_flow(MainParams(source=source, train=False))
    assert (summary["accepted"], summary["rejected"]) == (299, 1)
    [rejected] = db[STUDENTS_REJECTED].find({})
    assert rejected["reasons"][0]["rule"] == "storable" and rejected["reasons"][0]["field"] == field
    assert db[STUDENTS_RAW].count_documents({}) + db[STUDENTS_REJECTED].count_documents({}) == 300
    assert db[BATCHES].find_one({})["status"] == "featurized"


def test_an_empty_input_file_is_a_clear_error_and_registers_nothing(db, tmp_path):
    source = tmp_path / "empty.json"
    source.write_text("[]")
    with pytest.raises(SourceFileError, match="empty list: no records to ingest"):
        main_flow(MainParams(source=str(source)))
    assert db[BATCHES].count_documents({}) == 0


def test_export_and_training_name_a_bad_stored_document(db):
    main_flow(MainParams(students=300, seed=6, train=False, export=False))
    db[STUDENTS_FEATURES].update_one({"student_id": 6000007}, {"$set": {"tutoring": "sometimes"}})
    from tasks.data.tasks import export_features
    from tasks.training.params import TrainingParams
    from tasks.training.tasks import load_training_data
    from validation.contracts import DEFAULT_LABEL_RULE

    batch_id = db[BATCHES].find_one({})["batch_id"]
    message = r"student 6000007, field tutoring = 'sometimes' \(expected true or false\).*deleteOne"
    with pytest.raises(FeatureContractError, match=message):
        export_features.fn(batch_id)
    with pytest.raises(FeatureContractError, match=message):
        load_training_data.fn(TrainingParams(), DEFAULT_LABEL_RULE)


def test_a_failed_registration_leaves_no_orphan(db):
    from sklearn.dummy import DummyClassifier

    from tasks.registry.store import RegistrationError, models_folder, register_version

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    artifacts = get_settings().artifacts_path
    with pytest.raises(RegistrationError, match="cannot be stored.*nothing was registered"):
        register_version(db, "m", model, {**DUMMY_RECORD, "importance": {"major_Math\x00": 1.0}}, artifacts)
    db[MODELS].insert_one({"name": "m", "version": 1, "blocker": True})  # the next version's slot is taken
    with pytest.raises(Exception, match="duplicate key"):
        register_version(db, "m", model, DUMMY_RECORD, artifacts)
    assert db["models.files"].count_documents({}) == 0  # the uploaded binary was removed again
    assert db[COUNTERS].find_one({"_id": "model_version:m"}) is None  # the number was given back
    folder = models_folder(db, artifacts, "m")
    assert not folder.exists() or list(folder.iterdir()) == []
    db[MODELS].delete_one({"blocker": True})
    assert register_version(db, "m", model, DUMMY_RECORD, artifacts)["version"] == 1


def test_model_files_of_two_stores_never_collide(monkeypatch):
    from sklearn.dummy import DummyClassifier

    from infra.storage import get_database
    from tasks.registry.store import register_version

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    paths = []
    for name in ("store_a", "store_b"):
        monkeypatch.setenv("MONGO_DB", f"{os.environ['MONGO_DB']}_{name}")
        db = get_database()
        doc = register_version(db, "m", model, DUMMY_RECORD, get_settings().artifacts_path)
        assert doc["version"] == 1 and Path(doc["binary"]["path"]).is_file()
        paths.append(doc["binary"]["path"])
        db.client.drop_database(db.name)
    assert paths[0] != paths[1]


def test_training_the_same_data_twice_registers_nothing_new(db):
    first = main_flow(MainParams(students=400, seed=7, export=False, training=FAST))
    again = main_flow(MainParams(students=400, seed=7, export=False, training=FAST))
    assert [m["version"] for m in again["training"]["models"]] == [m["version"] for m in first["training"]["models"]]
    assert again["training"]["models"][0]["existing"] and db[MODELS].count_documents({}) == 1


def test_export_covers_the_run_s_batch_and_training_a_window(db):
    first = main_flow(MainParams(students=250, seed=8, training=FAST.model_copy(update={"window_batches": 1})))
    second = main_flow(MainParams(students=260, seed=9, training=FAST.model_copy(update={"window_batches": 1})))
    import pandas as pd

    assert len(pd.read_parquet(second["exports"]["parquet"])) == 260
    model = db[MODELS].find_one({"version": second["training"]["models"][0]["version"]})
    assert model["lineage"]["batches"] == [second["batch_id"]] and model["lineage"]["rows"] == 260
    both = main_flow(MainParams(students=260, seed=9, training=FAST.model_copy(update={"window_batches": "all"})))
    model = db[MODELS].find_one({"version": both["training"]["models"][0]["version"]})
    assert sorted(model["lineage"]["batches"]) == sorted([first["batch_id"], second["batch_id"]])


def test_a_tampered_champion_is_refused_before_the_batch_is_stored(db):
    from flows.params import ScoreParams
    from flows.score import score_flow
    from infra.errors import IntegrityError
    from infra.storage import get_bucket

    main_flow(MainParams(students=300, seed=10, export=False, training=FAST))
    champion = db[MODELS].find_one({})
    bucket = get_bucket(db)
    payload = bucket.open_download_stream(champion["binary"]["gridfs_id"]).read()
    bucket.delete(champion["binary"]["gridfs_id"])
    bucket.upload_from_stream_with_id(champion["binary"]["gridfs_id"], "x", payload[:-1] + b"\x01")
    batches = db[BATCHES].count_documents({})
    with pytest.raises(IntegrityError, match="refusing to load"):
        score_flow(ScoreParams(students=200, seed=11))
    assert db[BATCHES].count_documents({}) == batches


def test_secrets_in_the_uri_never_reach_the_console_or_prefect(capsys, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime, LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    started = datetime.now(UTC)
    token, password = "S3cretToken77", "Pa55word88"
    monkeypatch.setenv("MONGO_URI", f"mongodb://127.0.0.1:1/?authMechanism=MONGODB-AWS&authMechanismProperties="
                                    f"AWS_SESSION_TOKEN:{token}")
    monkeypatch.setenv("MONGO_TIMEOUT_MS", "300")
    assert main(["--students", "5", "--seed", "1"]) == 1
    monkeypatch.setenv("MONGO_URI", f"alice:{password}@cluster0.example.net/")
    assert main(["--students", "5", "--seed", "1"]) == 1
    out = capsys.readouterr()
    assert token not in out.err + out.out and password not in out.err + out.out
    assert "authMechanismProperties=***" in out.err and "MONGO_URI has no scheme" in out.err

    # what Prefect kept of this test's own runs (the module's server holds every earlier test's runs and logs too)
    APILogWorker.drain_all(timeout=30)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=started)))
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id for run in runs])))
    assert len(runs) == 4  # two main runs, each with its bring-in-batch subflow
    stored = " ".join(log.message for log in logs) + " ".join(str(run.state.message) for run in runs if run.state)
    assert "StoreUnreachableError" in stored and token not in stored and password not in stored


def test_an_unresolvable_srv_host_is_unreachable_not_invalid():
    from infra.settings import Settings
    from infra.storage import StoreUnreachableError, get_database

    with pytest.raises(StoreUnreachableError, match="cannot resolve the host"):
        get_database(Settings(MONGO_URI="mongodb+srv://cluster0.nonexistent.invalid/", MONGO_TIMEOUT_MS=500))


@pytest.mark.slow
@pytest.mark.parametrize(("args", "env", "message", "raised"), [
    # as users run it: no Prefect server; a missing file is said before one would start (nothing raised)
    (["--source", "missing.jsonl"], {"PREFECT_API_URL": None}, "error: source file not found", False),
    (["--students", "5"], {"MONGO_URI": "mongodb://127.0.0.1:1/", "MONGO_TIMEOUT_MS": "300"},
     "error: cannot reach MongoDB at mongodb://127.0.0.1:1/", True),
])
def test_an_expected_failure_ends_with_one_error_line_and_no_traceback(tmp_path, args, env, message, raised):
    from prefect.settings import PREFECT_API_URL

    environment = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_HOME": str(tmp_path), **env}
    environment = {key: value for key, value in environment.items() if value is not None}
    for extra in ([], ["--debug"]):
        done = subprocess.run([sys.executable, "flows/main.py", *args, *extra], cwd=ROOT, capture_output=True,
                              text=True, env=environment, timeout=180)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and lines[-1].startswith(message), done.stderr[-2000:]
        assert ("Traceback" in done.stderr) == (bool(extra) and raised)  # --debug shows what was raised
