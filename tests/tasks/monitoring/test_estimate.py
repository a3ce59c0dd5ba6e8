"""The label-free estimate (pure): its arithmetic on known cases, its interval's coverage, and the calibration
rule (cross-validated on the held-out rows: none or Platt, isotonic only when clearly better)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression

from tasks.monitoring.estimate import expected_accuracy
from tasks.monitoring.live import live_performance, realised_by_batch
from tasks.registry.calibration import (
    apply_calibration,
    correct_probabilities,
    expected_calibration_error,
    fit_calibration,
)
from tasks.registry.results import ModelVersion


def test_expected_accuracy_on_known_rows():
    estimate = expected_accuracy([1, 0, 1, 0], [0.9, 0.2, 0.6, 0.5], None, 0.95)
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
        estimate = expected_accuracy(predicted, p, None, 0.95)
        realised = float((predicted == y).mean())
        inside += estimate.low <= realised <= estimate.high
        errors.append(realised - estimate.value)
    assert 0.92 <= inside / 400 <= 0.98  # measured: 0.95
    assert abs(np.mean(errors)) < 0.002  # unbiased


def test_overconfident_probabilities_get_platts_map():
    rng = np.random.default_rng(1)
    true_p = rng.uniform(0.02, 0.98, 3000)
    y = (rng.random(3000) < true_p).astype(int)
    overconfident = expit(3 * logit(true_p))  # what an unregularised model does: logits three times too large
    predicted = (overconfident > 0.5).astype(int)
    calibration = fit_calibration(overconfident, y, predicted)
    assert calibration["method"] == "platt" and calibration["rows"] == 3000 and calibration["folds"] == 5
    assert calibration["slope"] == pytest.approx(1 / 3, abs=0.03) and abs(calibration["intercept"]) < 0.1
    assert calibration["brier"]["platt"] < calibration["brier"]["none"]
    accuracy = calibration["accuracy"]
    # cross-validated: the raw probabilities promise 0.1 more accuracy than there is, Platt's within 0.01
    assert abs(calibration["estimate"]["platt"] - accuracy) < 0.01 < 0.1 < calibration["estimate"]["none"] - accuracy
    expected = expit(calibration["slope"] * logit(np.array([0.2, 0.5, 0.9])) + calibration["intercept"])
    assert apply_calibration(calibration, [0.2, 0.5, 0.9]) == pytest.approx(expected)


def test_isotonic_is_chosen_only_where_no_logistic_curve_fits_and_is_sklearns_map():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 4000)
    true_p = np.select([p < 0.4, p > 0.6], [0.1, 0.9], 0.5)  # a step: monotone, but not a logistic curve
    y = (rng.random(4000) < true_p).astype(int)
    calibration = fit_calibration(p, y, (p > 0.5).astype(int))
    assert calibration["method"] == "isotonic"
    assert calibration["brier"]["isotonic"] < calibration["brier"]["platt"] < calibration["brier"]["none"]
    reference = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p, y)
    grid = np.linspace(0, 1, 101)
    assert apply_calibration(calibration, grid) == pytest.approx(reference.predict(grid))


def test_calibrated_probabilities_keep_no_flexible_map():
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 4000)
    y = (rng.random(4000) < p).astype(int)
    calibration = fit_calibration(p, y, (p > 0.5).astype(int))
    assert calibration["method"] == "none" and "x" not in calibration and "slope" not in calibration
    # 4,000 rows: the realised accuracy itself varies by about 0.007 (one sd)
    assert abs(calibration["estimate"]["none"] - calibration["accuracy"]) < 0.02
    assert apply_calibration(calibration, [0.3]).tolist() == [0.3]


def test_too_few_of_one_class_keeps_the_raw_probabilities_and_says_why():
    p = np.linspace(0.01, 0.99, 200)
    y = np.zeros(200, dtype=int)
    y[[10, 190, 195]] = 1  # three high performers among 200 held-out students
    calibration = fit_calibration(p, y, (p > 0.5).astype(int))
    assert calibration["method"] == "none" and calibration["rows"] == 200
    assert calibration["reason"] == "too few held-out rows of one class (3) to calibrate"


def test_the_interval_adds_the_calibrations_own_uncertainty():
    predicted, probabilities = [1, 0, 1, 0], [0.9, 0.2, 0.6, 0.5]
    chance = np.array([0.9, 0.8, 0.6, 0.5])
    estimate = expected_accuracy(predicted, probabilities, {"method": "none", "rows": 100}, 0.95)
    half = 1.959964 * np.sqrt((chance * (1 - chance)).sum() / 16 + (chance * (1 - chance)).mean() / 100)
    assert estimate.value == pytest.approx(0.7) and estimate.calibration == "none"
    assert estimate.low == pytest.approx(0.7 - half, abs=1e-6)


def test_live_performance_puts_the_estimate_over_the_same_rows_beside_the_realised_accuracy():
    model = ModelVersion.from_document({"name": "high_performer", "algorithm": "linear", "version": 2,
                                        "problem": "classification", "metrics": {"test": {"accuracy": 0.8}},
                                        "calibration": {"method": "isotonic", "x": [0.0, 1.0], "y": [0.0, 1.0]}})
    labels = pd.DataFrame({"student_id": range(1, 7), "high_performer": [1, 1, 0, 0, 1, 0]})
    predictions = pd.DataFrame({"student_id": range(1, 7), "prediction": [1, 1, 0, 1, 1, 0],
                                "probability": [0.9, 0.8, 0.3, 0.6, 0.7, 0.1],
                                "batch_id": ["a", "a", "a", "b", "b", "b"]})
    live = live_performance(labels, predictions, "high_performer", model, min_rows=1, level=0.95)
    assert live.live == pytest.approx(5 / 6)
    assert live.estimated == pytest.approx((0.9 + 0.8 + 0.7 + 0.6 + 0.7 + 0.9) / 6)
    assert live.estimate_error == pytest.approx(live.live - live.estimated)
    by_batch = {row["batch_id"]: row for row in realised_by_batch(labels, predictions, "high_performer", model, 0.95)}
    assert by_batch["a"]["realised"] == 1.0 and by_batch["a"]["estimated"] == pytest.approx(0.8)
    assert by_batch["b"]["realised"] == pytest.approx(2 / 3) and by_batch["b"]["rows"] == 3
    no_probabilities = live_performance(labels, predictions.drop(columns=["probability"]), "high_performer", model, 1,
                                        0.95)
    assert no_probabilities.estimated is None


def test_whether_the_realised_accuracy_fell_inside_is_judged_at_the_estimates_own_level():
    """The interval stored at scoring is at ``--estimate-level``; checking the realised accuracy against it later
    must use that level, not 95% (a bug once: a 0.5-level estimate was judged against a 95% interval)."""
    model = ModelVersion.from_document({"name": "high_performer", "algorithm": "linear", "version": 1,
                                        "problem": "classification", "metrics": {"test": {"accuracy": 0.8}},
                                        "calibration": {"method": "none"}})
    n = 400
    labels = pd.DataFrame({"student_id": range(n), "high_performer": [1] * 300 + [0] * 100})
    predictions = pd.DataFrame({"student_id": range(n), "prediction": [1] * n, "probability": [0.8] * n,
                                "batch_id": ["a"] * n})  # estimate 0.8, realised 0.75: 2.5 sd away
    wide, = realised_by_batch(labels, predictions, "high_performer", model, 0.999)
    narrow, = realised_by_batch(labels, predictions, "high_performer", model, 0.5)
    assert wide["realised"] == narrow["realised"] == 0.75
    assert (wide["inside"], narrow["inside"]) == (True, False)
    assert narrow["high"] - narrow["low"] < wide["high"] - wide["low"]


def test_expected_precision_and_recall_on_known_rows_and_their_coverage():
    """An at-risk list's two questions without labels: of those flagged, how many are positive (precision); of
    the positives, how many are flagged (recall). Known rows, then 400 simulated batches of calibrated
    probabilities: unbiased, and the realised rate inside the 95% interval at about its level."""
    from tasks.monitoring.estimate import expected_rates
    from tasks.monitoring.live import realised_rates

    known = expected_rates([1, 1, 0, 0], [0.9, 0.6, 0.3, 0.2], None, 0.95)
    assert known["precision"].value == pytest.approx(0.75) and known["precision"].rows == 2
    assert known["recall"].value == pytest.approx(1.5 / 2.0)
    assert realised_rates([1, 1, 0, 0], [1, 0, 1, 0]) == {"precision": {"value": 0.5, "rows": 2},
                                                          "recall": {"value": 0.5, "rows": 2}}
    assert "precision" not in expected_rates([0, 0], [0.1, 0.2], None, 0.95)  # nobody flagged: no precision
    rng = np.random.default_rng(3)
    inside = {"precision": 0, "recall": 0}
    errors = {"precision": [], "recall": []}
    for _ in range(400):
        p = rng.beta(0.6, 0.9, 2000)
        y = rng.random(2000) < p
        predicted = (p > 0.5).astype(int)
        rates = expected_rates(predicted, p, None, 0.95)
        truth = realised_rates(predicted, y)
        for name in inside:
            inside[name] += rates[name].low <= truth[name]["value"] <= rates[name].high
            errors[name].append(truth[name]["value"] - rates[name].value)
    assert all(0.92 <= hits / 400 <= 0.98 for hits in inside.values()), inside  # measured: 0.95, 0.95
    assert all(abs(np.mean(e)) < 0.003 for e in errors.values())  # unbiased
