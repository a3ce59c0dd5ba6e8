"""Performance without labels (pure): the champion's expected accuracy on a batch from its calibrated
probabilities (the calibration is fitted at registration: ``tasks/registry/calibration.py``).

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
