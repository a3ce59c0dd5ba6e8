"""Drift statistics against the targets of docs/statistics.md (10 independent N(0,1) features, 200 repeats,
fixed seeds), plus the decision rules on small cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.monitoring.drift import (
    adjust,
    categorical_drift,
    detect_drift,
    missing_drift,
    numeric_drift,
    prediction_drift,
)
from tasks.monitoring.params import DriftParams

DEFAULTS = DriftParams()

COLUMNS = [f"x{i}" for i in range(10)]
REPEATS = 200


def detection_rate(n_ref: int, n_cur: int, shift: float, seed: int, repeats: int = REPEATS) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(repeats):
        reference = pd.DataFrame(rng.standard_normal((n_ref, 10)), columns=COLUMNS)
        current = pd.DataFrame(rng.standard_normal((n_cur, 10)), columns=COLUMNS)
        current["x0"] += shift
        hits += detect_drift(reference, current, COLUMNS, [], DEFAULTS).status == "drift"
    return hits / repeats


@pytest.mark.slow
def test_no_drift_false_alarm_rate_at_most_0_08():
    assert detection_rate(2000, 2000, 0.0, seed=1) <= 0.08  # measured: 0.005


@pytest.mark.slow
def test_small_shift_in_one_of_ten_features_is_detected_at_least_90_percent():
    assert detection_rate(2000, 2000, 0.2, seed=2) >= 0.90  # measured: 0.99


@pytest.mark.slow
def test_small_shift_with_a_small_current_batch_is_detected_at_least_65_percent():
    assert detection_rate(2000, 500, 0.2, seed=3) >= 0.65  # measured: 0.74


@pytest.mark.slow
def test_tiny_shift_at_200k_rows_is_significant_but_not_material():
    rng = np.random.default_rng(4)
    material = significant = 0
    repeats = 50  # 200k x 10 features per side: a quarter of the usual repeats keeps this under 20 s
    for _ in range(repeats):
        reference = pd.DataFrame(rng.standard_normal((200_000, 10)), columns=COLUMNS)
        current = pd.DataFrame(rng.standard_normal((200_000, 10)), columns=COLUMNS)
        current["x0"] += 0.02
        report = detect_drift(reference, current, COLUMNS, [], DEFAULTS)
        material += report.status == "drift"
        significant += report.of_kind("distribution")[0].significant
    assert material / repeats <= 0.05  # measured: 0.0 (the effect, 0.02, is a fifth of min_effect)
    assert significant / repeats >= 0.5  # the p-value alone would have raised the alarm


@pytest.mark.slow
@pytest.mark.parametrize(("shares", "low", "high"), [
    ([0.25, 0.25, 0.25, 0.25], 0.0, 0.08),   # false alarms
    ([0.30, 0.20, 0.30, 0.20], 0.90, 1.0),   # +-0.05 share on every level
    ([0.30, 0.20, 0.25, 0.25], 0.90, 1.0),   # +-0.05 share on two levels
])
def test_categorical_chi_square_power_and_false_alarms(shares, low, high):
    rng = np.random.default_rng(5)
    levels = np.array(["a", "b", "c", "d"])
    rejections = sum(
        categorical_drift("c", rng.choice(levels, 2000), rng.choice(levels, 2000, p=shares), 5.0).p_value < 0.05
        for _ in range(REPEATS))
    assert low <= rejections / REPEATS <= high  # measured: 0.05, 1.0, 0.975


def test_below_the_minimum_batch_the_answer_is_insufficient_data():
    rng = np.random.default_rng(6)
    reference = pd.DataFrame(rng.standard_normal((2000, 10)), columns=COLUMNS)
    current = pd.DataFrame(rng.standard_normal((499, 10)) + 3, columns=COLUMNS)  # obvious drift, too few rows
    report = detect_drift(reference, current, COLUMNS, [], DEFAULTS)
    assert report.status == "insufficient_data" and report.findings == []
    assert detect_drift(reference, current, COLUMNS, [], DriftParams(min_drift_rows=400)).status == "drift"
    # the minimum is about the current batch: a reference of a few hundred held-out rows is enough
    small_reference = reference.head(400)
    assert detect_drift(small_reference, current.head(499).reindex(range(600)).ffill(), COLUMNS, [],
                        DEFAULTS).status == "drift"
    assert detect_drift(reference.head(99), current, COLUMNS, [], DriftParams(min_drift_rows=400)).status == \
        "insufficient_data"


def test_numeric_statistics_match_scipy():
    from scipy import stats

    rng = np.random.default_rng(7)
    a, b = rng.standard_normal(3000), rng.standard_normal(800) + 0.15
    result = numeric_drift("x", a, b)
    assert result.statistic == pytest.approx(stats.ks_2samp(a, b).statistic)
    assert result.effect_size == pytest.approx(stats.wasserstein_distance(a, b) / a.std())
    assert result.p_value == pytest.approx(stats.ks_2samp(a, b, method="asymp").pvalue)


def test_unseen_categories_are_a_finding_and_rare_ones_are_merged():
    reference = ["a"] * 500 + ["b"] * 500 + ["c"] * 2
    current = ["a"] * 480 + ["b"] * 500 + ["z"] * 3 + ["c"] * 1
    result = categorical_drift("major", reference, current, 5.0)
    assert result.numbers["unseen_categories"] == ["z"]
    assert np.isfinite(result.p_value) and result.p_value > 0.05  # "c" and "z" merged into "other"
    frame = lambda values: pd.DataFrame({"major": values * 1})  # noqa: E731
    report = detect_drift(frame(reference), frame(current), [], ["major"], DriftParams(min_drift_rows=100))
    assert report.notes == ["major: categories never seen in the reference: ['z']"]


def test_a_category_missing_from_the_current_batch_is_not_p_zero_by_construction():
    result = categorical_drift("c", ["a"] * 300 + ["b"] * 300 + ["c"] * 300, ["a"] * 300 + ["b"] * 300, 5.0)
    assert 0 < result.p_value < 1e-6 or result.p_value == pytest.approx(0, abs=1e-12)
    assert result.effect_size > 0.1


def test_corrections():
    assert adjust([0.01, 0.04, float("nan")], "bonferroni")[:2] == [0.02, 0.08]
    bh = adjust([0.01, 0.04, 0.03], "bh")
    assert bh == pytest.approx([0.03, 0.04, 0.04])
    with pytest.raises(ValueError, match="unknown correction"):
        adjust([0.1], "holm")


def test_effect_size_gate_and_dataset_decision_share():
    rng = np.random.default_rng(8)
    reference = pd.DataFrame(rng.standard_normal((3000, 10)), columns=COLUMNS)
    current = pd.DataFrame(rng.standard_normal((3000, 10)), columns=COLUMNS)
    current[["x0", "x1"]] += 0.5
    report = detect_drift(reference, current, COLUMNS, [], DEFAULTS)
    assert report.status == "drift" and report.drifted["distribution"] == ["x0", "x1"] and report.share_drifted == 0.2
    strict = detect_drift(reference, current, COLUMNS, [], DriftParams(min_effect=0.6))
    assert strict.status == "no_drift" and strict.of_kind("distribution")[0].significant


def test_prediction_drift_on_predicted_classes():
    stable = prediction_drift([0] * 700 + [1] * 300, [0] * 690 + [1] * 310, DEFAULTS)
    moved = prediction_drift([0] * 700 + [1] * 300, [0] * 500 + [1] * 500, DEFAULTS)
    assert not stable.material and moved.material and moved.kind == "prediction"


def test_a_quarter_of_a_field_suddenly_missing_is_drift_with_its_numbers():
    rng = np.random.default_rng(9)
    reference = pd.DataFrame(rng.standard_normal((800, 10)), columns=COLUMNS)
    current = pd.DataFrame(rng.standard_normal((2000, 10)), columns=COLUMNS)
    current.loc[:499, "x3"] = np.nan  # the values left are still N(0,1): the distribution test sees nothing
    report = detect_drift(reference, current, COLUMNS, [], DEFAULTS)
    assert report.drifted["distribution"] == [] and report.status == "drift"
    [test] = report.of_kind("missing")  # only features with a missing value on either side are tested
    assert (test.feature, test.numbers["reference_share"], test.numbers["current_share"], test.test) == (
        "x3", 0.0, 0.25, "two_proportion_z")
    assert test.p_adjusted == pytest.approx(min(test.p_value * 11, 1.0))  # one family: 10 + 1 tests
    assert test.effect_size == pytest.approx(2 * np.arcsin(0.5))  # Cohen's h from 0 to 25%
    assert report.drifted["missing"] == ["x3"] and report.share_drifted == 0.1
    assert report.notes == [f"x3: 25.0% missing against 0.0% in the reference (corrected p = "
                               f"{test.p_adjusted:.2g}, Cohen's h 1.05)"]


def test_missing_values_tests_on_small_cells_and_unchanged_shares():
    assert missing_drift("x", pd.Series([1.0] * 800), pd.Series([2.0] * 2000)) is None  # never missing: no test
    few = missing_drift("x", pd.Series([1.0] * 800), pd.Series([np.nan] * 5 + [1.0] * 1995))
    assert few.test == "fisher_exact" and few.p_value > 0.05  # 5 of 2,000 against none: not evidence
    rng = np.random.default_rng(10)
    same = sum(missing_drift("x", pd.Series(np.where(rng.random(2000) < 0.1, np.nan, 1.0)),
                             pd.Series(np.where(rng.random(2000) < 0.1, np.nan, 1.0))).p_value < 0.05
               for _ in range(REPEATS))
    assert same / REPEATS <= 0.08  # the same 10% missing on both sides: false alarms at the nominal rate
    moved = sum(missing_drift("x", pd.Series(np.where(rng.random(2000) < 0.1, np.nan, 1.0)),
                              pd.Series(np.where(rng.random(2000) < 0.15, np.nan, 1.0))).p_value < 0.05
                for _ in range(REPEATS))
    assert moved / REPEATS >= 0.9  # 10% -> 15% missing


def test_values_missing_on_both_sides_at_the_same_rate_is_no_drift():
    rng = np.random.default_rng(11)
    reference = pd.DataFrame(rng.standard_normal((2000, 10)), columns=COLUMNS)
    current = pd.DataFrame(rng.standard_normal((2000, 10)), columns=COLUMNS)
    reference.loc[rng.random(2000) < 0.2, "x1"] = np.nan
    current.loc[rng.random(2000) < 0.2, "x1"] = np.nan
    report = detect_drift(reference, current, COLUMNS, [], DEFAULTS)
    assert report.status == "no_drift" and [m.feature for m in report.of_kind("missing")] == ["x1"]
