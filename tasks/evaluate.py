"""Metrics, the oracle (the best any model could do), feature importance and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score, confusion_matrix, f1_score, matthews_corrcoef, mean_absolute_error, precision_score, r2_score,
    recall_score, roc_auc_score, roc_curve, root_mean_squared_error,
)

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.dataset import Problem, TrainingData

PRIMARY = {"classification": ("roc_auc", True), "regression": ("mae", False)}  # metric, higher is better


def classification_metrics(y_true, y_pred, y_score) -> dict:
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
    return {"mae": float(mean_absolute_error(y_true, y_pred)), "rmse": float(root_mean_squared_error(y_true, y_pred)),
            "r2": float(r2_score(y_true, y_pred))}


def score_model(model, X: pd.DataFrame, y: pd.Series, problem: Problem) -> dict:
    if problem == "classification":
        return classification_metrics(y, model.predict(X), model.predict_proba(X)[:, 1])
    return regression_metrics(y, model.predict(X))


def oracle_metrics(truth: pd.DataFrame, y: pd.Series, problem: Problem) -> dict | None:
    """Metrics of the true outcome probability / expected score: no model can do better on average."""
    if truth["p_high_performer"].isna().any():
        return None  # data without a known truth (e.g. loaded from a file)
    if problem == "classification":
        p = truth["p_high_performer"].to_numpy()
        return classification_metrics(y, (p >= 0.5).astype(int), p)
    return regression_metrics(y, truth["expected_score"].clip(0, 100))


def evaluate(model, data: TrainingData) -> dict:
    """Validation metrics (used to choose) and test metrics (reported)."""
    return {part: score_model(model, data.X[part], data.y[part], data.problem) for part in ("val", "test")}


def feature_importance(model, data: TrainingData, seed: int) -> dict:
    """The model's own importance (when it has one) and permutation importance on validation data."""
    pre, estimator = model.named_steps["pre"], model.named_steps["model"]
    own: dict[str, float] = {}
    names = list(pre.get_feature_names_out())
    if hasattr(estimator, "feature_importances_"):
        own = dict(zip(names, map(float, estimator.feature_importances_), strict=True))
    elif hasattr(estimator, "coef_"):
        own = dict(zip(names, map(float, np.abs(np.ravel(estimator.coef_))), strict=True))
    scoring = "roc_auc" if data.problem == "classification" else "neg_mean_absolute_error"
    perm = permutation_importance(model, data.X["val"], data.y["val"], scoring=scoring, n_repeats=5,
                                  random_state=seed, n_jobs=1)
    permutation = dict(zip(data.X["val"].columns, map(float, perm.importances_mean), strict=True))
    return {"own": own, "permutation": permutation}


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(models: dict, data: TrainingData, oracle: bool, path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, model in models.items():
        fpr, tpr, _ = roc_curve(data.y["test"], model.predict_proba(data.X["test"])[:, 1])
        ax.plot(fpr, tpr, label=name)
    if oracle:
        fpr, tpr, _ = roc_curve(data.y["test"], data.truth["test"]["p_high_performer"])
        ax.plot(fpr, tpr, "k--", label="oracle")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.5)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the test split")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_confusion(model, data: TrainingData, title: str, path: Path) -> Path:
    plt = _figure()
    matrix = confusion_matrix(data.y["test"], model.predict(data.X["test"]))
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center")
    ax.set(xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="actual", title=title)
    return _save(fig, path)


def plot_importance(importance: dict, title: str, path: Path, top: int = 15) -> Path:
    plt = _figure()
    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(title=title, xlabel="importance")
    return _save(fig, path)


def plot_predicted_vs_actual(model, data: TrainingData, title: str, path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(data.y["test"], model.predict(data.X["test"]), s=6, alpha=0.4)
    ax.plot([0, 100], [0, 100], "k--", lw=0.8)
    ax.set(xlabel="actual final_score", ylabel="predicted", title=title)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


@task(name="evaluate-models", cache_policy=NO_CACHE)
def evaluate_models(trained: list, data: TrainingData, seed: int) -> dict:
    """Every model's validation and test metrics, importance for the real models, and the oracle's metrics."""
    rows = []
    for model in trained:
        row = {"algorithm": model.algorithm, **evaluate(model.pipeline, data), "train_seconds": model.seconds,
               "curve": model.curve}
        if model.algorithm != "baseline":
            row["importance"] = feature_importance(model.pipeline, data, seed)
        rows.append(row)
    oracle = {part: oracle_metrics(data.truth[part], data.y[part], data.problem) for part in ("val", "test")}
    return {"models": rows, "oracle": oracle if oracle["test"] is not None else None}
