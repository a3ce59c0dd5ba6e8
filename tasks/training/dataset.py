"""The training data (pure): labeled features split into model inputs, labels and the generator's truth (never
an input), seeded and stratified; the recent-window rule and the champion/challenger holdout."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from infra.errors import UserError
from validation.contracts import DEFAULT_CONTRACT, FeatureContract, Problem, ProblemSpec, problem_spec


class NotEnoughDataError(UserError, ValueError):
    """Too few labeled rows to train and evaluate honestly."""


class TooFewOfAClassError(UserError, ValueError):
    """The classification label holds one class, or too few of one, to train a classifier: a question to the
    user (their rule, their score's scale), not a reason to skip quietly."""


MIN_PER_CLASS = 5  # each class must reach every part of a stratified split (and a calibration fold)


def check_classes(labels: pd.Series, target: str) -> None:
    """A clear error when a classifier cannot be trained on these labels, saying what to check."""
    counts = labels.astype(bool).value_counts()
    positive, negative = int(counts.get(True, 0)), int(counts.get(False, 0))
    if min(positive, negative) < MIN_PER_CLASS:
        raise TooFewOfAClassError(
            f"the label {target} is true for {positive} and false for {negative} of {len(labels)} labeled rows; a "
            f"classifier needs at least {MIN_PER_CLASS} of each. Check the label rule (--label-rule, or labels.rule "
            "in the mapping) and the score's scale (labels.score.scale: a 0-20 score read as 0-100 puts every "
            "student below 70)")


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
    contract: FeatureContract = DEFAULT_CONTRACT  # the model inputs: our fields and the dataset's extras
    students: dict[str, pd.Series] = field(default_factory=dict)  # each row's student (folds keep a student whole)

    @property
    def spec(self) -> ProblemSpec:
        """The problem, described once."""
        return problem_spec(self.problem)


def stratify_labels(y: pd.Series, problem: Problem) -> pd.Series:
    """Classes for classification; quintiles of the score for regression."""
    return y.astype(int) if problem_spec(problem).classifies else pd.qcut(y, 5, labels=False, duplicates="drop")


def in_term_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by student, and a student's terms in the order their batches came (a stable sort)."""
    keys = ["student_id", "batch_seq"] if "batch_seq" in frame else ["student_id"]
    return frame.sort_values(keys, kind="stable")


def students_of(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """One row per student (sorted by id) with the label of the student's newest row: what a split stratifies on.
    A student who came back for several labeled terms is one unit: all of the student's rows go to one part."""
    return frame.drop_duplicates("student_id", keep="last")[["student_id", target]].reset_index(drop=True)


def split_frame(frame: pd.DataFrame, problem: Problem, seed: int, val_size: float, test_size: float) -> dict:
    """Seeded, stratified train / validation / test student ids (students, not rows: ``frame`` is sorted by
    student and batch)."""
    students = students_of(frame, problem_spec(problem).target)
    ids, y = students["student_id"].to_numpy(), students.iloc[:, 1]
    rest, test = train_test_split(ids, test_size=test_size, random_state=seed, stratify=stratify_labels(y, problem))
    rest_y = y[students["student_id"].isin(rest).to_numpy()]
    train, val = train_test_split(np.sort(rest), test_size=val_size / (1 - test_size), random_state=seed,
                                  stratify=stratify_labels(rest_y.reset_index(drop=True), problem))
    return {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(test.tolist())}


def data_hash(frame: pd.DataFrame) -> str:
    """A content hash of the training frame (rows sorted by student): the data's identity in lineage."""
    ordered = frame.sort_values("student_id", kind="stable").reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes()).hexdigest()


def make_training_data(frame: pd.DataFrame, truth: pd.DataFrame, problem: Problem, seed: int, val_size: float,
                       test_size: float, min_rows: int, split_ids: dict | None = None,
                       contract: FeatureContract = DEFAULT_CONTRACT) -> TrainingData:
    """Split (or use the given split of) labeled features into model inputs, labels and truth per part.

    Rows are (student, batch): a student labeled in several terms has several rows, all in the same part (the
    split is by student). The truth is matched by student and batch when it names its batch, else by student."""
    target = problem_spec(problem).target
    frame = in_term_order(frame[frame[target].notna()]).reset_index(drop=True)
    if len(frame) < min_rows:
        raise NotEnoughDataError(f"{len(frame)} labeled rows in students_features; training needs at least "
                                 f"{min_rows}. Ingest a labeled batch first (python flows/main.py --kind labeled).")
    if problem_spec(problem).classifies:
        check_classes(frame[target], target)
    split_ids = split_ids or split_frame(frame, problem, seed, val_size, test_size)
    keys = ["student_id", "batch_id"] if "batch_id" in truth else ["student_id"]
    truth = frame[keys].merge(truth.drop_duplicates(keys), on=keys, how="left")  # aligned with frame's rows
    X, y, t, who = {}, {}, {}, {}
    label_type = int if problem_spec(problem).classifies else float
    for part, ids in split_ids.items():
        rows = frame["student_id"].isin(ids).to_numpy()
        X[part] = frame.loc[rows, contract.features].reset_index(drop=True)
        y[part] = frame.loc[rows, target].astype(label_type).reset_index(drop=True)
        t[part] = truth.loc[rows, ["p_high_performer", "expected_score"]].reset_index(drop=True)
        who[part] = frame.loc[rows, "student_id"].reset_index(drop=True)
    lineage = {"batches": sorted(frame["batch_id"].unique().tolist()), "rows": len(frame),
               "data_sha256": data_hash(frame[["student_id", *contract.features, target]]), "split_seed": seed,
               "split_sizes": {k: len(v) for k, v in split_ids.items()},
               "students": int(frame["student_id"].nunique())}
    return TrainingData(problem, target, X, y, t, split_ids, lineage, contract, who)


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
    frame = in_term_order(frame)
    newest = frame[frame["batch_id"] == newest_batch]
    if len(newest) < min_holdout_rows:
        raise NotEnoughDataError(f"the newest batch {newest_batch!r} has {len(newest)} labeled students; the "
                                 "promotion holdout needs more")
    rest_ids, holdout = train_test_split(newest["student_id"].to_numpy(), test_size=holdout_share,
                                         random_state=seed, stratify=stratify_labels(newest[target], problem))
    # a holdout student's earlier terms stay out of training too: the challenger never sees a holdout student
    pool = students_of(frame[~frame["student_id"].isin(holdout)], target)
    train, val = train_test_split(pool["student_id"].to_numpy(), test_size=val_size, random_state=seed,
                                  stratify=stratify_labels(pool[target], problem))
    return {"train": sorted(train.tolist()), "val": sorted(val.tolist()), "test": sorted(holdout.tolist())}


def without_holdouts_other_terms(frame: pd.DataFrame, holdout: list[int], newest_batch: str) -> pd.DataFrame:
    """The window without the holdout students' rows of other batches: the holdout is their newest term alone,
    and their earlier terms train nothing (the challenger never sees a holdout student)."""
    return frame[~(frame["student_id"].isin(holdout) & (frame["batch_id"] != newest_batch))]
