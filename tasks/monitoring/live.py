"""What the champion's own outputs say (pure): its live performance once labels arrive for students it scored
(beside what the label-free estimate said about the same rows), and whether its predicted-class mix moved away
from its reference."""

from __future__ import annotations

import pandas as pd

from tasks.monitoring.drift import prediction_drift
from tasks.monitoring.estimate import expected_accuracy
from tasks.monitoring.params import DriftParams
from tasks.monitoring.results import LivePerformance
from validation.contracts import problem_spec


def live_performance(labels: pd.DataFrame, predictions: pd.DataFrame, target: str, model: dict,
                     min_rows: int, level: float) -> LivePerformance:
    """Join labels (student_id, target) with the champion's earlier predictions (student_id, prediction, and the
    logged probability when there is one) and compare with its test metric at registration: accuracy for
    classification (with the label-free estimate over the same rows), MAE for regression."""
    version = model["version"]
    joined = labels.merge(predictions.drop_duplicates("student_id"), on="student_id")
    if len(joined) < min_rows:
        return LivePerformance("insufficient_data", len(joined), version)
    if problem_spec(model["problem"]).classifies:
        live = float((joined["prediction"].astype(int) == joined[target].astype(int)).mean())
        reference = model["metrics"]["test"]["accuracy"]
        estimated = None
        if "probability" in joined and joined["probability"].notna().all():
            estimated = expected_accuracy(joined["prediction"], joined["probability"], model.get("calibration"),
                                          level).value
        return LivePerformance("ok", len(joined), version, "accuracy", live, reference, reference - live, estimated,
                               None if estimated is None else live - estimated)
    live = float((joined["prediction"] - joined[target]).abs().mean())
    reference = model["metrics"]["test"]["mae"]
    return LivePerformance("ok", len(joined), version, "mae", live, reference, live - reference)


def realised_by_batch(labels: pd.DataFrame, predictions: pd.DataFrame, target: str, model: dict,
                      level: float) -> list[dict]:
    """For each scored batch the labels cover: the realised accuracy beside the label-free estimate over the same
    students (classification, predictions with their batch and probability), and whether it fell inside the
    estimate's interval at ``level``."""
    if not problem_spec(model["problem"]).classifies or "batch_id" not in predictions:
        return []
    joined = labels.merge(predictions.drop_duplicates("student_id"), on="student_id").dropna(subset=["probability"])
    rows = []
    for batch_id, part in joined.groupby("batch_id"):
        estimate = expected_accuracy(part["prediction"], part["probability"], model.get("calibration"), level)
        realised = float((part["prediction"].astype(int) == part[target].astype(int)).mean())
        rows.append({"batch_id": batch_id, "rows": len(part), "realised": realised, "estimated": estimate.value,
                     "low": estimate.low, "high": estimate.high, "error": realised - estimate.value,
                     "inside": bool(estimate.low <= realised <= estimate.high)})
    return rows


def check_predictions(reference_predictions: pd.Series, predicted: list, problem: str, drift_status: str,
                      settings: DriftParams) -> dict | None:
    """Prediction drift (classes only), when there are predictions and enough data to say anything."""
    if not predicted or not problem_spec(problem).classifies or drift_status == "insufficient_data":
        return None
    return prediction_drift(reference_predictions, predicted, settings)
