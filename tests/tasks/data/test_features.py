"""Feature aggregation inside MongoDB: exact values, idempotent, the newest batch wins, equal to pandas."""

from __future__ import annotations

import pandas as pd
import pytest

from infra.collections import STUDENTS_FEATURES, STUDENTS_RAW
from tasks.data.features import feature_pipeline
from tasks.data.ingest import BatchInput
from tasks.data.synthetic import DriftKnobs, generate_batch
from tasks.data.tasks import aggregate_features, ingest_batch
from validation.contracts import FEATURE_SCHEMA
from validation.pandas_twin import pandas_features


def ingest(records, batch_id="ref", labeled=False):
    return ingest_batch.fn(BatchInput(batch_id, labeled, records, {"type": "test"}), 1000)


def test_reference_record_features_are_exact(db, reference_record):
    ingest([reference_record])
    aggregate_features.fn("ref")
    doc = db[STUDENTS_FEATURES].find_one({"student_id": 3}, {"_id": 0})
    assert doc["avg_grade"] == pytest.approx(66.1667, abs=1e-4)
    assert (doc["max_grade"], doc["min_grade"], doc["num_courses"], doc["num_grades"]) == (75, 57, 2, 6)
    assert doc["fullTime"] is False and doc["total_credits"] == 7 and doc["grade_range"] == 18
    assert doc["credit_weighted_avg"] == pytest.approx((3 * 190 / 3 + 4 * 207 / 3) / 7)
    assert doc["course_avg_std"] == pytest.approx(abs(190 / 3 - 207 / 3) / 2)
    assert doc["study_hours"] is None and "final_score" not in doc
    assert (doc["batch_id"], doc["batch_seq"], doc["major"], doc["age"]) == ("ref", 1, "Math", 27)


def test_rerunning_the_aggregation_changes_no_counts(db):
    batch = generate_batch(200, 12)
    ingest(batch.records, batch.batch_id, labeled=True)
    first = aggregate_features.fn(batch.batch_id)
    snapshot = list(db[STUDENTS_FEATURES].find({}, {"_id": 0}).sort("student_id", 1))
    second = aggregate_features.fn(batch.batch_id)
    assert (first.inserted, second.inserted, second.unchanged) == (200, 0, 200)
    assert list(db[STUDENTS_FEATURES].find({}, {"_id": 0}).sort("student_id", 1)) == snapshot
    assert db[STUDENTS_RAW].count_documents({}) == 200


def test_a_student_keeps_a_document_per_batch_and_the_latest_is_a_query(db, reference_record):
    later = {**reference_record, "courses": [{"course": "Statistics", "credits": 3, "grades": [90, 92]}]}
    ingest([reference_record], "first")
    ingest([later], "second")
    aggregate_features.fn("first")
    aggregate_features.fn("second")
    rerun = aggregate_features.fn("first")  # an older batch re-run touches only its own document
    terms = {doc["batch_id"]: (doc["num_courses"], doc["avg_grade"])
             for doc in db[STUDENTS_FEATURES].find({"student_id": 3})}
    assert terms == {"first": (2, pytest.approx(66.1667, abs=1e-4)), "second": (1, 91.0)}
    assert (rerun.inserted, rerun.unchanged) == (0, 1)
    latest = db[STUDENTS_FEATURES].find_one({"student_id": 3}, sort=[("batch_seq", -1)])
    assert latest["batch_id"] == "second"


def test_a_store_from_before_keeps_its_features_and_loses_the_one_per_student_index(db, reference_record):
    from infra.collections import ensure_indexes

    db[STUDENTS_FEATURES].create_index("student_id", unique=True, name="student_unique")  # the earlier contract
    db[STUDENTS_FEATURES].create_index("batch_id", name="batch")
    ingest([reference_record], "first")
    aggregate_features.fn("first")  # ensures today's indexes: the old ones go, the document stays
    ingest([reference_record], "second")
    aggregate_features.fn("second")  # a second term of the same student: refused by the old index, kept now
    assert {"student_unique", "batch"}.isdisjoint(db[STUDENTS_FEATURES].index_information())
    assert db[STUDENTS_FEATURES].count_documents({"student_id": 3}) == 2
    ensure_indexes(db)  # again: nothing left to drop, nothing changes
    assert db[STUDENTS_FEATURES].count_documents({}) == 2


