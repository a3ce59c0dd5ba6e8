"""The data stage's reads and writes in MongoDB: the batch documents (which double as the ledger of what each
batch stored) and reading a batch back. Plain functions on a database; the stage's tasks call them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import chain

from infra.collections import (
    BATCHES,
    FEEDBACK,
    LEDGER,
    STUDENTS_FEATURES,
    STUDENTS_RAW,
    STUDENTS_REJECTED,
    STUDENTS_TRUTH,
    ensure_indexes,
    find_in,
    next_sequence,
)
from infra.storage import Db
from infra.writes import WriteCounts, insert_new, merge_pipeline_output
from tasks.data.features import FEATURES_VERSION, feature_pipeline
from tasks.data.ingest import BatchInput, LabelRuleConflictError
from validation.contracts import FeatureContract, LabelRule

RAW_META = {"_id", "batch_id", "_ingest"}
# what each batch document records about the work done for it (written when that stage completes)
SUMMARY_COLLECTIONS = [BATCHES, STUDENTS_RAW, STUDENTS_REJECTED, STUDENTS_FEATURES, STUDENTS_TRUTH]


def register_batch(db: Db, batch: BatchInput, now: datetime) -> dict:
    """Get the batch document, creating it with the next sequence number on first sight."""
    existing = db[BATCHES].find_one({"batch_id": batch.batch_id})
    if existing:
        stored = LabelRule.from_dict(existing.get("label_rule"))
        if batch.labeled and stored != batch.label_rule:
            raise LabelRuleConflictError(
                f"batch {batch.batch_id} is stored labeled by '{stored.text}' ({stored.name}); bringing it in again "
                f"by '{batch.label_rule.text}' would mix two questions in one batch. Run with --label-rule "
                f"'{stored.name}: {stored.direction} {stored.threshold:g}', or make it a new batch (a new file)")
        return existing
    seq = next_sequence(db, "batch_seq")
    db[BATCHES].update_one(
        {"batch_id": batch.batch_id},
        {"$setOnInsert": {
            "batch_id": batch.batch_id, "seq": seq, "kind": "labeled" if batch.labeled else "unlabeled",
            "size": batch.count, "source": batch.source, "created_at": now, "status": "registered",
            **({"label_rule": batch.label_rule.as_dict()} if batch.labeled else {}),
            "features": batch.contract.as_dict(),
        }},
        upsert=True,
    )
    return db[BATCHES].find_one({"batch_id": batch.batch_id})


def batch_label_rule(db: Db, batch_id: str) -> dict | None:
    """The label rule a labeled batch was stored with (None: unlabeled, or unknown)."""
    return (db[BATCHES].find_one({"batch_id": batch_id}, {"label_rule": 1}) or {}).get("label_rule")


def batch_contract(db: Db, batch_id: str) -> FeatureContract:
    """The feature contract a batch was ingested under (its dataset's declared extras; a batch from before
    contracts were stored, or an unknown one: ours)."""
    batch = db[BATCHES].find_one({"batch_id": batch_id}, {"features": 1})
    return FeatureContract.from_dict((batch or {}).get("features"))


def earlier_batches_of(db: Db, batch_id: str, student_ids: list[int]) -> dict[str, int]:
    """For students of ``batch_id``, how many each other featurized batch holds (by the features' student index)."""
    counts: dict[str, int] = {}
    for doc in find_in(db[STUDENTS_FEATURES], "student_id", student_ids, {"_id": 0, "batch_id": 1},
                       {"batch_id": {"$ne": batch_id}}):
        counts[doc["batch_id"]] = counts.get(doc["batch_id"], 0) + 1
    return counts


def get_batch(db: Db, batch_id: str) -> dict:
    """The batch document; a batch that was never ingested is a clear error."""
    batch = db[BATCHES].find_one({"batch_id": batch_id})
    if batch is None:
        raise LookupError(f"batch {batch_id!r} is not in the batches collection: ingest it first")
    return batch


def scored_records(db: Db, batch_id: str) -> list[dict]:
    """A batch's accepted records as they came in, without the raw layer's own fields."""
    return [{k: v for k, v in doc.items() if k not in RAW_META}
            for doc in db[STUDENTS_RAW].find({"batch_id": batch_id}).sort("student_id", 1)]


def posted_outcomes(db: Db, student_ids: list[int]) -> dict[int, dict]:
    """Trusted outcomes (posted with a ``label``-scoped key) for these students, by student: what retraining may
    learn from."""
    return {doc["student_id"]: doc for doc in find_in(db[FEEDBACK], "student_id", student_ids,
                                                      {"_id": 0, "student_id": 1, "final_score": 1,
                                                       "high_performer": 1}, {"trusted": True})}


def update_batch(db: Db, batch_id: str, fields: dict) -> None:
    """Record a stage's outcome on the batch document."""
    db[BATCHES].update_one({"batch_id": batch_id}, {"$set": fields})


def record_once(db: Db, batch_id: str, field: str, value: int) -> None:
    """Record a ledger figure only the first time: asked again after its stage, the answer would differ."""
    db[BATCHES].update_one({"batch_id": batch_id, field: {"$exists": False}}, {"$set": {field: value}})


def latest_generator_seed(db: Db) -> int | None:
    """The highest generator seed stored, if any batch came from the generator."""
    latest = db[BATCHES].find_one({"source.type": "generator"}, sort=[("source.seed", -1)])
    return None if latest is None else int(latest["source"]["seed"])


def batch_input_records(db: Db, batch_id: str) -> tuple[Iterator, list[dict]]:
    """Every input record of a batch as it came (accepted ones from the raw layer, read as they are consumed), and
    its rejections."""
    rejected = list(db[STUDENTS_REJECTED].find({"batch_id": batch_id}))
    accepted = db[STUDENTS_RAW].find({"batch_id": batch_id}, {name: 0 for name in RAW_META})
    return chain(accepted, (doc["record"] for doc in rejected)), rejected


def ledger_counts(db: Db) -> dict[str, int]:
    """Documents per contract collection as the batches recorded them when each stage completed.

    Summing one small document per batch costs the same on any store; counting the collections themselves
    would read every document on the local server (5.7 s for 100k raw records)."""
    sums = {name: {"$sum": {"$ifNull": [f"${field}", 0]}} for name, field in LEDGER.items()}
    totals = next(db[BATCHES].aggregate([{"$group": {"_id": None, BATCHES: {"$sum": 1}, **sums}}]), {})
    return {name: int(totals.get(name, 0)) for name in SUMMARY_COLLECTIONS}


def batch_source(db: Db, batch_id: str) -> dict | None:
    """Where a stored batch came from and its kind (None when there is no such batch)."""
    return db[BATCHES].find_one({"batch_id": batch_id}, {"_id": 0, "source": 1, "kind": 1})


def store_records(db: Db, accepted: Iterable[dict], rejected: Iterable[dict]) -> tuple[WriteCounts, WriteCounts]:
    """Accepted records (raw) and rejected ones (quarantine) of a batch, each stored once: what is there already
    stays as it is. Returns what the raw and the quarantine writes did."""
    return insert_new(db[STUDENTS_RAW], accepted), insert_new(db[STUDENTS_REJECTED], rejected)


def store_truth(db: Db, buckets: Iterable[dict]) -> WriteCounts:
    """The generator's truth buckets of a batch, stored once (a few at a time: a bucket holds 1,000 students)."""
    return insert_new(db[STUDENTS_TRUTH], buckets, chunk=20)


def refeaturize_stale(db: Db, batch_ids: list[str]) -> list[str]:
    """Aggregate again (from their raw records) the batches among ``batch_ids`` whose features an earlier version
    of the aggregation made, so that a store from before trains on today's features; returns their ids."""
    stale = list(db[BATCHES].find({"batch_id": {"$in": batch_ids}, "status": "featurized",
                                   "$or": [{"features_version": {"$exists": False}},
                                           {"features_version": {"$lt": FEATURES_VERSION}}]}))
    for batch in stale:
        merge_features(db, batch)
        update_batch(db, batch["batch_id"], {"features_version": FEATURES_VERSION})
    return [batch["batch_id"] for batch in stale]


def merge_features(db: Db, batch: dict) -> WriteCounts:
    """Compute the batch's features in MongoDB (under the label rule and feature contract it was ingested with) and
    ``$merge`` them into students_features, one document per (student, batch): the same students' other batches
    (their earlier, labeled terms) are never touched, and a re-run of the batch replaces its own documents with the
    same values. Returns what the merge did (new, or already there), read before it ran."""
    batch_id = batch["batch_id"]
    pipeline = feature_pipeline(batch_id, batch["seq"], batch["kind"] == "labeled",
                                LabelRule.from_dict(batch.get("label_rule")),
                                FeatureContract.from_dict(batch.get("features")))
    ensure_indexes(db, [STUDENTS_FEATURES])
    # counts, not the ids (``distinct`` answers in one document, capped at 16 MB: about a million ids): a batch's
    # features are one document per raw student, so the new ones are the raw students less those present
    students = db[STUDENTS_RAW].count_documents({"batch_id": batch_id})
    present = db[STUDENTS_FEATURES].count_documents({"batch_id": batch_id})
    merge_pipeline_output(db, STUDENTS_RAW, pipeline, STUDENTS_FEATURES, ["batch_id", "student_id"])
    return WriteCounts(inserted=students - present, unchanged=present)


def latest_features(db: Db, student_id: int) -> dict | None:
    """A student's newest feature document (of the latest batch that holds the student)."""
    return db[STUDENTS_FEATURES].find_one({"student_id": student_id}, {"_id": 0}, sort=[("batch_seq", -1)])


def batch_features(db: Db, batch_id: str) -> Iterable[dict]:
    """The feature documents computed from ``batch_id`` (a cursor: read them as they are used)."""
    return db[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0})
