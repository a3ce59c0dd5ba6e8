"""Performance without labels (pure): the champion's expected accuracy on a batch from its calibrated
probabilities (the calibration is fitted at registration: ``tasks/registry/calibration.py``).

Confidence-based estimation (NannyML's CBPE): if ``q`` is a calibrated probability that a student is a high
performer and the model predicted class ``c``, the prediction is right with probability ``q`` (c = 1) or
``1 - q`` (c = 0); the batch's expected accuracy is the mean of those. The realised accuracy is a sum of
independent Bernoulli draws with those probabilities, so its sampling interval follows from their variance.

It tracks covariate shift (the mix of students changes, the relation between features and outcome does not);
it cannot see concept drift (grades that mean something else now, or an outcome that depends on other things):
then the probabilities are confidently wrong and the estimate stays optimistic. Labels still decide.

Regression: a point prediction has no predictive distribution to take the expected error over, so a second model
fitted at registration predicts each student's absolute error (direct loss estimation, NannyML's DLE:
``tasks/registry/loss.py``); the batch's expected MAE is their mean (``expected_mae``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from tasks.registry.calibration import apply_calibration, correct_probabilities


@dataclass(frozen=True)
class Estimate:
    """A batch's expected accuracy without labels, with its sampling interval."""

    metric: str
    value: float
    low: float
    high: float
    rows: int
    calibration: str  # "platt", "isotonic", "none" (raw probabilities were as good), or "not measured"


def expected_accuracy(predicted, probabilities, calibration: dict | None, level: float) -> Estimate:
    """The expected accuracy of ``predicted`` classes given the model's probabilities of class 1, and the
    interval the realised accuracy falls in with probability ``level``.

    Two things vary: the batch's own draws (a sum of Bernoulli variances) and the calibration, which was fitted on
    ``rows`` held-out students and so is sure of the model's accuracy only to about sqrt(a(1 - a) / rows); the
    interval adds the two variances (a calibration without ``rows``, from older versions, adds nothing)."""
    chance = correct_probabilities(predicted, apply_calibration(calibration, probabilities))
    n = len(chance)
    value = float(chance.mean())
    variance = (chance * (1 - chance)).sum() / n**2
    if calibration and calibration.get("rows"):
        variance += (chance * (1 - chance)).mean() / calibration["rows"]
    half = float(norm.ppf(0.5 + level / 2) * np.sqrt(variance))
    method = calibration.get("method", "none") if calibration else "not measured"
    return Estimate("accuracy", value, max(0.0, value - half), min(1.0, value + half), n, method)


def expected_mae(errors, loss: dict | None, level: float) -> Estimate:
    """The batch's expected MAE from each student's predicted absolute error, and the interval its realised MAE
    falls in with probability ``level``: the students' own spread around their predicted errors (the loss model's
    cross-validated residual sd, per row) plus the loss model's uncertainty (the same sd over the rows it was
    fitted on)."""
    errors = np.asarray(errors, dtype=float)
    n = len(errors)
    value = float(errors.mean())
    spread = (loss or {}).get("residual_sd", float(errors.std()))
    rows = (loss or {}).get("rows")
    variance = spread**2 / n + (spread**2 / rows if rows else 0.0)
    half = float(norm.ppf(0.5 + level / 2) * np.sqrt(variance))
    return Estimate("mae", value, max(0.0, value - half), value + half, n, "dle" if loss else "not measured")


def expected_rates(predicted, probabilities, calibration: dict | None, level: float) -> dict[str, Estimate]:
    """The positive class's expected precision and recall (an at-risk list: how many flagged are at risk, how many
    at risk are flagged), from the calibrated probabilities ``q`` of the positive class.

    Precision: the flagged students' mean ``q`` (the flagged count is known, so this is its expectation), with the
    Bernoulli variance of their outcomes. Recall: expected true positives A = sum of the flagged students' ``q``
    over A + B, B the others' expected positives; the two sums are independent, so the delta method gives
    Var = (B^2 Var A + A^2 Var B) / (A + B)^4. Each interval also counts the calibration's own uncertainty, as the
    accuracy's does. A rate with no students to measure it on (nobody flagged; no expected positive) is left out."""
    q = apply_calibration(calibration, probabilities)
    flagged = np.asarray(predicted).astype(int) == 1
    z = norm.ppf(0.5 + level / 2)
    method = calibration.get("method", "none") if calibration else "not measured"
    rows = calibration.get("rows") if calibration else None
    out = {}
    if flagged.any():
        hit = q[flagged]
        value = float(hit.mean())
        variance = (hit * (1 - hit)).sum() / len(hit) ** 2 + ((hit * (1 - hit)).mean() / rows if rows else 0.0)
        half = float(z * np.sqrt(variance))
        out["precision"] = Estimate("precision", value, max(0.0, value - half), min(1.0, value + half),
                                    int(flagged.sum()), method)
    a, b = float(q[flagged].sum()), float(q[~flagged].sum())
    if a + b > 0:
        var_a, var_b = float((q[flagged] * (1 - q[flagged])).sum()), float((q[~flagged] * (1 - q[~flagged])).sum())
        value = a / (a + b)
        variance = (b**2 * var_a + a**2 * var_b) / (a + b) ** 4
        if rows:
            variance += value * (1 - value) / rows
        half = float(z * np.sqrt(variance))
        out["recall"] = Estimate("recall", value, max(0.0, value - half), min(1.0, value + half), len(q), method)
    return out
