"""A/B statistics (pure) against docs/statistics.md's targets, simulated with the generator's students: sticky
assignment by hash, A/A tests rarely declare a winner, a truly better B is found at the planned sample size, a
broken split is caught; and the decision rules on small cases."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.serving.abtest import (
    ArmOutcomes,
    assign_arm,
    compare_arms,
    compare_paired,
    conclude,
    mcnemar_power,
    route,
    sample_ratio_check,
    sample_size_means,
    sample_size_proportions,
    shadow_sample_size,
)

SIMULATIONS = 200


def simulate(accuracy_a: float, accuracy_b: float, n_per_arm: int, seed: int) -> float:
    """The share of simulated tests that declare B (or A) the winner. Units are generated students (ids as the
    generator makes them), assigned by the test's sticky hash; each arm's model is right with its accuracy."""
    rng = np.random.default_rng(seed)
    students = np.arange(1, 2 * n_per_arm + 1) + 7_000_000
    winners = 0
    for test in range(SIMULATIONS):
        salt = f"sim-{seed}-{test}"
        arms = np.array([assign_arm(salt, int(student), 0.5) for student in students])
        correct = np.where(arms == "B", rng.random(len(students)) < accuracy_b, rng.random(len(students)) < accuracy_a)
        a, b = ArmOutcomes(correct[arms == "A"].astype(float)), ArmOutcomes(correct[arms == "B"].astype(float))
        ratio = sample_ratio_check(a.n, b.n, 0.5)
        verdict = conclude(compare_arms(a, b, "accuracy", 0.05), ratio, True, 0.05, 0.01, b_is_challenger=True)
        winners += verdict.winner is not None
    return winners / SIMULATIONS


def test_the_planned_sample_size_for_0_80_to_0_83():
    assert sample_size_proportions(0.80, 0.03, 0.05, 0.80) == 2629  # the textbook ~2,600 per arm
    assert sample_size_proportions(0.80, 0.03, 0.05, 0.90) == 3519


@pytest.mark.slow
def test_a_a_tests_declare_a_winner_at_most_8_percent_of_the_time():
    assert simulate(0.80, 0.80, sample_size_proportions(0.80, 0.03, 0.05, 0.9), seed=1) <= 0.08  # measured: 0.05


@pytest.mark.slow
def test_a_b_truly_3_points_better_wins_at_least_80_percent_at_the_planned_sample_size():
    n_per_arm = sample_size_proportions(0.80, 0.03, 0.05, 0.9)
    assert simulate(0.80, 0.83, n_per_arm, seed=2) >= 0.80  # measured: 0.89


def test_a_55_45_split_planned_as_50_50_over_5000_units_is_invalid():
    assert not sample_ratio_check(2250, 2750, 0.5)["valid"]
    assert sample_ratio_check(2480, 2520, 0.5)["valid"]


def looks(p_b: float, tests: int, every: int, units: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """B's running unit counts of ``tests`` simulated tests, looked at after every ``every`` units."""
    rng = np.random.default_rng(seed)
    to_b = rng.random((tests, units)) < p_b
    at = np.arange(every, units + 1, every)
    return np.cumsum(to_b, axis=1)[:, at - 1], at


def test_the_sample_ratio_check_is_anytime_valid_and_still_catches_a_55_45_split():
    """1,000 healthy 50/50 tests looked at after every 100 units up to 10,000: the anytime check invalidates at most
    0.005 of them (a chi-square at p < 0.001 on every look invalidates several times more); 1,000 tests split
    55/45 are caught by 5,000 units."""
    from scipy import stats

    from tasks.serving.abtest import SRM_ALPHA, srm_log_bayes_factors

    b_units, at = looks(0.5, 1000, 100, 10_000, seed=3)
    flagged = (srm_log_bayes_factors(b_units, at, 0.5) >= np.log(1 / SRM_ALPHA)).any(axis=1).mean()
    chi = stats.chi2.sf((2 * b_units - at) ** 2 / at, 1)  # the chi-square p of a 50/50 split, every look
    naive = (chi < 0.001).any(axis=1).mean()
    assert flagged <= 0.005 and naive > 2 * max(flagged, 0.001)  # measured: anytime 0.000, chi-square 0.013
    b_units, at = looks(0.55, 1000, 100, 5_000, seed=4)
    caught = (srm_log_bayes_factors(b_units, at, 0.5) >= np.log(1 / SRM_ALPHA)).any(axis=1).mean()
    assert caught >= 0.99  # measured: 1.000
    for units_a, units_b in ((2250, 2750), (2480, 2520), (3, 7)):  # the vector and the single check agree
        single = sample_ratio_check(units_a, units_b, 0.5)
        log_bf = srm_log_bayes_factors(np.array([units_b]), np.array([units_a + units_b]), 0.5)[0]
        assert single["valid"] is bool(log_bf < np.log(1 / SRM_ALPHA))


