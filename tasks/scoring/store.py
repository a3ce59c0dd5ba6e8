"""The scoring stage's reads and writes in MongoDB: a batch's features in, its predictions logged (once per
student, batch, model and version, so re-scoring adds nothing: ``infra/prediction_log.py``), and the log kept
bounded.

A prediction log that stays bounded: raw predictions are rolled up into counts per day, model version, source
(a scored batch, or the service), A/B test and arm, proven equal to the raw counts, and only then given a clock
(``rolled_up_at``) that a TTL index reads: the raw predictions go ``retention_days`` after their roll-up (a raw
prediction never rolled up never expires). The log keeps predictions in buckets: a pass claims, stamps and expires
whole buckets, and counts the predictions in them.

Each roll-up is a *pass*: the pass first claims the unclaimed predictions of closed days (``rollup_pass``), then
writes one rollup document per group and pass (an upsert keyed by both, so doing a pass again writes the same
counts), checks that its groups add up to the predictions it claimed, group by group, and only then stamps them.
A pass that died part way is finished by the next run; nothing is counted twice and nothing is lost. Late
predictions of a day already rolled up are claimed by a later pass and added to that day's totals.

Live performance and A/B tests join predictions with labels that arrive later, so they read the raw documents:
the retention must outlast the wait for labels (a term: the default is 180 days)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError, OperationFailure

from infra import prediction_log
from infra.collections import (
    PREDICTION_ROLLUPS,
    PREDICTIONS,
    ROLLUP_PASSES,
    STUDENTS_FEATURES,
    ensure_indexes,
)
from infra.storage import Db
from infra.writes import WriteCounts
from tasks.scoring.results import RollupResult


def batch_features(db: Db, batch_id: str) -> list[dict]:
    """The feature documents computed from ``batch_id``."""
    return list(db[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0}))


def log_predictions(db: Db, documents: list[dict]) -> WriteCounts:
    """Log the predictions not logged yet (in buckets of ``prediction_log.PART`` students)."""
    return prediction_log.log_scored(db, documents)


TTL_INDEX = "rolled_up_expiry"
GROUP = {"day": {"$dateToString": {"format": "%Y-%m-%d", "date": "$scored_at"}}, "model": "$model",
         "version": "$version", "arm": {"$ifNull": ["$arm", None]}, "ab_test": {"$ifNull": ["$ab_test", None]},
         "shadow": {"$eq": ["$shadow", True]},
         "source": {"$cond": [{"$eq": [{"$substrCP": ["$batch_id", 0, 4]}, "api:"]}, "service", "$batch_id"]}}


class RollupMismatchError(RuntimeError):
    """A pass's rollups do not add up to the predictions it claimed: nothing is stamped, nothing expires."""


def ensure_retention(db: Db, retention_days: int) -> None:
    """The TTL index on ``rolled_up_at`` with ``retention_days`` (0: raw predictions are kept for ever), changed
    in place when the setting changed."""
    existing = db[PREDICTIONS].index_information().get(TTL_INDEX)
    seconds = retention_days * 86_400
    if retention_days <= 0:
        if existing:
            db[PREDICTIONS].drop_index(TTL_INDEX)
        return
    if existing and existing.get("expireAfterSeconds") == seconds:
        return
    if existing:
        try:
            db.command("collMod", PREDICTIONS, index={"name": TTL_INDEX, "expireAfterSeconds": seconds})
            return
        except OperationFailure:  # a server without collMod on indexes: build it again
            db[PREDICTIONS].drop_index(TTL_INDEX)
    db[PREDICTIONS].create_indexes([IndexModel([("rolled_up_at", ASCENDING)], expireAfterSeconds=seconds,
                                               name=TTL_INDEX)])


def roll_up(db: Db, retention_days: int, now: datetime | None = None,
            grace: timedelta = timedelta(hours=1)) -> RollupResult:
    """Roll up every prediction logged before the open day began (the day that began at least ``grace`` ago),
    finishing any pass an earlier run left unfinished; then make sure the TTL index says ``retention_days``.

    A pass claims the ``_id`` range from where the last pass ended to the open day's start (an ObjectId carries the
    moment it was made, so the range is a read of the ``_id`` index: the log needs no other index for its
    roll-up, and each index costs the local server ~25 ms per 500 predictions logged). Two runs at once cannot
    claim the same range: the second meets the first's pass and leaves it alone."""
    prediction_log.ready(db)
    ensure_indexes(db, [PREDICTION_ROLLUPS, ROLLUP_PASSES])
    now = now or datetime.now(UTC)
    upto = ObjectId.from_datetime(datetime.combine((now - grace).date(), datetime.min.time(), UTC))
    passes = list(db[ROLLUP_PASSES].find({"state": "claimed"}).sort("upto", 1))
    last = db[ROLLUP_PASSES].find_one({}, sort=[("upto", -1)])
    start = last["upto"] if last else ObjectId("0" * 24)
    if start < upto and db[PREDICTIONS].find_one({"_id": {"$gte": start, "$lt": upto}}, {"_id": 1}):
        claim = {"pass": f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", "from": start, "upto": upto,
                 "state": "claimed", "at": now}
        try:
            db[ROLLUP_PASSES].insert_one(claim)
            passes.append(claim)
        except DuplicateKeyError:  # another run claimed this range a moment ago
            pass
    finished = [_finish_pass(db, claim, now) for claim in passes]
    ensure_retention(db, retention_days)
    return RollupResult([claim["pass"] for claim in passes], sum(claimed for claimed, _ in finished),
                        sum(groups for _, groups in finished), retention_days)


