"""The leaderboard (pure): best first, unscored models after scored ones, the baseline last, the oracle at the
bottom; the best model's gap to the oracle."""

from __future__ import annotations

from tasks.training.evaluation import best_and_gap, leaderboard
from tasks.training.results import Evaluation, RegisteredModel


def row(name: str, auc: float) -> dict:
    metrics = {m: 0.5 for m in ("accuracy", "f1", "mcc", "precision", "recall")}
    return {"algorithm": name, "val": {"roc_auc": auc, **metrics}, "test": {"roc_auc": auc, **metrics},
            "train_seconds": 0.1}


def test_leaderboard_orders_best_first_unscored_after_and_baseline_last():
    evaluation = Evaluation([row("baseline", 0.5), row("tree", 0.8), row("broken", float("nan")), row("xgb", 0.9)],
                            None)
    assert [r["model"] for r in leaderboard(evaluation, [], "classification")] == ["xgb", "tree", "broken", "baseline"]


def test_the_best_model_and_its_gap_to_the_oracle():
    oracle = {"val": row("oracle", 0.95)["val"], "test": row("oracle", 0.94)["test"]}
    evaluation = Evaluation([row("baseline", 0.5), row("linear", 0.91), row("xgb", 0.9)], oracle)
    registered = [RegisteredModel("m", 7, "linear", 0.91, "sha", "p"), RegisteredModel("m", 8, "xgb", 0.9, "sha", "p")]
    rows = leaderboard(evaluation, registered, "classification")
    assert [(r["model"], r["version"]) for r in rows] == [("linear", 7), ("xgb", 8), ("baseline", None),
                                                          ("oracle (true probability)", None)]
    assert best_and_gap(rows, "classification") == ("linear", 0.03)
    assert best_and_gap(rows[:-1], "classification") == ("linear", None)  # no truth known: no gap