def test_assignment_is_sticky_and_follows_the_split():
    arms = [assign_arm("salt", student, 0.2) for student in range(20_000)]
    assert arms == [assign_arm("salt", student, 0.2) for student in range(20_000)]
    assert abs(arms.count("B") / 20_000 - 0.2) < 0.01
    assert arms != [assign_arm("other salt", student, 0.2) for student in range(20_000)]
    test = {"salt": "salt", "split": 0.2, "arms": {"A": {"version": 1}, "B": {"version": 4}}}
    assert route([5, 6], 1, None) == [(None, 1), (None, 1)]
    assert route(list(range(10)), 1, test) == [(arm, 4 if arm == "B" else 1) for arm in arms[:10]]


def test_the_regression_sample_size_and_welch_comparison():
    assert sample_size_means(sd=5.0, mde=0.5, alpha=0.05, power=0.8) == 1570
    rng = np.random.default_rng(3)
    a, b = ArmOutcomes(np.abs(rng.normal(0, 6, 2000))), ArmOutcomes(np.abs(rng.normal(0, 4, 2000)))
    comparison = compare_arms(a, b, "mae", 0.05)
    assert comparison["difference"] > 1 and comparison["p_value"] < 1e-10 and comparison["ci_low"] > 0


VALID = {"valid": True, "p_value": 0.5}


@pytest.mark.parametrize(("difference", "p_value", "horizon", "ratio", "challenger", "winner", "promote", "says"), [
    (0.04, 0.001, True, VALID, True, "B", True, "B becomes champion"),
    (0.005, 0.001, True, VALID, True, "B", False, "below the margin"),
    (0.04, 0.2, True, VALID, True, None, False, "not significant"),
    (-0.04, 0.001, True, VALID, True, "A", False, "A wins"),
    (0.04, 0.04, False, VALID, True, None, False, "forced look"),        # an early look needs p < 0.025
    (0.04, 0.01, False, VALID, True, "B", True, "forced look"),
    (0.04, 0.001, True, {"valid": False, "p_value": 1e-9}, True, None, False, "invalid test"),
    (0.04, 0.001, True, VALID, False, "B", False, "A is not the champion"),
])
def test_conclusions(difference, p_value, horizon, ratio, challenger, winner, promote, says):
    comparison = {"metric": "accuracy", "difference": difference, "p_value": p_value}
    verdict = conclude(comparison, ratio, horizon, alpha=0.05, margin=0.01, b_is_challenger=challenger)
    assert (verdict.winner, verdict.promote) == (winner, promote) and says in verdict.reason


def paired_students(rng, n: int, disagreement: float, better: float, accuracy: float = 0.80):
    """Each student's right/wrong under A and B: they disagree on ``disagreement`` of students, B is right on
    1/2 + better / (2 disagreement) of those, and A is right on ``accuracy`` of all."""
    discordant = rng.random(n) < disagreement
    b_right = rng.random(n) < 0.5 + better / (2 * disagreement)
    agree_right = rng.random(n) < (accuracy - disagreement * (0.5 - better / (2 * disagreement))) / (1 - disagreement)
    a = np.where(discordant, ~b_right, agree_right)
    return a.astype(float), np.where(discordant, b_right, agree_right).astype(float)


def test_a_shadow_test_needs_several_times_fewer_students_than_a_split_one():
    shadow = shadow_sample_size(0.03, 0.10, 0.05, 0.9)
    split = 2 * sample_size_proportions(0.80, 0.03, 0.05, 0.9)
    assert shadow == 1210 and split == 7038 and split / shadow > 5  # 1,210 students in all against 7,038
    assert mcnemar_power(112, 0.65, 0.05) == pytest.approx(0.90, abs=0.02)
    with pytest.raises(ValueError, match="disagree on only 2%"):
        shadow_sample_size(0.03, 0.02, 0.05, 0.9)


@pytest.mark.parametrize(("better", "low", "high"), [(0.0, 0.0, 0.08), (0.03, 0.80, 1.0)])
def test_shadow_a_a_false_winners_and_power_at_the_planned_size(better, low, high):
    """200 simulated shadow tests at the planned 1,210 students (10% disagreement): an equal B is named the winner
    <= 0.08 of the time; a B truly 3 points better >= 0.80."""
    rng = np.random.default_rng(31)
    n = shadow_sample_size(0.03, 0.10, 0.05, 0.9)
    wins = 0
    for _ in range(SIMULATIONS):
        a, b = paired_students(rng, n, 0.10, better)
        comparison = compare_paired(a, b, "accuracy", 0.05)
        verdict = conclude(comparison, {"valid": True, "p_value": 1.0}, True, 0.05, 0.01, b_is_challenger=True)
        wins += verdict.winner == "B" if better else verdict.winner is not None  # the right winner / any winner
    assert low <= wins / SIMULATIONS <= high  # measured: 0.035 (A/A), 0.92 (+3 points)


def test_a_paired_comparison_of_errors_for_regression():
    rng = np.random.default_rng(32)
    errors_a = np.abs(rng.normal(0, 6, 800))
    errors_b = np.clip(errors_a - 0.5 + rng.normal(0, 1, 800), 0, None)
    found = compare_paired(errors_a, errors_b, "mae", 0.05)
    assert found["difference"] == pytest.approx(float((errors_a - errors_b).mean()))
    assert found["p_value"] < 0.001 and found["ci_low"] > 0 and found["design"] == "shadow"
