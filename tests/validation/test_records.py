"""Record-level checks: every kind of bad record gets its machine-readable reason."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import REFERENCE_RECORD
from validation.records import UnparseableLine, check_record, split_records


def bad(**changes) -> dict:
    record = copy.deepcopy(REFERENCE_RECORD)
    for path, value in changes.items():
        target, *keys = path.split("__")
        if value is ...:
            record.pop(target)
            continue
        node = record
        for key in [target, *keys][:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last = [target, *keys][-1]
        node[int(last) if isinstance(node, list) else last] = value
    return record


def test_the_reference_record_is_valid():
    assert check_record(REFERENCE_RECORD, labeled=False) == []


@pytest.mark.parametrize(("record", "field", "rule"), [
    (bad(student_id=...), "student_id", "required"),
    (bad(student_id="3"), "student_id", "type"),
    (bad(age=-27), "age", "range"),
    (bad(age=True), "age", "type"),
    (bad(enrollment_year=1850), "enrollment_year", "range"),
    (bad(major=None), "major", "required"),
    (bad(major=7), "major", "type"),
    (bad(fullTime="no"), "fullTime", "type"),
    (bad(courses=[]), "courses", "min_length"),
    (bad(courses=...), "courses", "required"),
    (bad(courses="Statistics"), "courses", "type"),
    (bad(courses__0__grades__1="57"), "courses[0].grades[1]", "type"),
    (bad(courses__1__grades__0=140), "courses[1].grades[0]", "range"),
    (bad(courses__0__credits=0), "courses[0].credits", "range"),
    (bad(courses__0__grades=[]), "courses[0].grades", "min_length"),
    (bad(courses__0__course=""), "courses[0].course", "required"),
    (bad(study={"hours_per_week": 500}), "study.hours_per_week", "range"),
    (bad(study="lots"), "study", "type"),
    ([3, "not an object"], "$", "type"),
    ("just a string", "$", "type"),
    (UnparseableLine('{"student_id": 3,', "line 4: Expecting value"), "$", "parse"),
])
def test_bad_records_get_their_reason(record, field, rule):
    reasons = check_record(record, labeled=False)
    assert {"field": field, "rule": rule} in [{"field": r["field"], "rule": r["rule"]} for r in reasons]


def test_a_reason_carries_the_offending_value():
    [reason] = check_record(bad(age=-27), labeled=False)
    assert reason == {"field": "age", "rule": "range", "value": -27, "expected": "15..100"}


def test_labeled_batches_need_their_labels():
    fields = {(r["field"], r["rule"]) for r in check_record(REFERENCE_RECORD, labeled=True)}
    assert fields == {("final_score", "required"), ("high_performer", "required")}
    ok = {**copy.deepcopy(REFERENCE_RECORD), "final_score": 71.5, "high_performer": True}
    assert check_record(ok, labeled=True) == []
    assert check_record({**ok, "final_score": 101}, labeled=True)[0]["rule"] == "range"


def test_unknown_major_is_not_a_rejection():
    assert check_record(bad(major="Astrology"), labeled=False) == []


def test_split_keeps_the_first_of_a_duplicated_id_and_accounts_for_every_record():
    records = [REFERENCE_RECORD, bad(age=30), bad(student_id=...), 42, bad(student_id=4)]
    accepted, rejected = split_records(records, labeled=False)
    assert [pos for pos, _ in accepted] == [0, 4]
    assert [(r["position"], r["reasons"][0]["rule"]) for r in rejected] == [(1, "unique"), (2, "required"), (3, "type")]
    assert rejected[0]["reasons"][0]["expected"] == "first seen at position 0"
    assert rejected[2]["record"] == {"value": 42}
    assert len(accepted) + len(rejected) == len(records)
