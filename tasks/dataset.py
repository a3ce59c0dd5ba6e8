"""The training data: labeled features from MongoDB, the truth kept apart, and a seeded stratified split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.model_selection import train_test_split

from infra.collections import BATCHES, STUDENTS_FEATURES, STUDENTS_TRUTH
from infra.errors import UserError
from infra.progress import run_logger
from infra.retry import DB_RETRIES, retry_on_transient
from infra.storage import get_database
from tasks.aggregate import FEATURE_SCHEMA
from tasks.ingest import TRUTH_FIELDS
from validation.features import features_frame

Problem = Literal["classification", "regression"]
TARGETS: dict[str, str] = {"classification": "high_performer", "regression": "final_score"}
CATEGORICAL = ["major"]
BOOLEAN = ["fullTime", "tutoring", "first_generation", "part_time_job"]
NUMERIC = [name for name, dtype, role, _ in FEATURE_SCHEMA
           if role == "feature" and name not in CATEGORICAL + BOOLEAN]
FEATURES = NUMERIC + BOOLEAN + CATEGORICAL


class NotEnoughDataError(UserError, ValueError):
    """Too few labeled rows to train and evaluate honestly."""


@dataclass
class TrainingData:
    """Features (model inputs only), labels, and the truth (never an input) for each split, by student_id."""

    problem: Problem
    target: str
    X: dict[str, pd.DataFrame]
    y: dict[str, pd.Series]
    truth: dict[str, pd.DataFrame]
    split_ids: dict[str, list[int]]
    lineage: dict


def stratify_labels(y: pd.Series, problem: Problem) -> pd.Series:
    """Classes for classification; quintiles of the score for regression."""
    return y.astype(int) if problem == "classification" else pd.qcut(y, 5, labels=False, duplicates="drop")


def split_frame(frame: pd.DataFrame, problem: Problem, seed: int, val_size: float, test_size: float) -> dict:
    """Seeded, stratified train / validation / test student ids."""
    ids = frame["student_id"].to_numpy()
    y = frame[TARGETS[problem]]
    rest, test = train_test_split(ids, test_size=test_size, random_state=seed, stratify=stratify_labels(y, problem))
    rest_y = y[frame["student_id"].isin(rest).to_numpy()]
    train, val = train_test_split(np.sort(rest), test_size=val_size / (1 - test_size), random_state=seed,
                                  stratify=stratify_labels(rest_y.reset_index(drop=True), problem))
    return {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(test.tolist())}


def data_hash(frame: pd.DataFrame) -> str:
    """A content hash of the training frame (rows sorted by student): the data's identity in lineage."""
    ordered = frame.sort_values("student_id").reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes()).hexdigest()


def make_training_data(frame: pd.DataFrame, truth: pd.DataFrame, problem: Problem, seed: int,
                       val_size: float = 0.2, test_size: float = 0.2, min_rows: int = 200,
                       split_ids: dict | None = None) -> TrainingData:
    """Split (or use the given split of) labeled features into model inputs, labels and truth per part."""
    target = TARGETS[problem]
    frame = frame[frame[target].notna()].sort_values("student_id").reset_index(drop=True)
    if len(frame) < min_rows:
        raise NotEnoughDataError(f"{len(frame)} labeled students in students_features; training needs at least "
                                 f"{min_rows}. Ingest a labeled batch first (python flows/main.py --kind labeled).")
    split_ids = split_ids or split_frame(frame, problem, seed, val_size, test_size)
    by_id = frame.set_index("student_id", drop=False)
    truth = truth.set_index("student_id").reindex(by_id.index)
    X, y, t = {}, {}, {}
    for part, ids in split_ids.items():
        X[part] = by_id.loc[ids, FEATURES].reset_index(drop=True)
        y[part] = by_id.loc[ids, target].astype(int if problem == "classification" else float).reset_index(drop=True)
        t[part] = truth.loc[ids, ["p_high_performer", "expected_score"]].reset_index(drop=True)
    lineage = {"batches": sorted(frame["batch_id"].unique().tolist()), "rows": len(frame),
               "data_sha256": data_hash(frame[["student_id", *FEATURES, target]]), "split_seed": seed,
               "split_sizes": {k: len(v) for k, v in split_ids.items()}}
    return TrainingData(problem, target, X, y, t, split_ids, lineage)


