"""What the labels say about the champion (pure): its live performance once labels arrive for students it scored,
beside what the label-free estimate said about the same rows. (Whether its predicted-class mix moved is a kind of
drift check: ``tasks/monitoring/drift.py``.)"""

from __future__ import annotations

import pandas as pd

from tasks.monitoring.estimate import expected_accuracy, expected_rates
from tasks.monitoring.results import LivePerformance
from tasks.registry.results import ModelVersion


def latest_per_student(predictions: pd.DataFrame) -> pd.DataFrame:
    """Each student's newest prediction (a student who comes back each term was scored each term: the newest is
    the one the labels that just arrived answer)."""
    if "scored_at" in predictions and predictions["scored_at"].notna().any():
        predictions = predictions.sort_values("scored_at", ascending=False, kind="stable", na_position="last")
    return predictions.drop_duplicates("student_id")


def live_performance(labels: pd.DataFrame, predictions: pd.DataFrame, target: str, model: ModelVersion,
                     min_rows: int, level: float) -> LivePerformance:
    """Join labels (student_id, target) with the champion's earlier predictions (student_id, prediction, and the
    logged probability when there is one) and compare with its test metric at registration: accuracy for
    classification (with the label-free estimate over the same rows), MAE for regression."""
    version = model.version
    joined = labels.merge(latest_per_student(predictions), on="student_id")
    if len(joined) < min_rows:
        return LivePerformance("insufficient_data", len(joined), version, needed=min_rows)
    if model.spec.classifies:
        live = float((joined["prediction"].astype(int) == joined[target].astype(int)).mean())
        rates = realised_rates(joined["prediction"], joined[target])
        reference = model.live_reference
        estimated = None
        if "probability" in joined and joined["probability"].notna().all():
            estimated = expected_accuracy(joined["prediction"], joined["probability"], model.calibration,
                                          level).value
        return LivePerformance("ok", len(joined), version, model.spec.live_metric, live, reference, reference - live,
                               estimated, None if estimated is None else live - estimated, rates)
    live = float((joined["prediction"] - joined[target]).abs().mean())
    reference = model.live_reference
    return LivePerformance("ok", len(joined), version, model.spec.live_metric, live, reference, live - reference)


def realised_rates(predicted, labels) -> dict:
    """The positive class's precision (of the flagged, how many were positive) and recall (of the positives, how
    many were flagged), each with the students it is measured on; a rate with no students is left out."""
    flagged = pd.Series(predicted).astype(int).to_numpy() == 1
    positive = pd.Series(labels).astype(int).to_numpy() == 1
    out = {}
    if flagged.any():
        out["precision"] = {"value": float((flagged & positive).sum() / flagged.sum()), "rows": int(flagged.sum())}
    if positive.any():
        out["recall"] = {"value": float((flagged & positive).sum() / positive.sum()), "rows": int(positive.sum())}
    return out


def realised_by_batch(labels: pd.DataFrame, predictions: pd.DataFrame, target: str, model: ModelVersion,
                      level: float) -> list[dict]:
    """For each scored batch the labels cover: the realised accuracy beside the label-free estimate over the same
    students (classification, predictions with their batch and probability), and whether it fell inside the
    estimate's interval at ``level``."""
    if not model.spec.classifies or "batch_id" not in predictions:
        return []
    joined = labels.merge(latest_per_student(predictions), on="student_id").dropna(subset=["probability"])
    rows = []
    for batch_id, part in joined.groupby("batch_id"):
        estimate = expected_accuracy(part["prediction"], part["probability"], model.calibration, level)
        realised = float((part["prediction"].astype(int) == part[target].astype(int)).mean())
        truth = realised_rates(part["prediction"], part[target])
        rates = {name: {"estimated": r.value, "low": r.low, "high": r.high, "realised": truth[name]["value"],
                        "inside": bool(r.low <= truth[name]["value"] <= r.high)}
                 for name, r in expected_rates(part["prediction"], part["probability"], model.calibration,
                                               level).items() if name in truth}
        rows.append({"batch_id": batch_id, "rows": len(part), "realised": realised, "estimated": estimate.value,
                     "low": estimate.low, "high": estimate.high, "error": realised - estimate.value,
                     "inside": bool(estimate.low <= realised <= estimate.high), "rates": rates})
    return rows
