"""What the champion's own outputs say (pure): its live performance once labels arrive for students it scored,
and whether its predicted-class mix moved away from its reference."""

from __future__ import annotations

import pandas as pd

from tasks.monitoring.drift import prediction_drift
from tasks.monitoring.params import DriftParams
from tasks.monitoring.results import LivePerformance


def live_performance(labels: pd.DataFrame, predictions: pd.DataFrame, target: str, model: dict,
                     min_rows: int) -> LivePerformance:
    """Join labels (student_id, target) with the champion's earlier predictions (student_id, prediction) and
    compare with its test metric at registration: accuracy for classification, MAE for regression."""
    version = model["version"]
    joined = labels.merge(predictions.drop_duplicates("student_id"), on="student_id")
    if len(joined) < min_rows:
        return LivePerformance("insufficient_data", len(joined), version)
    if model["problem"] == "classification":
        live = float((joined["prediction"].astype(int) == joined[target].astype(int)).mean())
        reference = model["metrics"]["test"]["accuracy"]
        return LivePerformance("ok", len(joined), version, "accuracy", live, reference, reference - live)
    live = float((joined["prediction"] - joined[target]).abs().mean())
    reference = model["metrics"]["test"]["mae"]
    return LivePerformance("ok", len(joined), version, "mae", live, reference, live - reference)


def check_predictions(reference_predictions: pd.Series, predicted: list, problem: str, drift_status: str,
                      settings: DriftParams) -> dict | None:
    """Prediction drift (classes only), when there are predictions and enough data to say anything."""
    if not predicted or problem != "classification" or drift_status == "insufficient_data":
        return None
    return prediction_drift(reference_predictions, predicted, settings)
