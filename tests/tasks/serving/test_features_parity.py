"""The service's in-process request features against the store's own aggregation over ``$documents``, on every
kind of record a client may send that the record rules accept: generated students (with drift), edge cases
(no courses, courses without grades, one grade, extreme grades, missing optional fields, declared extras) and
hostile values (expression-like and markup strings, unicode). Equal for every student and feature."""

from __future__ import annotations

import random

import pytest

from tasks.data.synthetic import DriftKnobs, generate_batch
from tasks.serving.features import feature_differences, in_process_features
from tasks.serving.store import request_features
from tests.conftest import REFERENCE_RECORD
from validation.contracts import DEFAULT_CONTRACT, ExtraFeature, FeatureContract
from validation.records import split_records

SCHOOL = FeatureContract((ExtraFeature("absences", "number", 0, 93), ExtraFeature("internet", "bool"),
                          ExtraFeature("school", "category", values=("GP", "MS", "$$NOW"))))
HOSTILE = ["$$NOW", "$$ROOT", "$literal", "<script>alert(1)</script>", "Ünïcødé 数学", "", " ", "a" * 300,
           "{'$gt': 1}", "Robert'); DROP TABLE students;--"]


def unlabeled(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("final_score", "high_performer")} for r in records]


def edge_cases() -> list[dict]:
    base = {k: v for k, v in REFERENCE_RECORD.items() if k != "generated_at"}
    cases = [
        {**base, "courses": []},
        {k: v for k, v in base.items() if k != "courses"},
        {**base, "courses": [{"course": "Statistics", "credits": 3, "grades": []}]},
        {**base, "courses": [{"course": "Statistics", "credits": 3}]},
        {**base, "courses": [{"course": "A", "credits": 3, "grades": [0]}, {"course": "B", "credits": 1,
                                                                          "grades": [100, 100, 100, 0]}]},
        {**base, "courses": [{"course": "A", "credits": 4, "grades": [33.3, 66.7, 99.9]},
                             {"course": "B", "credits": 2, "grades": []}, {"course": "C", "credits": 5,
                                                                            "grades": [50]}]},
        {**base, "study": {"hours_per_week": 0.0}, "demographics": {}},
        {**base, "study": {"hours_per_week": 80.0, "attendance_rate": 1.0, "tutoring": True},
         "demographics": {"first_generation": True, "part_time_job": False}},
        {**base, "age": 15, "enrollment_year": 2000},
    ]
    cases += [{**base, "major": text} for text in HOSTILE]
    cases += [{**base, "courses": [{"course": text, "credits": 2, "grades": [71, 72]}]} for text in HOSTILE]
    return [{**case, "student_id": 1000 + i} for i, case in enumerate(cases)]


def check(db, records: list[dict], contract: FeatureContract = DEFAULT_CONTRACT) -> int:
    accepted, _ = split_records(records, labeled=False, contract=contract)
    assert accepted, "the record rules accepted none: nothing was compared"
    valid = [record for _, record in accepted]
    expected = request_features(db, valid, "parity", contract)
    got = in_process_features(valid, "parity", contract)
    assert list(got.columns) == list(expected.columns)
    assert feature_differences(expected, got) == []
    return len(valid)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_students_with_drift_have_the_same_features_both_ways(db, seed):
    knobs = DriftKnobs(grade_inflation=6 * (seed - 1), missing_rate=0.1 * seed)
    assert check(db, unlabeled(generate_batch(400, seed, labeled=False, knobs=knobs).records)) == 400


def test_edge_cases_and_hostile_values_have_the_same_features_both_ways(db):
    assert check(db, edge_cases()) >= 20


def test_declared_extras_have_the_same_features_both_ways(db):
    rng = random.Random(7)
    records = []
    for i, record in enumerate(unlabeled(generate_batch(300, 9).records)):
        extra = {"absences": rng.choice([0, 1.5, 93, None]), "internet": rng.choice([True, False, None]),
                 "school": rng.choice(["GP", "MS", "$$NOW", None])}
        records.append({**record, "extra": {k: v for k, v in extra.items() if v is not None or i % 2}})
    assert check(db, records, SCHOOL) == 300


def test_a_difference_is_found_and_named():
    import pandas as pd

    frame = in_process_features(edge_cases()[:3], "r")
    changed = frame.copy()
    changed.loc[1, "avg_grade"] = (changed.loc[1, "avg_grade"] if pd.notna(changed.loc[1, "avg_grade"]) else 0) + 1e-6
    [difference] = feature_differences(frame, changed)
    assert difference["student_id"] == 1001 and difference["feature"] == "avg_grade"
    assert feature_differences(frame, frame.assign(major="x"))[0]["feature"] == "major"