def _in_pass(claim: dict) -> dict:
    return {"_id": {"$gte": claim["from"], "$lt": claim["upto"]}, "rollup_pass": claim["pass"]}


def _rollup_rows(db: Db, claim: dict) -> list[dict]:
    """The pass's predictions counted per group (classes: how many were the positive class; probabilities and
    numeric predictions: their sums, for means)."""
    return list(db[PREDICTIONS].aggregate([
        *prediction_log.flat(_in_pass(claim)),
        {"$group": {"_id": GROUP, "predictions": {"$sum": 1},
                    "positive": {"$sum": {"$cond": [{"$eq": ["$prediction", 1]}, 1, 0]}},
                    "probability_sum": {"$sum": {"$ifNull": ["$probability", 0]}},
                    "prediction_sum": {"$sum": {"$cond": [{"$isNumber": "$prediction"}, "$prediction", 0]}},
                    "first": {"$min": "$scored_at"}, "last": {"$max": "$scored_at"}}}]))


def _finish_pass(db: Db, claim: dict, now: datetime) -> tuple[int, int]:
    pass_id = claim["pass"]
    db[PREDICTIONS].update_many({"_id": {"$gte": claim["from"], "$lt": claim["upto"]},
                                 "rollup_pass": {"$exists": False}}, {"$set": {"rollup_pass": pass_id}})
    for row in _rollup_rows(db, claim):
        key = row.pop("_id")
        db[PREDICTION_ROLLUPS].replace_one({"pass": pass_id, **{f"key.{k}": v for k, v in key.items()}},
                                           {"pass": pass_id, "key": key, **row, "at": now}, upsert=True)
    claimed = prediction_log.count(db, _in_pass(claim))
    written = {_group_id(doc["key"]): doc["predictions"] for doc in db[PREDICTION_ROLLUPS].find({"pass": pass_id})}
    counted = {_group_id(row["_id"]): row["n"] for row in db[PREDICTIONS].aggregate([
        *prediction_log.flat(_in_pass(claim)), {"$group": {"_id": GROUP, "n": {"$sum": 1}}}])}
    if written != counted or sum(written.values()) != claimed:
        raise RollupMismatchError(f"roll-up pass {pass_id}: its rollups count {sum(written.values())} predictions "
                                  f"in {len(written)} groups, the log {claimed} in {len(counted)}: nothing expires")
    db[PREDICTIONS].update_many({**_in_pass(claim), "rolled_up_at": {"$exists": False}},
                                {"$set": {"rolled_up_at": now}})
    db[ROLLUP_PASSES].update_one({"pass": pass_id}, {"$set": {"state": "done", "done_at": now,
                                                              "predictions": claimed}})
    return claimed, len(written)


def _group_id(key: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in key.items()))


def log_totals(db: Db, since_day: str | None = None, raw: bool = True) -> list[dict]:
    """Predictions per day, model, version, source and arm: the rollups of finished passes plus the raw predictions
    not stamped yet (so the totals are whole whatever has expired, and a pass counts once even half done), newest
    day first. ``raw=False``: the closed days' rollups only (an indexed read, for pages)."""
    unfinished = list(db[ROLLUP_PASSES].find({"state": "claimed"}, {"pass": 1, "from": 1}))
    last = db[ROLLUP_PASSES].find_one({"state": "done"}, {"upto": 1}, sort=[("upto", -1)])
    low = min([claim["from"] for claim in unfinished] + ([last["upto"]] if last else [ObjectId("0" * 24)]))
    match = {"pass": {"$nin": [claim["pass"] for claim in unfinished]},
             **({"key.day": {"$gte": since_day}} if since_day else {})}
    totals: dict[tuple, dict] = {}
    rolled = db[PREDICTION_ROLLUPS].aggregate([{"$match": match}, {"$group": {
        "_id": "$key", "predictions": {"$sum": "$predictions"}, "positive": {"$sum": "$positive"}}}])
    pending = db[PREDICTIONS].aggregate([*prediction_log.flat({"_id": {"$gte": low},
                                                               "rolled_up_at": {"$exists": False}}),
                                         {"$group": {
        "_id": GROUP, "predictions": {"$sum": 1},
        "positive": {"$sum": {"$cond": [{"$eq": ["$prediction", 1]}, 1, 0]}}}}]) if raw else []
    for row in [*rolled, *pending]:
        key = row["_id"]
        if since_day and key["day"] < since_day:
            continue
        entry = totals.setdefault(_group_id(key), {**key, "predictions": 0, "positive": 0})
        entry["predictions"] += row["predictions"]
        entry["positive"] += row["positive"]
    return sorted(totals.values(), key=lambda e: (e["day"], e["model"], e["version"], str(e["arm"])), reverse=True)
