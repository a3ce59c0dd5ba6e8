"""The prediction service's reads and writes in MongoDB: features for a request's records (the batch pipeline's
own stages over ``$documents``), the prediction log, A/B tests, and the outcomes posted back as feedback."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from pymongo import ReturnDocument

from infra import prediction_log
from infra.collections import (
    AB_TESTS,
    API_KEYS,
    API_SESSIONS,
    FEEDBACK,
    PREDICTIONS,
    STUDENTS_FEATURES,
    find_in,
)
from infra.storage import Db
from tasks.data.features import feature_stages
from tasks.serving.trust import COUNTED
from validation.contracts import DEFAULT_CONTRACT, FeatureContract, LabelRule
from validation.features import features_frame


def request_features(db: Db, records: list[dict], request_id: str,
                     contract: FeatureContract = DEFAULT_CONTRACT) -> pd.DataFrame:
    """The features of a request's (valid) records, computed inside MongoDB by the very stages the batch flow
    runs (the model's dataset's extras included), fed by ``$documents`` instead of a batch's ``$match``: serving
    and batch agree by construction."""
    # every value is data: $documents evaluates its documents as expressions, so a string such as "$$NOW" or
    # "$$REMOVE" would be read as a variable; $literal keeps each field's value (and all below it) as it came
    documents = [{k: {"$literal": v} for k, v in record.items() if k != "_id"} for record in records]
    stages = feature_stages(f"api:{request_id}", 0, labeled=False, contract=contract)
    return features_frame(list(db.aggregate([{"$documents": documents}, *stages])), contract)


def stored_features(db: Db, students: list[int], features: list[str]) -> list[dict]:
    """Every stored feature document of these students (student, batch, the named features): what an official
    request's record is compared with."""
    projection = {"_id": 0, "student_id": 1, "batch_id": 1, **dict.fromkeys(features, 1)}
    return list(find_in(db[STUDENTS_FEATURES], "student_id", students, projection))


def log_predictions(db: Db, documents: list[dict]) -> None:
    """Log every served prediction of a turn (its buckets, in one insert); an error here must reach the caller,
    never an unlogged answer."""
    prediction_log.log_served(db, documents)


def create_test(db: Db, document: dict) -> dict:
    """Store a new running test (a second running test for the same model is a duplicate key)."""
    db[AB_TESTS].insert_one(document)
    return get_test(db, document["test_id"])


def get_test(db: Db, test_id: str) -> dict | None:
    """One test by id."""
    return db[AB_TESTS].find_one({"test_id": test_id}, {"_id": 0})


def list_tests(db: Db) -> list[dict]:
    """Every test, newest first."""
    return list(db[AB_TESTS].find({}, {"_id": 0}).sort("created_at", -1))


def running_tests(db: Db) -> dict[str, dict]:
    """The running test of each model, by model name."""
    return {doc["model"]: doc for doc in db[AB_TESTS].find({"state": "running"}, {"_id": 0})}


def update_test(db: Db, test_id: str, expected_state: str, fields: dict) -> dict | None:
    """Change a test only if it is still in ``expected_state`` (two concurrent conclusions cannot both act)."""
    return db[AB_TESTS].find_one_and_update({"test_id": test_id, "state": expected_state}, {"$set": fields},
                                            projection={"_id": 0}, return_document=ReturnDocument.AFTER)


def served_predictions(db: Db, test_id: str) -> pd.DataFrame:
    """Each unit's first counted prediction in a test per arm: student, arm, version, prediction (units are sticky:
    a split test has one arm per student, a shadow test both). Predictions that do not count (``trust.COUNTED``: an
    untrusted caller, or a record the store does not hold) are never a unit's."""
    prediction_log.ready(db)
    rows = db[PREDICTIONS].aggregate([
        *prediction_log.flat({"ab_test": test_id}, COUNTED),
        {"$sort": {"scored_at": 1}},
        {"$group": {"_id": {"student": "$student_id", "arm": "$arm"}, "version": {"$first": "$version"},
                    "prediction": {"$first": "$prediction"}}},
    ])
    frame = pd.DataFrame([{"student_id": r["_id"]["student"], "arm": r["_id"]["arm"], "version": r["version"],
                           "prediction": r["prediction"]} for r in rows],
                         columns=["student_id", "arm", "version", "prediction"])
    return frame


