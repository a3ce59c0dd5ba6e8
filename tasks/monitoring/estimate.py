"""Performance without labels (pure): the champion's expected accuracy on a batch from its calibrated
probabilities, and the calibration that makes them trustworthy.

Confidence-based estimation (NannyML's CBPE): if ``q`` is a calibrated probability that a student is a high
performer and the model predicted class ``c``, the prediction is right with probability ``q`` (c = 1) or
``1 - q`` (c = 0); the batch's expected accuracy is the mean of those. The realised accuracy is a sum of
independent Bernoulli draws with those probabilities, so its sampling interval follows from their variance.

It tracks covariate shift (the mix of students changes, the relation between features and outcome does not);
it cannot see concept drift (grades that mean something else now, or an outcome that depends on other things):
then the probabilities are confidently wrong and the estimate stays optimistic. Labels still decide.

Regression has no estimate: our regression models give a point prediction without a predictive distribution,
so there is nothing to take the expectation of the absolute error over. (NannyML's DLE trains a second model to
predict the absolute error; that is a model of its own to fit, register and check, not done here.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from sklearn.isotonic import IsotonicRegression

ECE_BINS = 10


@dataclass(frozen=True)
class Estimate:
    """A batch's expected accuracy without labels, with its sampling interval."""

    metric: str
    value: float
    low: float
    high: float
    rows: int
    calibration: str  # "isotonic", "none" (raw probabilities were better), or "not measured" (older versions)


def expected_calibration_error(probabilities, labels, bins: int = ECE_BINS) -> float:
    """Mean |observed share - mean probability| over equal-width probability bins, weighted by the bin's rows."""
    p, y = np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=float)
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    return float(sum(abs(p[index == b].mean() - y[index == b].mean()) * (index == b).mean()
                     for b in range(bins) if (index == b).any()))


def correct_probabilities(predicted, probabilities) -> np.ndarray:
    """Each prediction's chance of being right: q for a predicted 1, 1 - q for a predicted 0."""
    q = np.asarray(probabilities, dtype=float)
    return np.where(np.asarray(predicted).astype(int) == 1, q, 1 - q)


def apply_calibration(calibration: dict | None, probabilities) -> np.ndarray:
    """Calibrated probabilities: the stored isotonic map (piecewise linear between its points), else as they are."""
    p = np.asarray(probabilities, dtype=float)
    if not calibration or calibration.get("method") != "isotonic":
        return p
    return np.interp(p, calibration["x"], calibration["y"])


def fit_calibration(fit_probabilities, fit_labels, check_probabilities, check_labels, check_predicted) -> dict:
    """Fit an isotonic map on one held-out part (validation) and keep it only if it calibrates better on
    another (test): both parts' sizes and the numbers behind the choice are kept with the map."""
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
        np.asarray(fit_probabilities, dtype=float), np.asarray(fit_labels, dtype=float))
    fitted = {"method": "isotonic", "x": [float(v) for v in isotonic.X_thresholds_],
              "y": [float(v) for v in isotonic.y_thresholds_]}
    raw = np.asarray(check_probabilities, dtype=float)
    calibrated = apply_calibration(fitted, raw)
    y = np.asarray(check_labels, dtype=int)
    accuracy = float((np.asarray(check_predicted).astype(int) == y).mean())
    numbers = {
        "fitted_on": "val", "fit_rows": len(fit_labels), "checked_on": "test", "check_rows": len(y),
        "ece_raw": expected_calibration_error(raw, y), "ece_calibrated": expected_calibration_error(calibrated, y),
        "accuracy": accuracy,
        "estimate_raw": float(correct_probabilities(check_predicted, raw).mean()),
        "estimate_calibrated": float(correct_probabilities(check_predicted, calibrated).mean()),
    }
    if numbers["ece_calibrated"] < numbers["ece_raw"]:
        return {**fitted, **numbers}
    return {"method": "none", **numbers}


def expected_accuracy(predicted, probabilities, calibration: dict | None, level: float = 0.95) -> Estimate:
    """The expected accuracy of ``predicted`` classes given the model's probabilities of class 1, and the
    interval the realised accuracy falls in with probability ``level`` if the probabilities are right."""
    chance = correct_probabilities(predicted, apply_calibration(calibration, probabilities))
    n = len(chance)
    value = float(chance.mean())
    half = float(norm.ppf(0.5 + level / 2) * np.sqrt((chance * (1 - chance)).sum()) / n)
    method = calibration.get("method", "none") if calibration else "not measured"
    return Estimate("accuracy", value, max(0.0, value - half), min(1.0, value + half), n, method)