def test_pipeline_equals_the_pandas_reference_on_generated_data(db):
    batch = generate_batch(300, 13, knobs=DriftKnobs(missing_rate=0.2))
    result = ingest(batch.records, batch.batch_id, labeled=True)
    aggregate_features.fn(batch.batch_id)
    columns = [name for name, *_ in FEATURE_SCHEMA]
    ours = pd.DataFrame(list(db[STUDENTS_FEATURES].find({}, {"_id": 0}).sort("student_id", 1)))[columns]
    theirs = pandas_features(batch.records, batch.batch_id, result.seq, labeled=True)[columns]
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, check_exact=False, rtol=1e-9)


def test_pipeline_is_sorted_and_matches_only_the_batch():
    stages = feature_pipeline("b", 4, labeled=False)
    assert stages[0] == {"$match": {"batch_id": "b"}} and stages[-1] == {"$sort": {"student_id": 1}}
    assert [next(iter(s)) for s in stages].count("$unwind") == 1
    assert {"path": "$courses", "preserveNullAndEmptyArrays": True} in [s.get("$unwind") for s in stages]
    assert "final_score" not in str(stages) and "final_score" in str(feature_pipeline("b", 4, labeled=True))


def test_aggregating_an_unknown_batch_is_a_clear_error(db):
    with pytest.raises(LookupError, match="ingest it first"):
        aggregate_features.fn("nope")


def test_students_without_grades_and_declared_extras_match_pandas(db):
    """New students (no courses, or courses without grades yet) and a dataset's own fields: MongoDB and pandas
    agree, grade features are null (not 0), counts are 0, and the extras are carried under their names."""
    from validation.contracts import ExtraFeature, FeatureContract

    contract = FeatureContract((ExtraFeature("absences", "number", 0, 93), ExtraFeature("internet", "bool"),
                                ExtraFeature("school", "category", values=("GP", "MS"))))
    batch = generate_batch(120, 14)
    records = batch.records
    for i, record in enumerate(records):
        record["extra"] = {"absences": i % 9, "internet": bool(i % 2), "school": "GP" if i % 3 else "MS"}
        if i % 10 == 0:
            record.pop("courses")
        elif i % 10 == 1:
            record["courses"] = []
        elif i % 10 == 2:
            record["courses"][0]["grades"] = []
        elif i % 10 == 3:
            record["extra"] = {}
    records[4]["courses"] = [{"course": "A", "credits": 2, "grades": [40, 50, 70]}]  # a known trend
    ingest_batch.fn(BatchInput("new", True, records, {"type": "test"}, contract=contract), 1000)
    aggregate_features.fn("new")
    columns = contract.columns
    ours = pd.DataFrame(list(db[STUDENTS_FEATURES].find({}, {"_id": 0}).sort("student_id", 1)))[columns]
    theirs = pandas_features(records, "new", 1, labeled=True, contract=contract)[columns]
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, check_exact=False, rtol=1e-9)
    none = ours[ours["student_id"] == records[0]["student_id"]].iloc[0]
    assert (none["num_courses"], none["num_grades"], none["total_credits"]) == (0, 0, 0)
    assert none[["avg_grade", "max_grade", "latest_grade", "grade_trend", "credit_weighted_avg"]].isna().all()
    known = ours[ours["student_id"] == records[4]["student_id"]].iloc[0]
    assert (known["latest_grade"], known["grade_trend"], known["absences"], known["school"]) == (70, 15, 4, "GP")


def test_a_batch_aggregated_by_an_earlier_version_is_aggregated_again_before_it_trains(db, reference_record):
    from infra.collections import BATCHES
    from tasks.data.store import refeaturize_stale

    ingest([reference_record], "old", labeled=False)
    aggregate_features.fn("old")
    # as a store from before left it: no trend features, no version stamp
    db[STUDENTS_FEATURES].update_many({}, {"$unset": {"latest_grade": "", "grade_trend": ""}})
    db[BATCHES].update_one({"batch_id": "old"}, {"$unset": {"features_version": ""}})
    assert refeaturize_stale(db, ["old", "unknown"]) == ["old"]
    doc = db[STUDENTS_FEATURES].find_one({"batch_id": "old"})
    assert (doc["latest_grade"], doc["grade_trend"]) == (67.0, -2.0)
    assert refeaturize_stale(db, ["old"]) == [] and db[STUDENTS_FEATURES].count_documents({}) == 1
