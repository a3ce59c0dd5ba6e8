"""Training plots (ROC with the oracle, confusion matrix, importance, predicted vs actual) as PNG bytes; the
task that publishes the report writes them."""

from __future__ import annotations

import io

import numpy as np
from sklearn.metrics import confusion_matrix, roc_curve

from tasks.training.dataset import TrainingData


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(models: dict, data: TrainingData, oracle: bool) -> bytes:
    """Every model's ROC curve on the test split, with the oracle's when the truth is known."""
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
    return _png(fig)


def plot_confusion(model, data: TrainingData, title: str) -> bytes:
    """The model's confusion matrix on the test split."""
    plt = _figure()
    matrix = confusion_matrix(data.y["test"], model.predict(data.X["test"]))
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center")
    ax.set(xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="actual", title=title)
    return _png(fig)


def plot_importance(importance: dict, title: str, top: int = 15) -> bytes:
    """The ``top`` most important features as horizontal bars."""
    plt = _figure()
    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(title=title, xlabel="importance")
    return _png(fig)


def plot_predicted_vs_actual(model, data: TrainingData, title: str) -> bytes:
    """Predicted against actual final_score on the test split."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(data.y["test"], model.predict(data.X["test"]), s=6, alpha=0.4)
    ax.plot([0, 100], [0, 100], "k--", lw=0.8)
    ax.set(xlabel="actual final_score", ylabel="predicted", title=title)
    return _png(fig)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()
