"""The prediction log's buckets: every prediction logged once (retries, re-scores and racing writers add nothing),
read back as the documents that were logged, found, erased and re-keyed by student, and an old log (a document per
prediction) moved into buckets without losing or doubling a prediction, even when the move is interrupted."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from infra import prediction_log
from infra.collections import LEGACY_PREDICTIONS, PREDICTIONS
from tasks.scoring.store import log_totals, roll_up

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def scored(n: int, first: int = 1000, batch: str = "b1", version: int = 1) -> list[dict]:
    return [{"student_id": first + i, "batch_id": batch, "model": "high_performer", "version": version,
             "prediction": i % 2, "probability": round(0.3 + (i % 7) / 10, 2), "arm": None, "scored_at": AT}
            for i in range(n)]


def served(n: int, first: int = 5000, **extra) -> list[dict]:
    return [{"student_id": first + i, "batch_id": f"api:r{i}", "model": "high_performer", "version": 2,
             "prediction": 1, "probability": 0.9, "arm": "A", "scored_at": AT, "source": "api", "request_id": f"r{i}",
             "asked_by": "key:k1 ($$NOW <script>x</script>)",  # whatever a key was named: data, never an expression
             **({"counts": False, "not_counted": "no key"} if i % 2 else {"counts": True, "record_batch": "b1"}),
             **extra} for i in range(n)]


def as_logged(documents: list[dict]) -> list[dict]:
    """The documents without ids, their times as the store gives them back (UTC, naive), in one order."""
    return sorted(({k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in doc.items() if k != "_id"}
                   for doc in documents),
                  key=lambda doc: (doc["batch_id"], doc["student_id"], doc["version"]))


def test_a_scored_batch_is_logged_once_in_parts_and_reads_back_as_the_documents_logged(db):
    documents = scored(1200)
    first = prediction_log.log_scored(db, documents)
    assert (first.inserted, first.unchanged) == (1200, 0)
    assert [(b["part"], b["n"]) for b in db[PREDICTIONS].find({}, {"part": 1, "n": 1}).sort("part", 1)] == \
        [(1000, 500), (1500, 500), (2000, 200)]
    assert as_logged(prediction_log.predictions(db, {"batch_id": "b1"})) == as_logged(documents)

    again = prediction_log.log_scored(db, documents)  # a re-score with the same version
    assert (again.inserted, again.unchanged) == (0, 1200) and db[PREDICTIONS].count_documents({}) == 3
    db[PREDICTIONS].delete_one({"part": 1500})  # a retry after a crash that logged two parts of three
    retried = prediction_log.log_scored(db, documents + scored(50, first=9000))  # and 50 students more
    assert (retried.inserted, retried.unchanged) == (550, 700)
    assert prediction_log.count(db) == 1250 and len(prediction_log.predictions(db, {"batch_id": "b1"})) == 1250
    other = prediction_log.log_scored(db, scored(10, version=2))  # another version: its own predictions
    assert other.inserted == 10 and prediction_log.count(db, {"version": 2}) == 10


def test_two_writers_racing_on_one_batch_log_each_prediction_once(db):
    documents, results = scored(2000), []
    prediction_log.ready(db)
    threads = [threading.Thread(target=lambda: results.append(prediction_log.log_scored(db, documents)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.inserted for r in results) == 2000 and sum(r.unchanged for r in results) == 4000
    assert prediction_log.count(db) == 2000
    assert len({doc["student_id"] for doc in prediction_log.predictions(db, {})}) == 2000


def test_a_turn_of_the_service_is_one_bucket_per_version_and_arm_and_keeps_who_asked(db):
    turn = served(6) + served(4, first=6000, version=3, arm="B", ab_test="t1", shadow=True)
    prediction_log.log_served(db, turn)
    assert db[PREDICTIONS].count_documents({}) == 2
    assert as_logged(prediction_log.predictions(db, {})) == as_logged(turn)
    counted = prediction_log.predictions(db, {"model": "high_performer"}, {"counts": True},
                                         ("student_id", "record_batch"))
    assert counted == [{"student_id": s, "record_batch": "b1"} for s in (5000, 5002, 5004, 6000, 6002)]
    prediction_log.log_served(db, served(2))  # the same students asked again: a new answer, logged again
    assert prediction_log.count(db) == 12
    assert prediction_log.logged_students(db, [5000, 5001, 6003, 7777]) == {5000, 5001, 6003}


def test_a_students_predictions_are_found_erased_and_rekeyed_in_every_bucket(db):
    prediction_log.log_scored(db, scored(3, first=1000))
    prediction_log.log_scored(db, scored(1, first=1001, batch="b2"))
    prediction_log.log_served(db, served(1, first=1001))
    mine = prediction_log.predictions_of(db, [1001], newest_first=50)
    assert sorted(doc["batch_id"] for doc in mine) == ["api:r0", "b1", "b2"]
    assert {doc["student_id"] for doc in mine} == {1001}

    assert prediction_log.remap(db, {1001: 77, 1000: 78}) == 3
    assert prediction_log.predictions_of(db, [1001]) == [] and len(prediction_log.predictions_of(db, [77])) == 3
    assert prediction_log.erase_student(db, 77) == 3
    assert prediction_log.predictions_of(db, [77]) == []
    assert db[PREDICTIONS].count_documents({}) == 1  # b2's and the service's buckets held only the student
    [left] = db[PREDICTIONS].find()
    assert left["students"] == [78, 1002] and left["n"] == 2 and [e["s"] for e in left["p"]] == [78, 1002]


def legacy(at: datetime, n: int, first: int, batch: str = "b1", **extra) -> list[dict]:
    return [{**doc, "_id": ObjectId(f"{int((at + timedelta(minutes=i)).timestamp()):08x}{uuid.uuid4().hex[:16]}"),
             **extra} for i, doc in enumerate(scored(n, first=first, batch=batch))]


def test_an_old_log_moves_into_buckets_once_even_when_the_move_is_interrupted(db, monkeypatch):
    day1, day2 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC), datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    old = (legacy(day1, 30, 0) + legacy(day2, 20, 100) + [{**doc, "_id": ObjectId()} for doc in served(7)]
           + legacy(day1, 5, 200, batch="b0", rollup_pass="p0", rolled_up_at=day2))  # rolled up before the move
    db[LEGACY_PREDICTIONS].insert_many(old)
    monkeypatch.setattr(prediction_log, "MIGRATION_PAGE", 16)
    assert prediction_log.migrate(db) == 62 and LEGACY_PREDICTIONS not in db.list_collection_names()
    assert as_logged(prediction_log.predictions(db, {})) == as_logged(old)
    # each bucket keeps the moment its first prediction was logged (roll-up passes claim ranges of _id)
    assert {b["_id"].generation_time.date() for b in db[PREDICTIONS].find({"batch_id": {"$in": ["b0", "b1"]}})} \
        == {day1.date(), day2.date()}
    assert prediction_log.count(db, {"rollup_pass": "p0", "rolled_up_at": day2}) == 5

    # interrupted after its buckets were written, before the old documents went: the move again adds nothing
    db[LEGACY_PREDICTIONS].insert_many(old[:40])
    assert prediction_log.migrate(db) == 0 and prediction_log.count(db) == 62
    # the roll-up finds the moved log whole: the closed days' 50 rolled up, today's served 7 raw, p0's 5 counted
    # by their own pass's rollups (which this store never had)
    assert roll_up(db, retention_days=30, now=datetime(2026, 12, 3, 12, 0, tzinfo=UTC)).rolled_up == 50
    assert sum(t["predictions"] for t in log_totals(db)) == 57


def test_the_first_use_in_a_process_moves_an_old_log(db):
    db[LEGACY_PREDICTIONS].insert_many([{**doc, "_id": ObjectId()} for doc in scored(3)])
    prediction_log._ready.discard((id(db.client), db.name))
    assert len(prediction_log.predictions(db, {"batch_id": "b1"})) == 3
    assert LEGACY_PREDICTIONS not in db.list_collection_names()
