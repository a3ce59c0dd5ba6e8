"""The first-champion rule on a table of cases."""

from __future__ import annotations

import math

import pytest

from tasks.promotion import choose_first_champion

MODELS = [{"version": 1, "algorithm": "linear", "score": 0.90}, {"version": 2, "algorithm": "tree", "score": 0.85},
          {"version": 3, "algorithm": "forest", "score": 0.92}]


@pytest.mark.parametrize(("candidates", "baseline", "current", "higher", "promote", "version", "reason"), [
    (MODELS, 0.5, None, True, True, 3, "first champion: forest v3"),
    (MODELS, 0.5, 4, True, False, None, "champion v4 exists"),
    (MODELS, 0.95, None, True, False, None, "no model beats the baseline"),
    (MODELS, 0.92, None, True, False, None, "no model beats the baseline"),  # equal to the baseline is no win
    ([{"version": 5, "algorithm": "a", "score": 0.8}, {"version": 6, "algorithm": "b", "score": 0.8}],
     0.5, None, True, True, 5, "a v5"),                                        # a tie goes to the earlier version
    (MODELS, 0.95, None, False, True, 2, "tree v2"),                           # lower is better (MAE)
    ([], 0.5, None, True, False, None, "no model with a usable"),
    ([{"version": 1, "algorithm": "a", "score": math.nan}], 0.5, None, True, False, None, "no model with a usable"),
])
def test_first_champion_cases(candidates, baseline, current, higher, promote, version, reason):
    decision = choose_first_champion(candidates, baseline, current, "metric", higher)
    assert (decision.promote, decision.version) == (promote, version)
    assert reason in decision.reason


import numpy as np  # noqa: E402

from tasks.promotion import GateSettings, decide_retrain, should_promote  # noqa: E402


def paired_predictions(rng, rows, champion_accuracy, challenger_right_when_champion_wrong,
                       challenger_wrong_when_champion_right):
    """Two correlated classifiers, as two models trained on the same features are."""
    y = rng.integers(0, 2, rows)
    champion_right = rng.random(rows) < champion_accuracy
    challenger_right = np.where(champion_right, rng.random(rows) >= challenger_wrong_when_champion_right,
                                rng.random(rows) < challenger_right_when_champion_wrong)
    return y, np.where(champion_right, y, 1 - y), np.where(challenger_right, y, 1 - y)


def promotion_rate(q1, q2, seed):
    rng = np.random.default_rng(seed)
    return np.mean([should_promote("classification", *paired_predictions(rng, 1000, 0.80, q1, q2),
                                   GateSettings()).promote for _ in range(200)])


@pytest.mark.slow
def test_equal_models_are_promoted_at_most_8_percent_of_the_time():
    # both 80% accurate, disagreeing on 10% of rows
    assert promotion_rate(0.25, 0.0625, seed=1) <= 0.08  # measured: 0.045


@pytest.mark.slow
def test_a_challenger_3_points_better_is_promoted_at_least_80_percent():
    # 80% vs 83%, disagreeing on 10% of rows
    assert promotion_rate(0.325, 0.04375, seed=2) >= 0.80  # measured: 0.92


@pytest.mark.parametrize(("champion", "challenger", "promote", "why"), [
    ([1] * 100, [1] * 100, False, "not significant"),                       # identical: a tie never promotes
    ([1] * 50 + [0] * 50, [0] * 50 + [1] * 50, False, "not significant"),   # as many wins as losses
    ([0] * 30 + [1] * 970, [1] * 1000, True, "better on accuracy"),         # 30 wins, 0 losses
    ([0] * 8 + [1] * 992, [1] * 1000, False, "below the margin"),           # significant, but only +0.008
])
def test_gate_cases(champion, challenger, promote, why):
    y = np.ones(len(champion), dtype=int)
    decision = should_promote("classification", y, np.array(champion), np.array(challenger), GateSettings())
    assert decision.promote is promote and why in decision.reason
    assert {"p_value", "improvement", "rows", "margin"} <= set(decision.numbers)


def test_regression_gate_uses_a_paired_bootstrap_on_absolute_error():
    rng = np.random.default_rng(3)
    y = rng.normal(60, 10, 1000)
    champion = y + rng.normal(0, 6, 1000)
    better = should_promote("regression", y, champion, y + rng.normal(0, 4, 1000), GateSettings())
    same = should_promote("regression", y, champion, champion.copy(), GateSettings())
    assert better.promote and better.numbers["lower_95"] > 0 and better.numbers["measure"] == "MAE"
    assert not same.promote


@pytest.mark.parametrize(("drift", "live", "force", "retrain"), [
    ("no_drift", {"status": "ok", "drop": 0.01, "metric": "accuracy"}, False, False),
    ("drift", {"status": "insufficient_data"}, False, True),
    ("no_drift", {"status": "ok", "drop": 0.08, "metric": "accuracy"}, False, True),
    ("insufficient_data", {"status": "no_champion"}, True, True),
    ("insufficient_data", {"status": "insufficient_data"}, False, False),
])
def test_retrain_decisions(drift, live, force, retrain):
    assert decide_retrain(drift, live, force, max_live_drop=0.05)[0] is retrain


def test_leaderboard_orders_best_first_unscored_after_and_baseline_last():
    from tasks.report import leaderboard

    def row(name, auc):
        metrics = {m: 0.5 for m in ("accuracy", "f1", "mcc", "precision", "recall")}
        return {"algorithm": name, "val": {"roc_auc": auc, **metrics}, "test": {"roc_auc": auc, **metrics},
                "train_seconds": 0.1}

    evaluation = {"models": [row("baseline", 0.5), row("tree", 0.8), row("broken", float("nan")), row("xgb", 0.9)],
                  "oracle": None}
    assert [r["model"] for r in leaderboard(evaluation, [], "classification")] == ["xgb", "tree", "broken", "baseline"]
