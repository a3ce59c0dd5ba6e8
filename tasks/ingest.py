"""Ingest a batch idempotently: valid records into the immutable raw layer, the rest into quarantine.

Raw documents are keyed by (student_id, batch_id) and inserted only when absent, so re-ingesting the
same batch changes nothing. Every input record ends up in exactly one of students_raw / students_rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.collections import BATCHES, STUDENTS_RAW, STUDENTS_REJECTED, STUDENTS_TRUTH, ensure_indexes, next_sequence
from infra.errors import UserError
from infra.progress import Progress, run_logger
from infra.retry import DB_RETRIES, retry_on_transient, stopwatch
from infra.storage import get_database
from infra.writes import insert_new
from validation.records import split_records

TRUTH_FIELDS = ("student_id", "p_high_performer", "expected_score")
TRUTH_BUCKET = 1000  # students per truth document


@dataclass
class BatchInput:
    """A batch on its way in: records in the raw schema, where they came from, and (generated) the truth."""

    batch_id: str
    labeled: bool
    records: list
    source: dict
    truth: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # time taken to produce the batch (generate or load)


def raw_documents(accepted: list[tuple[int, dict]], batch_id: str, ingested_at: datetime) -> list[dict]:
    """The raw layer's documents: the record as it came, plus its batch and where it sat in the input."""
    return [{**_without_id(record), "batch_id": batch_id, "_ingest": {"position": position, "at": ingested_at}}
            for position, record in accepted]


def truth_buckets(rows: list[dict], batch_id: str, size: int = TRUTH_BUCKET) -> list[dict]:
    """The generator's truth for a batch in buckets of up to ``size`` students (MongoDB's bucket pattern: a
    handful of documents with aligned arrays instead of one tiny document per student), sorted by student."""
    ordered = sorted(rows, key=lambda row: row["student_id"])
    buckets = []
    for number, start in enumerate(range(0, len(ordered), size)):
        part = ordered[start:start + size]
        buckets.append({"batch_id": batch_id, "bucket": number, "rows": len(part),
                        **{field: [row[field] for row in part] for field in TRUTH_FIELDS}})
    return buckets


def register_batch(db, batch: BatchInput, now: datetime) -> dict:
    """Get the batch document, creating it with the next sequence number on first sight."""
    existing = db[BATCHES].find_one({"batch_id": batch.batch_id})
    if existing:
        return existing
    seq = next_sequence(db, "batch_seq")
    db[BATCHES].update_one(
        {"batch_id": batch.batch_id},
        {"$setOnInsert": {
            "batch_id": batch.batch_id, "seq": seq, "kind": "labeled" if batch.labeled else "unlabeled",
            "size": len(batch.records), "source": batch.source, "created_at": now, "status": "registered",
        }},
        upsert=True,
    )
    return db[BATCHES].find_one({"batch_id": batch.batch_id})


class EmptyBatchError(UserError, ValueError):
    """A batch with no records: nothing to ingest, and nothing is registered."""


@task(name="ingest-batch", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def ingest_batch(batch: BatchInput) -> dict:
    """Write the batch's records (raw or rejected), its truth rows and its batch document; safe to re-run."""
    logger = run_logger(__name__)
    if not batch.records:
        raise EmptyBatchError(f"batch {batch.batch_id} holds no records: nothing to ingest (nothing was stored)")
    with stopwatch() as timing:
        db = get_database()
        ensure_indexes(db)
        now = datetime.now(UTC)
        batch_doc = register_batch(db, batch, now)
        accepted, rejected = split_records(batch.records, batch.labeled)
        raw = insert_new(db[STUDENTS_RAW], raw_documents(accepted, batch.batch_id, now),
                         on_progress=Progress(f"ingest {batch.batch_id}", len(accepted)))
        quarantined = insert_new(
            db[STUDENTS_REJECTED], ({**doc, "batch_id": batch.batch_id, "rejected_at": now} for doc in rejected))
        accepted_ids = {record["student_id"] for _, record in accepted}
        truth = [row for row in batch.truth if row["student_id"] in accepted_ids]
        insert_new(db[STUDENTS_TRUTH], truth_buckets(truth, batch.batch_id))
        truth_rows = len(truth)
        db[BATCHES].update_one({"batch_id": batch.batch_id}, {"$set": {
            "accepted": len(accepted), "rejected": len(rejected), "truth_rows": truth_rows, "status": "ingested",
        }})
    if rejected:
        logger.warning("batch %s: %d of %d records rejected (see students_rejected)",
                       batch.batch_id, len(rejected), len(batch.records))
    logger.info("batch %s (seq %d): %d new raw records, %d already present", batch.batch_id, batch_doc["seq"],
                raw.inserted, raw.unchanged)
    return {
        "batch_id": batch.batch_id, "seq": batch_doc["seq"], "labeled": batch.labeled,
        "input": len(batch.records), "accepted": len(accepted), "rejected": len(rejected),
        "raw_inserted": raw.inserted, "raw_already_present": raw.unchanged,
        "rejected_inserted": quarantined.inserted, "seconds": timing["seconds"],
    }


def _without_id(record: dict) -> dict:
    """An ``_id`` from an exported file would clash with the raw layer's own."""
    return {key: value for key, value in record.items() if key != "_id"}
