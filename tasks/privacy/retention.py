"""How long each kind of student data is kept, and the sweep that enforces it.

Raw predictions already expire through their own TTL index (``PIPELINE_PREDICTION_RETENTION_DAYS``, after their
roll-up). Every other kind is swept by ``apply``: the scheduled scoring deployment runs it at the end of each run
(beside the prediction log's roll-up), and ``python -m tasks.privacy retention`` runs it by hand. A kind set to 0
days is kept for ever. When a batch's features expire the batch says so (``expired.features``), and a model version
trained on it shows on its page that its training data is gone: lineage never breaks silently.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridfs import GridFSBucket

from infra.collections import (
    AUDIT,
    BATCHES,
    FEEDBACK,
    LEDGER,
    REPORT_FILES,
    SPLITS,
    STUDENTS_FEATURES,
    STUDENTS_RAW,
    STUDENTS_REJECTED,
)
from infra.errors import UserError
from infra.storage import Db

DEFAULT_DAYS: dict[str, int] = {
    "raw": 1095,  # three years: a degree's length, long enough for a returning student's every term
    "rejected": 90,  # long enough to fix the export and bring it in again
    "features": 1095,
    "feedback": 1095,
    "training_splits": 1095,
    "reports": 365,
    "audit": 365,
}


def days_for(settings_days: dict[str, int]) -> dict[str, int]:
    """The defaults with the installation's settings over them (an unknown kind is refused by name)."""
    unknown = set(settings_days) - set(DEFAULT_DAYS)
    if unknown:
        raise UserError(f"PIPELINE_RETENTION_DAYS names unknown kinds {sorted(unknown)}; the kinds are "
                         f"{sorted(DEFAULT_DAYS)}")
    return DEFAULT_DAYS | settings_days


def apply(db: Db, days: dict[str, int], now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than its kind's retention; return how many documents (or files) of each kind went.
    A batch's raw, rejected and feature documents go with the batch's age (its ``created_at``); the batch then says
    which of its kinds expired and when, and its counts (the run summary sums them) go to zero."""
    now = now or datetime.now(UTC)

    def cutoff(kind: str) -> datetime | None:
        return now - timedelta(days=days[kind]) if days[kind] > 0 else None

    removed: dict[str, int] = {}
    for kind, collection in (("raw", STUDENTS_RAW), ("rejected", STUDENTS_REJECTED), ("features", STUDENTS_FEATURES)):
        before = cutoff(kind)
        if before is None:
            continue
        removed[kind] = 0
        for batch in db[BATCHES].find({"created_at": {"$lt": before}, f"expired.{kind}": {"$exists": False}},
                                      {"batch_id": 1}):
            removed[kind] += db[collection].delete_many({"batch_id": batch["batch_id"]}).deleted_count
            db[BATCHES].update_one({"_id": batch["_id"]}, {"$set": {f"expired.{kind}": now, LEDGER[collection]: 0}})
    for kind, collection, field in (("feedback", FEEDBACK, "received_at"), ("training_splits", SPLITS, "created_at"),
                                    ("audit", AUDIT, "at")):
        before = cutoff(kind)
        if before is not None:
            removed[kind] = db[collection].delete_many({field: {"$lt": before}}).deleted_count
    before = cutoff("reports")
    if before is not None:
        bucket = GridFSBucket(db, bucket_name=REPORT_FILES)
        old = [doc["_id"] for doc in db[f"{REPORT_FILES}.files"].find({"uploadDate": {"$lt": before}}, {"_id": 1})]
        for file_id in old:
            bucket.delete(file_id)
        removed["reports"] = len(old)
    return removed


def expired_lineage(db: Db, batches: list[str]) -> list[dict]:
    """Which of a model's training batches have had their features expire (batch id and when)."""
    return [{"batch_id": doc["batch_id"], "at": doc["expired"]["features"]}
            for doc in db[BATCHES].find({"batch_id": {"$in": batches}, "expired.features": {"$exists": True}},
                                        {"batch_id": 1, "expired": 1})]
