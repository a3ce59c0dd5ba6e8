"""Retention per kind on known documents (exact counts, the batch's counts and expiry recorded, lineage told), and
erasure inside shared documents (a truth bucket's aligned arrays, a split's lists, a batch's example ids)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.collections import (
    AUDIT,
    BATCHES,
    ERASURES,
    FEEDBACK,
    SPLITS,
    STUDENTS_FEATURES,
    STUDENTS_RAW,
    STUDENTS_TRUTH,
)
from infra.errors import UserError
from tasks.privacy import audit, retention, subject

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_each_kind_goes_after_its_own_retention_and_the_batch_says_so(db):
    old, new = NOW - timedelta(days=1200), NOW - timedelta(days=10)
    db[BATCHES].insert_many([{"batch_id": "old", "created_at": old, "accepted": 3, "features_new": 3},
                             {"batch_id": "new", "created_at": new, "accepted": 2, "features_new": 2}])
    for batch, at, n in (("old", old, 3), ("new", new, 2)):
        db[STUDENTS_RAW].insert_many([{"student_id": i, "batch_id": batch, "_ingest": {"at": at}} for i in range(n)])
        db[STUDENTS_FEATURES].insert_many([{"student_id": i, "batch_id": batch} for i in range(n)])
    db[FEEDBACK].insert_many([{"student_id": 1, "received_at": old}, {"student_id": 2, "received_at": new}])
    db[AUDIT].insert_many([{"at": NOW - timedelta(days=400)}, {"at": NOW - timedelta(days=300)}])
    days = retention.days_for({"audit": 365})
    removed = retention.apply(db, days, NOW)
    assert removed == {"raw": 3, "rejected": 0, "features": 3, "feedback": 1, "training_splits": 0, "audit": 1,
                       "reports": 0}
    assert db[STUDENTS_RAW].distinct("batch_id") == ["new"] and db[STUDENTS_FEATURES].count_documents({}) == 2
    batch = db[BATCHES].find_one({"batch_id": "old"})
    assert (batch["accepted"], batch["features_new"]) == (0, 0)
    assert set(batch["expired"]) == {"raw", "rejected", "features"}
    assert [e["batch_id"] for e in retention.expired_lineage(db, ["old", "new"])] == ["old"]
    assert retention.apply(db, days, NOW) == dict.fromkeys(removed, 0)  # a second sweep finds nothing
    assert retention.apply(db, retention.days_for({k: 0 for k in retention.DEFAULT_DAYS}), NOW + timedelta(
        days=9000)) == {}  # 0 keeps every kind for ever
    with pytest.raises(UserError, match=r"unknown kinds \['rejectd'\]"):
        retention.days_for({"rejectd": 3})


def test_erasure_takes_a_student_out_of_shared_documents_and_keeps_only_a_digest(db):
    db[BATCHES].insert_one({"batch_id": "b", "truth_rows": 3, "accepted": 3, "features_new": 3,
                            "sanity": [{"check": "likely_dropouts", "numbers": {"students": 2, "first": [7, 9]}},
                                       {"check": "no_grades", "numbers": {"students": 1}}]})
    db[STUDENTS_TRUTH].insert_one({"batch_id": "b", "bucket": 0, "rows": 3, "student_id": [5, 7, 9],
                                   "p_high_performer": [0.1, 0.7, 0.9], "expected_score": [50.0, 70.0, 90.0]})
    db[SPLITS].insert_one({"split_id": "s", "ids": {"train": [5, 7], "val": [9], "test": []}})
    db[STUDENTS_RAW].insert_many([{"student_id": i, "batch_id": "b"} for i in (5, 7, 9)])
    audit.record(db, "key:k (dpo)", "student page", 7, "GET /dashboard/students")
    found = subject.find(db, 7)
    assert found.summary() == {"raw records": 1, "audit log": 1, "generator's truth": 1, "training splits": 1,
                               "batch checks": 1, "files": 0}
    record = subject.erase(db, 7, by="test")
    truth = db[STUDENTS_TRUTH].find_one()
    assert (truth["student_id"], truth["p_high_performer"], truth["expected_score"], truth["rows"]) == (
        [5, 9], [0.1, 0.9], [50.0, 90.0], 2)
    assert db[SPLITS].find_one()["ids"] == {"train": [5], "val": [9], "test": []}
    batch = db[BATCHES].find_one()
    assert batch["sanity"][0]["numbers"]["first"] == [9] and (batch["truth_rows"], batch["accepted"]) == (2, 2)
    assert db[AUDIT].find_one({}, {"_id": 0, "student_id": 1}) == {"student_id": "erased"}
    assert subject.find(db, 7).count == 0 and subject.find(db, 5).count == 3  # the others untouched
    stored = db[ERASURES].find_one({}, {"_id": 0})
    assert stored["digest"] == subject.digest(7) and 7 not in str(stored).split() and record["found"] == found.summary()
    audit.record(db, "key:k (dpo)", "find", 7, "GET /privacy/students")  # asking after them writes no id back
    assert db[AUDIT].count_documents({"student_id": 7}) == 0
