"""The training data (pure): labeled features split into model inputs, labels and the generator's truth (never
an input), seeded and stratified; the recent-window rule and the champion/challenger holdout."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from infra.errors import UserError
from validation.contracts import FEATURES, Problem, problem_spec


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
    return y.astype(int) if problem_spec(problem).classifies else pd.qcut(y, 5, labels=False, duplicates="drop")


def split_frame(frame: pd.DataFrame, problem: Problem, seed: int, val_size: float, test_size: float) -> dict:
    """Seeded, stratified train / validation / test student ids."""
    ids = frame["student_id"].to_numpy()
    y = frame[problem_spec(problem).target]
    rest, test = train_test_split(ids, test_size=test_size, random_state=seed, stratify=stratify_labels(y, problem))
    rest_y = y[frame["student_id"].isin(rest).to_numpy()]
    train, val = train_test_split(np.sort(rest), test_size=val_size / (1 - test_size), random_state=seed,
                                  stratify=stratify_labels(rest_y.reset_index(drop=True), problem))
    return {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(test.tolist())}


def data_hash(frame: pd.DataFrame) -> str:
    """A content hash of the training frame (rows sorted by student): the data's identity in lineage."""
    ordered = frame.sort_values("student_id").reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes()).hexdigest()


def make_training_data(frame: pd.DataFrame, truth: pd.DataFrame, problem: Problem, seed: int, val_size: float,
                       test_size: float, min_rows: int, split_ids: dict | None = None) -> TrainingData:
    """Split (or use the given split of) labeled features into model inputs, labels and truth per part."""
    target = problem_spec(problem).target
    frame = frame[frame[target].notna()].sort_values("student_id").reset_index(drop=True)
    if len(frame) < min_rows:
        raise NotEnoughDataError(f"{len(frame)} labeled students in students_features; training needs at least "
                                 f"{min_rows}. Ingest a labeled batch first (python flows/main.py --kind labeled).")
    split_ids = split_ids or split_frame(frame, problem, seed, val_size, test_size)
    by_id = frame.set_index("student_id", drop=False)
    truth = truth.set_index("student_id").reindex(by_id.index)
    X, y, t = {}, {}, {}
    label_type = int if problem_spec(problem).classifies else float
    for part, ids in split_ids.items():
        X[part] = by_id.loc[ids, FEATURES].reset_index(drop=True)
        y[part] = by_id.loc[ids, target].astype(label_type).reset_index(drop=True)
        t[part] = truth.loc[ids, ["p_high_performer", "expected_score"]].reset_index(drop=True)
    lineage = {"batches": sorted(frame["batch_id"].unique().tolist()), "rows": len(frame),
               "data_sha256": data_hash(frame[["student_id", *FEATURES, target]]), "split_seed": seed,
               "split_sizes": {k: len(v) for k, v in split_ids.items()}}
    return TrainingData(problem, target, X, y, t, split_ids, lineage)


def choose_window(labeled_batches: list[str], window: int | Literal["all"],
                  newest: str | None = None) -> list[str] | None:
    """The training window: the ``window`` most recent of ``labeled_batches`` (newest first), with ``newest``
    always among them; None means every batch. Training reads only these, so its work does not grow with the
    store's history."""
    if window == "all":
        return None
    recent = labeled_batches[:window]
    if newest is not None and newest not in recent:
        recent = [newest, *recent[:window - 1]]
    return recent


def window_split(frame: pd.DataFrame, newest_batch: str, problem: Problem, seed: int, holdout_share: float,
                 val_size: float, min_holdout_rows: int) -> dict:
    """Holdout = a stratified share of the newest batch (no model has seen it); the rest of the window trains.

    The champion never saw the newest batch, and the challenger never sees the holdout: both are judged on
    the same recent rows.
    """
    target = problem_spec(problem).target
    newest = frame[frame["batch_id"] == newest_batch]
    if len(newest) < min_holdout_rows:
        raise NotEnoughDataError(f"the newest batch {newest_batch!r} has {len(newest)} labeled students; the "
                                 "promotion holdout needs more")
    rest_ids, holdout = train_test_split(newest["student_id"].to_numpy(), test_size=holdout_share,
                                         random_state=seed, stratify=stratify_labels(newest[target], problem))
    train_pool = frame[~frame["student_id"].isin(holdout)]
    train, val = train_test_split(train_pool["student_id"].to_numpy(), test_size=val_size, random_state=seed,
                                  stratify=stratify_labels(train_pool[target], problem))
    return {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(holdout.tolist())}
