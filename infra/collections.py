"""Collection names and their indexes: the data contracts' keys, created idempotently."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

STUDENTS_RAW = "students_raw"
STUDENTS_REJECTED = "students_rejected"
STUDENTS_FEATURES = "students_features"
STUDENTS_TRUTH = "students_truth"  # the generator's true outcomes, in buckets of students: never a model input
BATCHES = "batches"
MODELS = "models"
COUNTERS = "counters"  # atomic sequence numbers (batches, model versions)
MODEL_ALIASES = "model_aliases"
ALIAS_HISTORY = "alias_history"
SPLITS = "splits"
REFERENCES = "drift_references"
PREDICTIONS = "predictions"
DRIFT_REPORTS = "drift_reports"
EVALUATIONS = "evaluations"

INDEXES: dict[str, list[IndexModel]] = {
    STUDENTS_RAW: [  # batch first: one index serves both uniqueness and every read of a batch
        IndexModel([("batch_id", ASCENDING), ("student_id", ASCENDING)], unique=True, name="batch_student_unique"),
    ],
    STUDENTS_REJECTED: [
        IndexModel([("batch_id", ASCENDING), ("position", ASCENDING)], unique=True, name="batch_position_unique"),
    ],
    STUDENTS_FEATURES: [
        IndexModel([("student_id", ASCENDING)], unique=True, name="student_unique"),
        IndexModel([("batch_id", ASCENDING)], name="batch"),
    ],
    STUDENTS_TRUTH: [
        IndexModel([("batch_id", ASCENDING), ("bucket", ASCENDING)], unique=True, name="batch_bucket_unique"),
    ],
    MODELS: [IndexModel([("name", ASCENDING), ("version", ASCENDING)], unique=True, name="name_version_unique")],
    MODEL_ALIASES: [IndexModel([("name", ASCENDING), ("alias", ASCENDING)], unique=True, name="name_alias_unique")],
    ALIAS_HISTORY: [IndexModel([("name", ASCENDING), ("at", ASCENDING)], name="name_time")],
    SPLITS: [IndexModel([("split_id", ASCENDING)], unique=True, name="split_unique")],
    REFERENCES: [IndexModel([("name", ASCENDING), ("version", ASCENDING)], unique=True, name="name_version_unique")],
    PREDICTIONS: [
        IndexModel([("student_id", ASCENDING), ("batch_id", ASCENDING), ("model", ASCENDING), ("version", ASCENDING)],
                   unique=True, name="prediction_unique"),
        IndexModel([("batch_id", ASCENDING)], name="batch"),
    ],
    DRIFT_REPORTS: [IndexModel([("batch_id", ASCENDING), ("at", DESCENDING)], name="batch_time")],
    EVALUATIONS: [IndexModel([("name", ASCENDING), ("at", DESCENDING)], name="name_time")],
    BATCHES: [
        IndexModel([("batch_id", ASCENDING)], unique=True, name="batch_unique"),
        IndexModel([("seq", DESCENDING)], name="seq"),
    ],
}


def ensure_indexes(db, collections: list[str] | None = None) -> None:
    """Create the contract indexes; a no-op when they already exist (same names and keys)."""
    for name in collections or list(INDEXES):
        db[name].create_indexes(INDEXES[name])


def next_sequence(db, key: str) -> int:
    """Atomically take the next number of the sequence ``key`` (never reused, even after a failed write).

    Two processes creating the same counter at once: one upsert inserts, the other meets the duplicate
    ``_id`` and simply increments the counter that now exists.
    """
    for attempt in range(3):
        try:
            return db[COUNTERS].find_one_and_update({"_id": key}, {"$inc": {"value": 1}}, upsert=True,
                                                   return_document=ReturnDocument.AFTER)["value"]
        except DuplicateKeyError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
