"""The prediction log's retention: rollups equal to the raw counts before anything may expire, a pass that died
finished by the next run without counting twice, late predictions added, and the TTL index the setting says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from infra.collections import PREDICTION_ROLLUPS, PREDICTIONS, ROLLUP_PASSES
from infra.prediction_log import log_scored
from tasks.scoring.store import TTL_INDEX, RollupMismatchError, log_totals, roll_up
from tests.builders import logged

DAY1 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def logged_at(at: datetime) -> ObjectId:
    """The _id pymongo would have made at ``at`` (an ObjectId carries the moment it was made)."""
    return ObjectId(f"{int(at.timestamp()):08x}{uuid.uuid4().hex[:16]}")


def predictions(at: datetime, n: int, start: int, batch: str = "b1", version: int = 1, arm: str | None = None,
                positive_every: int = 2, logged: datetime | None = None, **extra) -> list[dict]:
    return [{"_id": logged_at(logged or at + timedelta(seconds=i)), "student_id": start + i, "batch_id": batch,
             "model": "high_performer", "version": version, "prediction": int(i % positive_every == 0),
             "probability": 0.5, "arm": arm, "scored_at": at + timedelta(seconds=i), **extra} for i in range(n)]


def totals(db) -> dict[tuple, tuple[int, int]]:
    return {(t["day"], t["version"], t["source"], t["arm"], t["shadow"]): (t["predictions"], t["positive"])
            for t in log_totals(db)}


def test_rollups_equal_the_raw_counts_and_only_then_the_raw_predictions_get_their_expiry_clock(db):
    log_scored(db,
        predictions(DAY1, 30, 0) + predictions(DAY1, 20, 100, batch="api:r1", arm="A", ab_test="t1")
        + predictions(DAY1, 10, 200, batch="api:r2", version=2, arm="B", ab_test="t1", shadow=True)
        + predictions(DAY2, 7, 300, positive_every=7) + predictions(NOW - timedelta(minutes=5), 4, 400))  # today
    before = totals(db)
    result = roll_up(db, retention_days=30, now=NOW)
    assert result.rolled_up == 67 and result.groups == 4 and len(result.passes) == 1
    assert len(logged(db, {"rolled_up_at": NOW})) == 67  # today's 4 wait for their day to close
    assert len(logged(db, {"rolled_up_at": {"$exists": False}})) == 4
    assert totals(db) == before == {
        ("2026-11-30", 1, "b1", None, False): (30, 15), ("2026-11-30", 1, "service", "A", False): (20, 10),
        ("2026-11-30", 2, "service", "B", True): (10, 5), ("2026-12-01", 1, "b1", None, False): (7, 1),
        ("2026-12-02", 1, "b1", None, False): (4, 2)}
    closed = [(t["day"], t["source"], t["arm"], t["predictions"]) for t in log_totals(db, raw=False)]  # pages
    assert closed == [("2026-12-01", "b1", None, 7), ("2026-11-30", "service", "B", 10),  # newest day, version
                      ("2026-11-30", "b1", None, 30), ("2026-11-30", "service", "A", 20)]
    [ttl] = [i for name, i in db[PREDICTIONS].index_information().items() if name == TTL_INDEX]
    assert ttl["expireAfterSeconds"] == 30 * 86_400 and ttl["key"] == [("rolled_up_at", 1)]

    # the TTL monitor deletes the stamped predictions: the totals stand on the rollups alone
    db[PREDICTIONS].delete_many({"rolled_up_at": {"$exists": True}})
    assert totals(db) == before
    # a late prediction of a day already rolled up (logged now), and the next day closing: added once, not twice
    log_scored(db, predictions(DAY2, 1, 500, positive_every=1, logged=NOW + timedelta(hours=1)))
    again = roll_up(db, retention_days=30, now=NOW + timedelta(days=1))
    assert again.rolled_up == 5 and len(logged(db, {"rolled_up_at": {"$exists": False}})) == 0
    assert totals(db)[("2026-12-01", 1, "b1", None, False)] == (8, 2)
    assert totals(db)[("2026-12-02", 1, "b1", None, False)] == (4, 2)
    assert roll_up(db, retention_days=30, now=NOW + timedelta(days=1)).rolled_up == 0  # nothing left to do

    roll_up(db, retention_days=90, now=NOW + timedelta(days=1))  # the setting changed: the index follows
    assert db[PREDICTIONS].index_information()[TTL_INDEX]["expireAfterSeconds"] == 90 * 86_400
    roll_up(db, retention_days=0, now=NOW + timedelta(days=1))  # 0: raw predictions kept for ever
    assert TTL_INDEX not in db[PREDICTIONS].index_information()


def test_a_pass_that_died_part_way_is_finished_by_the_next_run_and_counted_once(db):
    log_scored(db, predictions(DAY1, 12, 0) + predictions(DAY2, 6, 50))
    # a pass claimed its predictions and wrote one group, then the process died before stamping
    db[ROLLUP_PASSES].insert_one({"pass": "dead", "from": ObjectId("0" * 24), "upto": logged_at(NOW - timedelta(
        hours=12)), "state": "claimed"})
    db[PREDICTIONS].update_many({}, {"$set": {"rollup_pass": "dead"}})
    db[PREDICTION_ROLLUPS].insert_one({"pass": "dead", "key": {"day": "2026-11-30", "model": "high_performer",
                                       "version": 1, "arm": None, "ab_test": None, "shadow": False, "source": "b1"},
                                       "predictions": 12, "positive": 6})
    assert sum(t["predictions"] for t in log_totals(db)) == 18  # the half-done pass counts once (as raw)
    result = roll_up(db, retention_days=30, now=NOW)
    assert result.passes == ["dead"] and result.rolled_up == 18
    assert db[PREDICTION_ROLLUPS].count_documents({"pass": "dead"}) == 2  # the written group replaced, not added
    assert sum(t["predictions"] for t in log_totals(db)) == 18
    assert db[ROLLUP_PASSES].find_one({"pass": "dead"})["state"] == "done"


def test_rollups_that_do_not_add_up_stamp_nothing(db, monkeypatch):
    import tasks.scoring.store as rollups

    log_scored(db, predictions(DAY1, 5, 0) + predictions(DAY1, 3, 10, batch="b2"))
    counted = rollups._rollup_rows
    monkeypatch.setattr(rollups, "_rollup_rows", lambda db, claim: counted(db, claim)[:1])  # a group lost
    with pytest.raises(RollupMismatchError, match="nothing expires"):
        roll_up(db, retention_days=30, now=NOW)
    assert len(logged(db, {"rolled_up_at": {"$exists": True}})) == 0
