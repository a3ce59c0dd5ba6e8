"""The main flow under Prefect's test harness, on the in-memory engine, and its command line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from flows.main import main, main_flow
from flows.params import MainParams
from infra.collections import BATCHES, STUDENTS_FEATURES, STUDENTS_RAW, STUDENTS_REJECTED
from infra.report_files import file_paths, read_file
from tasks.data.synthetic import DriftKnobs


def test_main_flow_fills_every_collection_and_exports(db):
    summary = main_flow(MainParams(students=300, seed=21, train=False))
    assert summary["batch_id"] == "gen-s21-n300-L" and summary["accepted"] == 300
    assert summary["counts"] == {"batches": 1, "students_raw": 300, "students_rejected": 0,
                                 "students_features": 300, "students_truth": 300}
    frame = pd.read_parquet(summary["exports"]["parquet"])
    assert len(frame) == 300 and frame["high_performer"].notna().all()
    assert set(summary["seconds"]) == {"generate", "ingest", "validate_raw", "aggregate", "validate_features",
                                       "export"}
    assert db[BATCHES].find_one()["status"] == "featurized"
    assert summary["quality"]["raw"]["failed"] == 0 and summary["quality"]["features"]["failed"] == 0
    assert summary["quality"]["raw"]["evaluated"] >= 12 and summary["quality"]["features"]["evaluated"] >= 20
    # the validation's Data Docs page is kept in the store (any machine's service serves it), linked over http
    assert summary["data_docs"] == "http://127.0.0.1:8000/dashboard/files/data-docs/gen-s21-n300-L/features.html"
    page, content_type = read_file(db, "data-docs/gen-s21-n300-L/features.html")
    assert content_type.startswith("text/html") and b"students-features-labeled" in page
    assert b"<script" not in page and b"cdn." not in page  # reads whole offline
    assert read_file(db, "data-docs/gen-s21-n300-L/raw.html") is not None


def test_rerunning_a_batch_duplicates_nothing_and_a_new_seed_adds_one(db):
    first = main_flow(MainParams(students=200, seed=3, train=False))
    again = main_flow(MainParams(students=200, seed=3, train=False))
    assert again["counts"] == first["counts"] and again["batch_seq"] == first["batch_seq"]
    added = main_flow(MainParams(students=200, train=False))  # no seed: one past the last generated
    assert added["batch_id"] == "gen-s4-n200-L" and added["counts"]["students_raw"] == 400
    assert added["counts"]["batches"] == 2


def test_malformed_records_below_the_threshold_are_quarantined_and_counted(db):
    summary = main_flow(MainParams(students=400, seed=5, drift=DriftKnobs(malformed_rate=0.1),
                                   max_rejected_share=0.2, train=False))
    assert summary["rejected"] > 20
    assert summary["accepted"] + summary["rejected"] == 400
    assert db[STUDENTS_RAW].count_documents({}) == summary["accepted"]
    assert db[STUDENTS_REJECTED].count_documents({}) == summary["rejected"]
    assert db[STUDENTS_FEATURES].count_documents({}) == summary["accepted"]


def test_main_flow_from_a_file(db, tmp_path, reference_record):
    path = tmp_path / "students.json"
    path.write_text(json.dumps([reference_record]))
    summary = main_flow(MainParams(source=str(path)))
    assert summary["kind"] == "unlabeled" and summary["counts"]["students_features"] == 1
    assert "load" in summary["seconds"]
    assert db[STUDENTS_FEATURES].find_one({"student_id": 3})["num_courses"] == 2


def test_cli_prints_a_summary_and_json_as_its_last_line(capsys, tmp_path):
    assert main(["--students", "120", "--seed", "2", "--json", "--no-export"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["counts"]["students_raw"] == 120 and summary["exports"] == {}
    assert any(line.startswith("records    120 in: 120 accepted") for line in lines)


def test_cli_reports_a_missing_file_as_an_error(capsys, tmp_path):
    assert main(["--source", str(tmp_path / "nope.jsonl")]) == 1
    assert "source file not found" in capsys.readouterr().err


def test_cli_refuses_invalid_parameters(capsys):
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["--students", "0"])
    assert info.value.code == 2 and "--students" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--malformed-rate", "2"])


def test_cli_reports_a_bad_uri_without_its_secret(capsys, monkeypatch):
    monkeypatch.setenv("MONGO_URI", "mysql://root:" + "Hunter22@db/x")
    assert main(["--students", "5"]) == 1
    err = capsys.readouterr().err
    assert "unsupported scheme 'mysql'" in err and "Hunter22" not in err


def test_a_batch_above_the_rejected_threshold_fails_and_loses_nothing(db):
    import pytest

    from validation.gate import RejectedShareTooHighError

    good = main_flow(MainParams(students=200, seed=1, train=False))
    raw_before = list(db[STUDENTS_RAW].find({}, {"_id": 0}).sort([("student_id", 1)]))
    features_before = list(db[STUDENTS_FEATURES].find({}, {"_id": 0}).sort([("student_id", 1)]))
    with pytest.raises(RejectedShareTooHighError, match="above the 5.0% threshold") as info:
        main_flow(MainParams(students=300, seed=2, drift=DriftKnobs(malformed_rate=0.3)))
    assert "students_rejected" in str(info.value) and "--max-rejected-share" in str(info.value)
    failed = db[BATCHES].find_one({"source.seed": 2})
    assert failed["status"] == "quality_gate_failed" and failed["quality"]["raw"]["gate_passed"] is False
    # the earlier batch is untouched; the failed batch is kept (raw + rejected) but never featurized
    kept = list(db[STUDENTS_RAW].find({"batch_id": good["batch_id"]}, {"_id": 0}).sort([("student_id", 1)]))
    assert kept == raw_before
    assert list(db[STUDENTS_FEATURES].find({}, {"_id": 0}).sort([("student_id", 1)])) == features_before
    assert db[STUDENTS_RAW].count_documents({"batch_id": failed["batch_id"]}) + \
        db[STUDENTS_REJECTED].count_documents({"batch_id": failed["batch_id"]}) == 300


def test_main_flow_trains_registers_and_names_the_first_champion(db):
    from prefect.artifacts import Artifact

    from infra.collections import ALIAS_HISTORY, MODELS
    from tasks.registry.store import CHAMPION, get_alias, load_model

    first = main_flow(MainParams(students=800, seed=8))
    training = first["training"]
    assert [m["version"] for m in training["models"]] == [1, 2, 3, 4]
    assert training["champion"]["promoted"] and training["oracle_gap_test"] < 0.06
    champion = get_alias(db, "high_performer", CHAMPION)
    assert champion["version"] == training["champion"]["version"] and "first champion" in champion["reason"]
    model = db[MODELS].find_one({"version": champion["version"]})
    assert model["lineage"]["rows"] == 800 and model["lineage"]["batches"] == [first["batch_id"]]
    assert model["metrics"]["test"]["roc_auc"] > 0.8 and model["oracle"]["test"]["roc_auc"] > 0.8
    assert model["code_version"]["source_sha256"] and model["binary"]["sha256"]
    assert load_model(db, "high_performer", alias=CHAMPION).predict(
        pd.read_parquet(first["exports"]["parquet"]).head(3)).shape == (3,)
    report = Path(training["report"])  # a local copy; the store keeps the report
    assert {"metrics.json", "roc.png", "confusion.png", "importance_own.png"} <= {p.name for p in report.iterdir()}
    stamp = report.name
    assert training["page"] == f"http://127.0.0.1:8000/dashboard/training/{stamp}"
    assert file_paths(db, f"training/{stamp}/") == [f"training/{stamp}/{name}" for name in (
        "confusion.png", "importance_own.png", "importance_permutation.png", "metrics.json", "roc.png")]
    png, content_type = read_file(db, f"training/{stamp}/roc.png")
    assert content_type == "image/png" and png == (report / "roc.png").read_bytes()
    leaderboard = Artifact.get("model-leaderboard")
    assert leaderboard is not None and "oracle" in str(leaderboard.data) and "baseline" in str(leaderboard.data)
    assert Artifact.get("training-report") is not None and Artifact.get("data-quality-raw") is not None
    # the report's plots as images the Prefect UI renders, from the service; every link is http
    assert f"![roc](http://127.0.0.1:8000/dashboard/files/training/{stamp}/roc.png)" in Artifact.get(
        "training-report").data
    assert f"({training['page']})" in Artifact.get("training-page").data  # a link artifact: [text](link)
    assert "(http://127.0.0.1:8000/dashboard/files/data-docs/" in Artifact.get("data-docs").data

    second = main_flow(MainParams(students=400, seed=9))
    assert [m["version"] for m in second["training"]["models"]] == [5, 6, 7, 8]
    assert not second["training"]["champion"]["promoted"] and "exists" in second["training"]["champion"]["reason"]
    assert get_alias(db, "high_performer", CHAMPION)["version"] == champion["version"]
    assert db[ALIAS_HISTORY].count_documents({}) == 1 and db[MODELS].count_documents({}) == 8


def test_regression_training_through_the_flow(db):
    from tasks.training.params import TrainingParams

    summary = main_flow(MainParams(students=500, seed=10, export=False,
                                   training=TrainingParams(problem="regression", algorithms=["linear", "xgboost"])))
    assert [m["algorithm"] for m in summary["training"]["models"]] == ["linear", "xgboost"]
    assert (Path(summary["training"]["report"]) / "predicted_vs_actual.png").exists()
    assert summary["training"]["champion"]["promoted"]
