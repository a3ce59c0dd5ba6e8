"""The label-free estimate (pure): its arithmetic on known cases, its interval's coverage, and the calibration
rule (fit on one held-out part, keep only if it calibrates better on another)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression

from tasks.monitoring.estimate import (
    apply_calibration,
    correct_probabilities,
    expected_accuracy,
    expected_calibration_error,
    fit_calibration,
)
from tasks.monitoring.live import live_performance, realised_by_batch


def test_expected_accuracy_on_known_rows():
    estimate = expected_accuracy([1, 0, 1, 0], [0.9, 0.2, 0.6, 0.5], None)
    assert correct_probabilities([1, 0, 1, 0], [0.9, 0.2, 0.6, 0.5]).tolist() == [0.9, 0.8, 0.6, 0.5]
    assert estimate.value == pytest.approx(0.7) and estimate.rows == 4 and estimate.calibration == "not measured"
    half = 1.959964 * np.sqrt(0.09 + 0.16 + 0.24 + 0.25) / 4
    assert (estimate.low, estimate.high) == pytest.approx((0.7 - half, min(1.0, 0.7 + half)), abs=1e-6)  # clipped


def test_expected_calibration_error_on_known_bins():
    # bin [0.1, 0.2): mean p 0.1, observed 0.5 -> 0.4 x half of the rows; bin [0.9, 1]: 0.9 vs 1.0 -> 0.1 x half
    assert expected_calibration_error([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1]) == pytest.approx(0.25)


def test_the_interval_covers_the_realised_accuracy_at_its_level_when_probabilities_are_calibrated():
    rng = np.random.default_rng(0)
    inside, errors = 0, []
    for _ in range(400):
        p = rng.beta(0.6, 0.6, 2000)
        y = rng.random(2000) < p
        predicted = (p > 0.5).astype(int)
        estimate = expected_accuracy(predicted, p, None)
        realised = float((predicted == y).mean())
        inside += estimate.low <= realised <= estimate.high
        errors.append(realised - estimate.value)
    assert 0.92 <= inside / 400 <= 0.98  # measured: 0.95
    assert abs(np.mean(errors)) < 0.002  # unbiased


def test_overconfident_probabilities_are_calibrated_and_the_map_is_sklearns():
    rng = np.random.default_rng(1)
    true_p = rng.uniform(0.02, 0.98, 6000)
    y = (rng.random(6000) < true_p).astype(int)
    overconfident = expit(3 * logit(true_p))  # what a deep tree or an unregularised booster does
    fit, check = slice(0, 3000), slice(3000, 6000)
    calibration = fit_calibration(overconfident[fit], y[fit], overconfident[check], y[check],
                                  (overconfident[check] > 0.5).astype(int))
    assert calibration["method"] == "isotonic" and calibration["fit_rows"] == calibration["check_rows"] == 3000
    assert calibration["ece_calibrated"] < 0.03 < calibration["ece_raw"]
    accuracy = calibration["accuracy"]
    # 3,000 check rows: the realised accuracy itself varies by about 0.008 (one sd)
    assert abs(calibration["estimate_calibrated"] - accuracy) < 0.025 < 0.1 < calibration["estimate_raw"] - accuracy
    reference = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(overconfident[fit], y[fit])
    grid = np.linspace(0, 1, 101)
    assert apply_calibration(calibration, grid) == pytest.approx(reference.predict(grid))


def test_a_map_that_does_not_calibrate_better_on_the_check_part_is_not_used():
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 4000)
    y = (rng.random(4000) < p).astype(int)
    # fitted on labels that have nothing to do with the probabilities: a flat map, worse than the raw ones
    calibration = fit_calibration(p[:2000], rng.integers(0, 2, 2000), p[2000:], y[2000:], (p[2000:] > 0.5).astype(int))
    assert calibration["method"] == "none" and "x" not in calibration
    assert calibration["ece_raw"] < calibration["ece_calibrated"]
    assert apply_calibration(calibration, [0.3]).tolist() == [0.3]


def test_live_performance_puts_the_estimate_over_the_same_rows_beside_the_realised_accuracy():
    model = {"version": 2, "problem": "classification", "metrics": {"test": {"accuracy": 0.8}},
             "calibration": {"method": "isotonic", "x": [0.0, 1.0], "y": [0.0, 1.0]}}
    labels = pd.DataFrame({"student_id": range(1, 7), "high_performer": [1, 1, 0, 0, 1, 0]})
    predictions = pd.DataFrame({"student_id": range(1, 7), "prediction": [1, 1, 0, 1, 1, 0],
                                "probability": [0.9, 0.8, 0.3, 0.6, 0.7, 0.1],
                                "batch_id": ["a", "a", "a", "b", "b", "b"]})
    live = live_performance(labels, predictions, "high_performer", model, min_rows=1)
    assert live.live == pytest.approx(5 / 6)
    assert live.estimated == pytest.approx((0.9 + 0.8 + 0.7 + 0.6 + 0.7 + 0.9) / 6)
    assert live.estimate_error == pytest.approx(live.live - live.estimated)
    by_batch = {row["batch_id"]: row for row in realised_by_batch(labels, predictions, "high_performer", model)}
    assert by_batch["a"]["realised"] == 1.0 and by_batch["a"]["estimated"] == pytest.approx(0.8)
    assert by_batch["b"]["realised"] == pytest.approx(2 / 3) and by_batch["b"]["rows"] == 3
    no_probabilities = live_performance(labels, predictions.drop(columns=["probability"]), "high_performer", model, 1)
    assert no_probabilities.estimated is None
