"""The scoring stage's reads and writes in MongoDB: a batch's features in, its predictions logged (once: the
``predictions`` key is student, batch, model and version, so re-scoring adds nothing)."""

from __future__ import annotations

from infra.collections import PREDICTIONS, STUDENTS_FEATURES, ensure_indexes
from infra.storage import Db
from infra.writes import WriteCounts, insert_new


def batch_features(db: Db, batch_id: str) -> list[dict]:
    """The feature documents computed from ``batch_id``."""
    return list(db[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0}))


def log_predictions(db: Db, documents: list[dict]) -> WriteCounts:
    """Insert the predictions not logged yet."""
    ensure_indexes(db, [PREDICTIONS])
    return insert_new(db[PREDICTIONS], documents)
