"""How models are judged (pure): metrics on validation (to choose) and test (to report), the oracle (the
generator's truth: the best any model could do), feature importance, the leaderboard with the best model's
gap to the oracle, and the baseline's score that a first champion has to beat."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    matthews_corrcoef,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from tasks.training.dataset import TrainingData
from tasks.training.results import Evaluation, RegisteredModel
from validation.contracts import Problem, problem_spec


def classification_metrics(y_true, y_pred, y_score) -> dict:
    """Accuracy, precision, recall, F1, MCC and ROC AUC (NaN when the labels hold one class)."""
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    single_class = len(np.unique(y_true)) < 2
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
        "roc_auc": float("nan") if single_class else float(roc_auc_score(y_true, y_score)),
    }


def regression_metrics(y_true, y_pred) -> dict:
    """MAE, RMSE and R2."""
    return {"mae": float(mean_absolute_error(y_true, y_pred)), "rmse": float(root_mean_squared_error(y_true, y_pred)),
            "r2": float(r2_score(y_true, y_pred))}


def score_model(model, X: pd.DataFrame, y: pd.Series, problem: Problem) -> dict:
    """The problem's metrics of ``model`` on ``X``, ``y``."""
    if problem_spec(problem).classifies:
        return classification_metrics(y, model.predict(X), model.predict_proba(X)[:, 1])
    return regression_metrics(y, model.predict(X))


def oracle_metrics(truth: pd.DataFrame, y: pd.Series, problem: Problem) -> dict | None:
    """Metrics of the true outcome probability / expected score: no model can do better on average."""
    if truth["p_high_performer"].isna().any():
        return None  # data without a known truth (e.g. loaded from a file)
    if problem_spec(problem).classifies:
        p = truth["p_high_performer"].to_numpy()
        return classification_metrics(y, (p >= 0.5).astype(int), p)
    return regression_metrics(y, truth["expected_score"].clip(0, 100))


def evaluate(model, data: TrainingData) -> dict:
    """Validation metrics (used to choose) and test metrics (reported)."""
    return {part: score_model(model, data.X[part], data.y[part], data.problem) for part in ("val", "test")}


def feature_importance(model, data: TrainingData, seed: int, repeats: int) -> dict:
    """The model's own importance (when it has one) and permutation importance on validation data."""
    pre, estimator = model.named_steps["pre"], model.named_steps["model"]
    own: dict[str, float] = {}
    names = list(pre.get_feature_names_out())
    if hasattr(estimator, "feature_importances_"):
        own = dict(zip(names, map(float, estimator.feature_importances_), strict=True))
    elif hasattr(estimator, "coef_"):
        own = dict(zip(names, map(float, np.abs(np.ravel(estimator.coef_))), strict=True))
    scoring = problem_spec(data.problem).scoring
    perm = permutation_importance(model, data.X["val"], data.y["val"], scoring=scoring, n_repeats=repeats,
                                  random_state=seed, n_jobs=1)
    permutation = dict(zip(data.X["val"].columns, map(float, perm.importances_mean), strict=True))
    return {"own": own, "permutation": permutation}


def leaderboard(evaluation: Evaluation, registered: list[RegisteredModel], problem: str) -> list[dict]:
    """One row per model plus the baseline and the oracle, best validation score first; plain floats only."""
    spec = problem_spec(problem)
    metric, higher = spec.primary, spec.higher_is_better
    versions = {r.algorithm: r.version for r in registered}
    rows = []
    for row in evaluation.models:
        rows.append({"model": row["algorithm"], "version": versions.get(row["algorithm"]),
                     f"val_{metric}": _round(row["val"][metric]),
                     **{f"test_{m}": _round(row["test"][m]) for m in spec.shown},
                     "train_seconds": row["train_seconds"]})
    sign = -1 if higher else 1

    def order(row: dict) -> tuple:  # best first, unscored models after scored ones, the baseline last
        score = row[f"val_{metric}"]
        return row["model"] == "baseline", score is None, 0.0 if score is None else sign * score

    rows.sort(key=order)
    if evaluation.oracle:
        rows.append({"model": spec.oracle, "version": None,
                     f"val_{metric}": _round(evaluation.oracle["val"][metric]),
                     **{f"test_{m}": _round(evaluation.oracle["test"][m]) for m in spec.shown},
                     "train_seconds": None})
    return rows


def _round(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def best_and_gap(rows: list[dict], problem: str) -> tuple[str, float | None]:
    """The leaderboard's best model (its first row) and its test distance to the oracle (its last row, when the
    truth is known)."""
    metric = problem_spec(problem).primary
    best, oracle = rows[0], rows[-1]
    if not oracle["model"].startswith("oracle") or best[f"test_{metric}"] is None:
        return best["model"], None
    return best["model"], round(abs(oracle[f"test_{metric}"] - best[f"test_{metric}"]), 4)


def baseline_score(evaluation: Evaluation, problem: str) -> float:
    """The baseline's validation score on the primary metric (what a champion has to beat)."""
    metric = problem_spec(problem).primary
    return next(row["val"][metric] for row in evaluation.models if row["algorithm"] == "baseline")