def read_labeled(db, target: str, batch_ids: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labeled feature rows (of ``batch_ids`` only, when given) and, aligned by row, the generator's truth."""
    scope = {"batch_id": {"$in": batch_ids}} if batch_ids is not None else {}
    frame = features_frame(list(db[STUDENTS_FEATURES].find({**scope, target: {"$ne": None}}, {"_id": 0})))
    truth = frame[["student_id", "batch_id"]].merge(read_truth(db, scope), on=["student_id", "batch_id"], how="left")
    return frame, truth.drop(columns="batch_id")


def read_truth(db, scope: dict) -> pd.DataFrame:
    """The generator's truth, one row per (student, batch), unpacked from its buckets."""
    frames = [pd.DataFrame({field: bucket[field] for field in TRUTH_FIELDS}).assign(batch_id=bucket["batch_id"])
              for bucket in db[STUDENTS_TRUTH].find(scope, {"_id": 0})]
    columns = ["batch_id", *TRUTH_FIELDS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def recent_labeled_batches(db, window: int | Literal["all"], newest: str | None = None) -> list[str] | None:
    """The ids of the ``window`` most recent labeled, featurized batches (``newest`` always among them);
    None for ``"all"``. Training reads only these, so its work does not grow with the store's history."""
    if window == "all":
        return None
    recent = [doc["batch_id"] for doc in db[BATCHES].find(
        {"kind": "labeled", "status": "featurized"}, {"batch_id": 1}).sort("seq", -1).limit(window)]
    if newest is not None and newest not in recent:
        recent = [newest, *recent[:window - 1]]
    return recent


@task(name="load-training-data", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def load_training_data(problem: Problem, seed: int, val_size: float, test_size: float, min_rows: int,
                       window: int | Literal["all"] = 3) -> TrainingData | None:
    """The labeled features of the recent window of batches (or all), with the generator's truth (when known)
    for the oracle.

    Returns None (and says why in the log) when there are too few labeled students to train honestly.
    """
    db = get_database()
    batches = recent_labeled_batches(db, window)
    frame, truth = read_labeled(db, TARGETS[problem], batches)
    try:
        data = make_training_data(frame, truth, problem, seed, val_size, test_size, min_rows)
    except NotEnoughDataError as exc:
        run_logger(__name__).warning("training skipped: %s", exc)
        return None
    data.lineage["window_batches"] = window
    return data


def window_split(frame: pd.DataFrame, newest_batch: str, problem: Problem, seed: int, holdout_share: float,
                 val_size: float) -> dict:
    """Holdout = a stratified share of the newest batch (no model has seen it); the rest of the window trains.

    The champion never saw the newest batch, and the challenger never sees the holdout: both are judged on
    the same recent rows.
    """
    target = TARGETS[problem]
    newest = frame[frame["batch_id"] == newest_batch]
    if len(newest) < 20:
        raise NotEnoughDataError(f"the newest batch {newest_batch!r} has {len(newest)} labeled students; the "
                                 "promotion holdout needs more")
    rest_ids, holdout = train_test_split(newest["student_id"].to_numpy(), test_size=holdout_share,
                                         random_state=seed, stratify=stratify_labels(newest[target], problem))
    train_pool = frame[~frame["student_id"].isin(holdout)]
    train, val = train_test_split(train_pool["student_id"].to_numpy(), test_size=val_size, random_state=seed,
                                  stratify=stratify_labels(train_pool[target], problem))
    return {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(holdout.tolist())}


@task(name="load-window", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def load_window(newest_batch: str, window: int | Literal["all"], problem: Problem, seed: int, holdout_share: float,
                val_size: float, min_rows: int) -> TrainingData:
    """The recent labeled window only (older batches are never read), split for a fair champion/challenger test."""
    db = get_database()
    recent = recent_labeled_batches(db, window, newest=newest_batch)
    frame, truth = read_labeled(db, TARGETS[problem], recent)
    split = window_split(frame, newest_batch, problem, seed, holdout_share, val_size)
    data = make_training_data(frame, truth, problem, seed, min_rows=min_rows, split_ids=split)
    data.lineage["window_batches"] = window
    return data