def record_feedback(db: Db, outcomes: list[dict], posted_by: str | None) -> int:
    """Store true outcomes posted for students (the latest per student wins) with the key that posted them: an
    outcome is ``trusted`` (training and A/B conclusions read it) when a key with the ``label`` scope posted it.
    Returns how many were stored."""
    from pymongo import UpdateOne

    now = datetime.now(UTC)
    operations = [UpdateOne({"student_id": o["student_id"]},
                            {"$set": {**o, "received_at": now, "posted_by": posted_by,
                                      "trusted": posted_by is not None}}, upsert=True)
                  for o in outcomes]
    if operations:
        db[FEEDBACK].bulk_write(operations, ordered=False)
    return len(operations)


def labels_for(db: Db, student_ids: list[int], target: str, label_rule: LabelRule) -> pd.DataFrame:
    """The known outcome ``target`` of these students: posted feedback, else a labeled batch's features. A posted
    final_score is labeled by ``label_rule`` (the models' own rule), whatever class was posted beside it."""
    found: dict[int, object] = {}
    labeled = find_in(db[STUDENTS_FEATURES], "student_id", student_ids,
                      {"_id": 0, "student_id": 1, "batch_seq": 1, target: 1}, {target: {"$ne": None}})
    for doc in sorted(labeled, key=lambda d: d.get("batch_seq") or 0):  # a student's newest labeled term wins
        found[doc["student_id"]] = doc[target]
    posted = find_in(db[FEEDBACK], "student_id", student_ids,
                     {"_id": 0, "student_id": 1, "final_score": 1, "high_performer": 1}, {"trusted": True})
    for doc in posted:  # posted feedback overrides a batch's label
        score = doc.get("final_score")
        value = label_rule.applies(score) if target == "high_performer" and score is not None else doc.get(target)
        if value is not None:
            found[doc["student_id"]] = value
    return pd.DataFrame({"student_id": list(found), target: list(found.values())}, columns=["student_id", target])


def never_scored(db: Db, student_ids: list[int]) -> list[int]:
    """The students among ``student_ids`` that no prediction was ever logged for."""
    scored = prediction_log.logged_students(db, student_ids)
    return [student for student in student_ids if student not in scored]


def insert_key(db: Db, document: dict) -> None:
    """Store a new credential (its hash, never the key)."""
    db[API_KEYS].insert_one(document)


def find_key(db: Db, key_id: str) -> dict | None:
    """A credential by its public id (revoked ones too: the caller decides)."""
    return db[API_KEYS].find_one({"key_id": key_id}, {"_id": 0})


def list_keys(db: Db) -> list[dict]:
    """Every credential, without its hash, oldest first."""
    return list(db[API_KEYS].find({}, {"_id": 0, "hash": 0}).sort("created_at", 1))


def revoke_key(db: Db, key_id: str, at: datetime) -> bool:
    """Revoke a credential (kept, with when); False when there is no such active key."""
    return db[API_KEYS].update_one({"key_id": key_id, "revoked_at": None},
                                   {"$set": {"revoked_at": at}}).modified_count == 1


def active_keys(db: Db) -> int:
    """How many credentials can be used."""
    return db[API_KEYS].count_documents({"revoked_at": None})


def insert_session(db: Db, document: dict) -> None:
    """A dashboard session (its id hashed), expiring by the store's TTL index."""
    db[API_SESSIONS].insert_one(document)


def find_session(db: Db, session_hash: str, now: datetime) -> dict | None:
    """A live session by the hash of its id."""
    return db[API_SESSIONS].find_one({"session": session_hash, "expires_at": {"$gt": now}}, {"_id": 0})


def end_session(db: Db, session_hash: str) -> None:
    """Sign out."""
    db[API_SESSIONS].delete_one({"session": session_hash})
