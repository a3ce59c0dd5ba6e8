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


def cross_validate(model, data: TrainingData, k: int, repeats: int, seed: int) -> dict:
    """Repeated stratified k-fold cross-validation of ``model``'s configuration (refitted from scratch per fold) over
    every labeled row, a student's rows always in one fold: each metric's mean over the ``k * repeats`` folds, its
    sd, and the 2.5-97.5% range of the fold scores (what one test split of this size could have shown)."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold

    from tasks.training.dataset import stratify_labels

    X = pd.concat(list(data.X.values()), ignore_index=True)
    y = pd.concat(list(data.y.values()), ignore_index=True)
    groups = pd.concat(list(data.students.values()), ignore_index=True)
    strata = stratify_labels(y, data.problem)
    scores: dict[str, list[float]] = {}
    for repeat in range(repeats):
        folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed + repeat)
        for train, test in folds.split(X, strata, groups):
            fitted = clone(model).fit(X.iloc[train], y.iloc[train])
            for metric, value in score_model(fitted, X.iloc[test], y.iloc[test], data.problem).items():
                scores.setdefault(metric, []).append(value)
    summary = {metric: {"mean": float(np.nanmean(values)), "sd": float(np.nanstd(values, ddof=1)),
                        "low": float(np.nanquantile(values, 0.025)), "high": float(np.nanquantile(values, 0.975))}
               for metric, values in scores.items()}
    return {"k": k, "repeats": repeats, "folds": k * repeats, "rows": len(X), "students": int(groups.nunique()),
            "metrics": summary}


def small_data_note(evaluation: Evaluation, problem: str) -> str | None:
    """What the leaderboard says when the data was small (cross-validated): how the numbers were made, and which
    models cannot be told apart from the best (their mean inside the best's range of fold scores)."""
    rows = [row for row in evaluation.models if row.get("cv")]
    if not rows:
        return None
    spec = problem_spec(problem)
    metric, sign = spec.primary, 1 if spec.higher_is_better else -1
    best = max(rows, key=lambda row: sign * row["cv"]["metrics"][metric]["mean"])
    low, high = best["cv"]["metrics"][metric]["low"], best["cv"]["metrics"][metric]["high"]
    alike = [row["algorithm"] for row in rows
             if row is not best and low <= row["cv"]["metrics"][metric]["mean"] <= high]
    cv = best["cv"]
    return (f"Small data ({cv['students']} students): every metric is the mean of {cv['repeats']} x {cv['k']}-fold "
            f"cross-validation with the 2.5-97.5% range of its {cv['folds']} fold scores (one test split could "
            f"have shown anything in that range). Models are chosen by the cross-validated {spec.label}. "
            + (f"Too small to tell {', '.join(alike)} from {best['algorithm']} (their means lie in its range "
               f"{low:.3f}-{high:.3f})." if alike else f"{best['algorithm']} is ahead of every other model's mean."))


def primary_score(row: dict, problem: str) -> float:
    """The score that chooses models: the cross-validated mean when the data was small, else validation."""
    metric = problem_spec(problem).primary
    return row["cv"]["metrics"][metric]["mean"] if row.get("cv") else row["val"][metric]


def evaluate(model, data: TrainingData) -> dict:
    """Validation metrics (used to choose) and test metrics (reported)."""
    return {part: score_model(model, data.X[part], data.y[part], data.problem) for part in ("val", "test")}


def feature_importance(model, data: TrainingData, seed: int, repeats: int, rows: int | None = None) -> dict:
    """The model's own importance (when it has one) and permutation importance on validation data: on at most
    ``rows`` students of it (a seeded sample), since each feature's shuffles predict the whole set again. Measured at
    24,000 validation students: 5,000 moved no importance by more than 0.0015 (ROC AUC), kept each model's top three,
    and took the random forest's 48.5 s to 14.3 s."""
    pre, estimator = model.named_steps["pre"], model.named_steps["model"]
    own: dict[str, float] = {}
    names = list(pre.get_feature_names_out())
    if hasattr(estimator, "feature_importances_"):
        own = dict(zip(names, map(float, estimator.feature_importances_), strict=True))
    elif hasattr(estimator, "coef_"):
        own = dict(zip(names, map(float, np.abs(np.ravel(estimator.coef_))), strict=True))
    scoring = problem_spec(data.problem).scoring
    X, y = data.X["val"], data.y["val"]
    if rows is not None and len(X) > rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), size=rows, replace=False))
        X, y = X.iloc[keep], y.iloc[keep] if hasattr(y, "iloc") else y[keep]
    perm = permutation_importance(model, X, y, scoring=scoring, n_repeats=repeats, random_state=seed, n_jobs=1)
    permutation = dict(zip(X.columns, map(float, perm.importances_mean), strict=True))
    return {"own": own, "permutation": permutation}


def leaderboard(evaluation: Evaluation, registered: list[RegisteredModel], problem: str) -> list[dict]:
    """One row per model plus the baseline and the oracle, best validation score first; plain floats only."""
    spec = problem_spec(problem)
    metric, higher = spec.primary, spec.higher_is_better
    versions = {r.algorithm: r.version for r in registered}
    rows = []
    for row in evaluation.models:
        cv = row["cv"]["metrics"][metric] if row.get("cv") else None
        rows.append({"model": row["algorithm"], "version": versions.get(row["algorithm"]),
                     **({f"cv_{metric}": _round(cv["mean"]), f"cv_{metric}_low": _round(cv["low"]),
                         f"cv_{metric}_high": _round(cv["high"])} if cv else {}),
                     f"val_{metric}": _round(row["val"][metric]),
                     **{f"test_{m}": _round(row["test"][m]) for m in spec.shown},
                     "train_seconds": row["train_seconds"]})
    sign = -1 if higher else 1
    key = f"cv_{metric}" if rows and f"cv_{metric}" in rows[0] else f"val_{metric}"

    def order(row: dict) -> tuple:  # best first, unscored models after scored ones, the baseline last
        score = row[key]
        return row["model"] == "baseline", score is None, 0.0 if score is None else sign * score

    rows.sort(key=order)
    if evaluation.oracle:
        rows.append({"model": spec.oracle, "version": None,
                     **({f"cv_{metric}": None, f"cv_{metric}_low": None, f"cv_{metric}_high": None}
                        if key.startswith("cv_") else {}),
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
    return next(primary_score(row, problem) for row in evaluation.models if row["algorithm"] == "baseline")
