"""How far a classifier's probabilities can be trusted (pure): the calibration chosen and fitted at registration on
its held-out rows, stored with the version, and applied wherever its probabilities are read as chances (the
label-free estimate). Registration needs it, so it lives with the registry."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

ECE_BINS = 10
CALIBRATION_FOLDS = 5
CALIBRATION_METHODS = ("none", "platt", "isotonic")  # simplest first


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


def _clipped_logit(probabilities) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def apply_calibration(calibration: dict | None, probabilities) -> np.ndarray:
    """Calibrated probabilities: Platt's map (a logistic curve of the logit), the isotonic map (piecewise linear
    between its points), else the probabilities as they are."""
    p = np.asarray(probabilities, dtype=float)
    method = (calibration or {}).get("method")
    if method == "platt":
        return 1 / (1 + np.exp(-(calibration["slope"] * _clipped_logit(p) + calibration["intercept"])))
    if method == "isotonic":
        return np.interp(p, calibration["x"], calibration["y"])
    return p


def _fit_map(method: str, probabilities: np.ndarray, labels: np.ndarray) -> dict:
    if method == "platt":
        fitted = LogisticRegression(C=1e6).fit(_clipped_logit(probabilities).reshape(-1, 1), labels)
        return {"method": "platt", "slope": float(fitted.coef_[0][0]), "intercept": float(fitted.intercept_[0])}
    if method == "isotonic":
        fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(probabilities, labels)
        return {"method": "isotonic", "x": [float(v) for v in fitted.X_thresholds_],
                "y": [float(v) for v in fitted.y_thresholds_]}
    return {"method": "none"}


def fit_calibration(probabilities, labels, predicted, folds: int = CALIBRATION_FOLDS, seed: int = 0) -> dict:
    """Choose and fit the calibration of a classifier's probabilities on its held-out rows (never trained on).

    Each candidate (none, Platt, isotonic) is fitted on k-1 folds and scored (Brier) on the fold left out; the
    lower cross-validated Brier score of none and Platt's two parameters wins, and isotonic, a step for every
    run of the data, replaces it only when better by more than a standard error (a flexible map must earn its
    place). The chosen map is then fitted on every row. The numbers behind the choice are kept with the map, and
    ``rows``, which sizes the estimate's interval: a map fitted on n rows is itself only that sure."""
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(labels, dtype=int)
    predicted = np.asarray(predicted).astype(int)
    if min(np.bincount(y, minlength=2)) < 2 * folds:  # every fold's fit must see both classes, twice over
        return {"method": "none", "rows": len(y), "accuracy": float((predicted == y).mean()),
                "reason": f"too few held-out rows of one class ({min(np.bincount(y, minlength=2))}) to calibrate"}
    out_of_fold = {method: np.empty(len(p)) for method in CALIBRATION_METHODS}
    for fit, check in StratifiedKFold(folds, shuffle=True, random_state=seed).split(p.reshape(-1, 1), y):
        for method in CALIBRATION_METHODS:
            out_of_fold[method][check] = apply_calibration(_fit_map(method, p[fit], y[fit]), p[check])
    losses = {method: (calibrated - y) ** 2 for method, calibrated in out_of_fold.items()}
    chosen = min(("none", "platt"), key=lambda method: losses[method].mean())
    gain = losses[chosen] - losses["isotonic"]
    if gain.mean() > gain.std() / np.sqrt(len(y)):  # isotonic must beat the simpler maps by a standard error
        chosen = "isotonic"
    accuracy = float((predicted == y).mean())
    numbers = {"rows": len(y), "folds": folds, "accuracy": accuracy,
               "brier": {m: float(losses[m].mean()) for m in CALIBRATION_METHODS},
               "ece": {m: expected_calibration_error(out_of_fold[m], y) for m in CALIBRATION_METHODS},
               "estimate": {m: float(correct_probabilities(predicted, out_of_fold[m]).mean())
                            for m in CALIBRATION_METHODS}}
    return {**_fit_map(chosen, p, y), **numbers}
