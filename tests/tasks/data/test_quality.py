"""The quality tasks: reports stored on the batch, and the feature gate's named error."""

from __future__ import annotations

import pytest

from infra.collections import BATCHES, STUDENTS_FEATURES
from tasks.data.ingest import BatchInput
from tasks.data.synthetic import DriftKnobs, generate_batch
from tasks.data.tasks import aggregate_features, ingest_batch, validate_features, validate_raw
from validation.gate import FeatureExpectationsFailedError, RejectedShareTooHighError


def ingest(n=200, seed=40, **knobs):
    batch = generate_batch(n, seed, knobs=DriftKnobs(**knobs))
    return ingest_batch.fn(BatchInput(batch.batch_id, True, batch.records, {"type": "test"}), 1000).batch_id


def test_clean_batch_passes_and_the_report_is_stored_on_the_batch(db):
    batch_id = ingest()
    raw = validate_raw.fn(batch_id, max_rejected_share=0.05)
    aggregate_features.fn(batch_id)
    features = validate_features.fn(batch_id)
    assert raw.gate_passed and raw.success and features.success
    stored = db[BATCHES].find_one({"batch_id": batch_id})["quality"]
    assert stored["raw"]["rejected_share"] == 0 and stored["features"]["rows"] == 200


def test_dirty_batch_reports_failed_expectations_and_trips_the_gate(db):
    batch_id = ingest(n=300, seed=41, malformed_rate=0.2)
    with pytest.raises(RejectedShareTooHighError):
        validate_raw.fn(batch_id, max_rejected_share=0.05)
    report = db[BATCHES].find_one({"batch_id": batch_id})["quality"]["raw"]
    assert not report["success"] and report["rejected_share"] > 0.1
    assert {"age", "student_id", "num_courses"} <= {f["column"] for f in report["failed"]}
    # the same batch passes a looser gate, and the run can go on
    assert validate_raw.fn(batch_id, max_rejected_share=0.5).gate_passed


def test_broken_features_fail_with_a_named_error_naming_the_column(db):
    batch_id = ingest(seed=42)
    aggregate_features.fn(batch_id)
    db[STUDENTS_FEATURES].update_one({}, {"$set": {"avg_grade": 140.0, "num_courses": -1, "age": None}})
    with pytest.raises(FeatureExpectationsFailedError, match=r"avg_grade.*1 unexpected|num_courses") as info:
        validate_features.fn(batch_id)
    assert "num_courses" in str(info.value) and "age" in str(info.value) and "Details: http://" in str(info.value)
    assert db[BATCHES].find_one({"batch_id": batch_id})["status"] == "quality_gate_failed"


def test_the_quality_report_and_the_gate_line_read_as_a_person_expects():
    from tasks.data.quality import gate_lines, quality_markdown
    from validation.gate import decide_rejected_share
    from validation.gx_runner import SuiteResult

    failed = [{"expectation": "expect_column_values_to_be_between", "column": "age", "unexpected_count": 3,
               "unexpected_percent": 1.5, "sample": [-5]}]
    result = SuiteResult("students-raw", False, 15, failed, [], 200, "file:///docs/index.html")
    decision = decide_rejected_share(200, 30, 0.05)
    lines = gate_lines(decision, [("age range", 20), ("courses min_length", 10)])
    text = quality_markdown("b1", result, lines)
    assert "Rejected 30 of 200 (15.0%); threshold 5.0%: **FAILED**." in text
    assert "- age range: 20" in text
    assert "| failed | expect_column_values_to_be_between | age | 3 | 1.5 | [-5] |" in text
    assert "- Data Docs: file:///docs/index.html" in text
