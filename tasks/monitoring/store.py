"""The monitoring stage's reads and writes in MongoDB: the batch's features and the champion's predictions for a
check, drift checks, and each model version's performance per batch (measured on labels or estimated without)."""

from __future__ import annotations

from datetime import UTC, datetime

from infra import prediction_log
from infra.collections import (
    BATCHES,
    DRIFT_REPORTS,
    PERFORMANCE,
    STUDENTS_FEATURES,
    STUDENTS_RAW,
    ensure_indexes,
)
from infra.storage import Db
from infra.writes import merge_pipeline_output
from tasks.serving.trust import COUNTED
from validation.contracts import LabelRule


def record_performance(db: Db, name: str, version: int, batch_id: str, source: str, metric: str, value: float,
                       rows: int, **extra) -> None:
    """Keep a version's performance on a batch (``source``: measured on ``labels``, or an ``estimate``)."""
    seq = (db[BATCHES].find_one({"batch_id": batch_id}, {"seq": 1}) or {}).get("seq")
    db[PERFORMANCE].update_one({"model": name, "version": version, "batch_id": batch_id, "source": source},
                               {"$set": {"metric": metric, "value": value, "rows": rows, "batch_seq": seq,
                                         "at": datetime.now(UTC), **extra}}, upsert=True)


def earlier_labeled_batches(db: Db, name: str, version: int, batch_id: str, count: int) -> list[str]:
    """The ``count`` latest batches (oldest first, ``batch_id`` left out) whose labels this version was measured on:
    the window a per-group check pools."""
    if count <= 0:
        return []
    docs = db[PERFORMANCE].find({"model": name, "version": version, "source": "labels", "batch_id": {"$ne": batch_id}},
                                {"_id": 0, "batch_id": 1}).sort("at", -1).limit(count)
    return [doc["batch_id"] for doc in docs][::-1]


def batch_features(db: Db, batch_id: str) -> list[dict]:
    """The feature documents computed from ``batch_id``."""
    return list(db[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0}))


def batch_labels(db: Db, batch_id: str, target: str, fields: tuple[str, ...] = ()) -> list[dict]:
    """(student_id, label, and ``fields``: the segment fields) of the batch's labeled feature documents."""
    return list(db[STUDENTS_FEATURES].find({"batch_id": batch_id, target: {"$ne": None}},
                                           {"_id": 0, "student_id": 1, target: 1, **dict.fromkeys(fields, 1)}))


def batch_predictions(db: Db, batch_id: str, name: str, version: int, with_probability: bool = False) -> list[dict]:
    """A version's counted predictions of a batch (student, prediction, probability); only those with a
    probability when ``with_probability``."""
    query = {"batch_id": batch_id, **COUNTED}
    if with_probability:
        query["probability"] = {"$ne": None}
    return prediction_log.predictions(db, {"batch_id": batch_id, "model": name, "version": version}, query,
                                      ("student_id", "prediction", "probability"))


def predictions_of_students(db: Db, students: list[int], name: str, version: int) -> list[dict]:
    """A version's earlier counted predictions of these students, from any batch (with the batch, the probability
    and when it was made): a prediction an untrusted caller asked for, or made on a record the store does not hold,
    is never measured (``tasks/serving/trust.py``)."""
    return prediction_log.predictions_of(db, students, {"model": name, "version": version}, COUNTED,
                                         ("student_id", "prediction", "probability", "batch_id", "scored_at"))


def save_drift_check(db: Db, document: dict) -> str:
    """Keep a drift check; returns its id."""
    ensure_indexes(db, [DRIFT_REPORTS])
    return str(db[DRIFT_REPORTS].insert_one(document).inserted_id)


def record_realised(db: Db, name: str, version: int, scored: dict, labels_batch: str) -> None:
    """What the labels said about an earlier estimate: kept on that estimate's document."""
    db[PERFORMANCE].update_one({"model": name, "version": version, "batch_id": scored["batch_id"],
                                "source": "estimate"},
                               {"$set": {"realised": scored["realised"], "realised_rows": scored["rows"],
                                         "estimated_same_rows": scored["estimated"], "error": scored["error"],
                                         "inside_interval": scored["inside"], "labels_batch": labels_batch}})


def featurize_throwaway(db: Db, records: list[dict], batch_id: str, seq: int) -> list[dict]:
    """Raw records to feature documents through the pipeline's own aggregation and ``$merge``, in a throwaway
    database (the drill's), then cleared again: what comes back is all that is left of them."""
    from tasks.data.features import feature_pipeline

    ensure_indexes(db, [STUDENTS_FEATURES])
    db[STUDENTS_RAW].delete_many({"batch_id": batch_id})  # a retried task starts clean
    db[STUDENTS_RAW].insert_many([{**record, "batch_id": batch_id} for record in records], ordered=False)
    merge_pipeline_output(db, STUDENTS_RAW, feature_pipeline(batch_id, seq, labeled=True), STUDENTS_FEATURES,
                          ["batch_id", "student_id"])
    features = batch_features(db, batch_id)
    db[STUDENTS_RAW].delete_many({"batch_id": batch_id})
    db[STUDENTS_FEATURES].delete_many({"batch_id": batch_id})
    return features


def database_names(client) -> list[str]:
    """Every database on the server."""
    return client.list_database_names()


def drop_database(db: Db) -> None:
    """Drop a whole (throwaway) database."""
    db.client.drop_database(db.name)


def batch_label_rule(db: Db, batch_id: str) -> LabelRule:
    """The label rule a labeled batch was brought in with (the generator's for batches stored before rules)."""
    batch = db[BATCHES].find_one({"batch_id": batch_id}, {"label_rule": 1}) or {}
    return LabelRule.from_dict(batch.get("label_rule"))
