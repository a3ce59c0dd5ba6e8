"""The training stage's reads in MongoDB: labeled feature rows with the generator's truth beside them, the
labeled batches newest first, and the stored splits."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pandas as pd

from infra.collections import BATCHES, SPLITS, STUDENTS_FEATURES, STUDENTS_TRUTH
from infra.storage import Db
from tasks.data.ingest import TRUTH_FIELDS
from validation.contracts import DEFAULT_CONTRACT, FeatureContract, LabelRule
from validation.features import features_frame


def labeled_batches(db: Db, label_rule: LabelRule, contract: FeatureContract = DEFAULT_CONTRACT) -> list[str]:
    """Every labeled batch whose features are in, whose labels follow ``label_rule`` and whose dataset declares
    ``contract``'s features, newest first (batches labeled by another rule answer another question, batches of
    another dataset have other inputs: they never train together)."""
    docs = db[BATCHES].find({"kind": "labeled", "status": "featurized"},
                            {"batch_id": 1, "label_rule": 1, "features": 1})
    return [doc["batch_id"] for doc in docs.sort("seq", -1) if LabelRule.from_dict(doc.get("label_rule")) == label_rule
            and FeatureContract.from_dict(doc.get("features")) == contract]


def read_labeled(db: Db, target: str, batch_ids: list[str] | None = None,
                 contract: FeatureContract = DEFAULT_CONTRACT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labeled feature rows, one per (student, batch), of ``batch_ids`` only when given; and, aligned by row, the
    generator's truth (student_id, batch_id and the truth's fields)."""
    scope = {"batch_id": {"$in": batch_ids}} if batch_ids is not None else {}
    frame = features_frame(db[STUDENTS_FEATURES].find({**scope, target: {"$ne": None}}, {"_id": 0}), contract)
    truth = frame[["student_id", "batch_id"]].merge(read_truth(db, scope), on=["student_id", "batch_id"], how="left")
    return frame, truth


def read_truth(db: Db, scope: dict) -> pd.DataFrame:
    """The generator's truth, one row per (student, batch), unpacked from its buckets."""
    frames = [pd.DataFrame({field: bucket[field] for field in TRUTH_FIELDS}).assign(batch_id=bucket["batch_id"])
              for bucket in db[STUDENTS_TRUTH].find(scope, {"_id": 0})]
    columns = ["batch_id", *TRUTH_FIELDS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def save_split(db: Db, split_ids: dict, seed: int) -> str:
    """Store a split's ids once; models refer to it by its content hash."""
    split_id = hashlib.sha256(json.dumps(split_ids, sort_keys=True).encode()).hexdigest()[:16]
    db[SPLITS].update_one({"split_id": split_id}, {"$setOnInsert": {
        "split_id": split_id, "seed": seed, "ids": split_ids, "created_at": datetime.now(UTC)}}, upsert=True)
    return split_id
