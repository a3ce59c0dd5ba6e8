"""Small data, honest numbers: below ``cv_below`` students every model is also judged by repeated stratified k-fold
cross-validation over students, which chooses; the leaderboard shows each metric with its range and says which
models the data cannot tell apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.data.synthetic import generate_batch
from tasks.training.dataset import make_training_data
from tasks.training.evaluation import cross_validate, leaderboard, primary_score, small_data_note
from tasks.training.models import fit_model
from tasks.training.params import ModelParams, TrainingParams
from tasks.training.results import Evaluation
from tasks.training.tasks import evaluate_models
from validation.pandas_twin import pandas_features


def small(n: int = 400, seed: int = 80, problem: str = "classification"):
    batch = generate_batch(n, seed)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    return make_training_data(frame, pd.DataFrame(batch.truth), problem, 3, 0.2, 0.2, 100)


def test_cross_validation_reports_every_metric_with_its_range_over_students():
    data = small()
    model = fit_model("linear", data, 3, ModelParams(), tune=False, trees=50).pipeline
    cv = cross_validate(model, data, k=5, repeats=3, seed=3)
    assert (cv["k"], cv["repeats"], cv["folds"], cv["rows"], cv["students"]) == (5, 3, 15, 400, 400)
    auc = cv["metrics"]["roc_auc"]
    assert 0.75 < auc["mean"] < 0.95 and auc["low"] < auc["mean"] < auc["high"]
    assert 0.03 < auc["high"] - auc["low"] < 0.3  # a fold of 80 students: the range one split hides
    assert set(cv["metrics"]) == {"accuracy", "precision", "recall", "f1", "mcc", "roc_auc"}
    assert cross_validate(model, data, 5, 3, 3) == cv  # seeded: the same numbers again
    regression = small(problem="regression")
    fitted = fit_model("linear", regression, 3, ModelParams(), tune=False, trees=50).pipeline
    mae = cross_validate(fitted, regression, 4, 2, 3)["metrics"]["mae"]
    assert 0 < mae["low"] < mae["mean"] < mae["high"] < 20


def test_a_student_with_two_labeled_terms_stays_in_one_fold(monkeypatch):
    batch = generate_batch(200, 81)
    one = pandas_features(batch.records, "t1", 1, labeled=True)
    two = pandas_features(batch.records, "t2", 2, labeled=True)
    truth = pd.DataFrame(batch.truth)
    data = make_training_data(pd.concat([one, two]), truth, "classification", 3, 0.2, 0.2, 100)
    seen = []

    from sklearn.model_selection import StratifiedGroupKFold

    original = StratifiedGroupKFold.split

    def spy(self, X, y, groups):
        for train, test in original(self, X, y, groups):
            seen.append((set(groups.iloc[train]), set(groups.iloc[test])))
            yield train, test

    monkeypatch.setattr(StratifiedGroupKFold, "split", spy)
    model = fit_model("linear", data, 3, ModelParams(), tune=False, trees=50).pipeline
    cv = cross_validate(model, data, 5, 1, 3)
    assert (cv["rows"], cv["students"]) == (400, 200) and len(seen) == 5
    assert all(not train & test for train, test in seen)


def test_below_the_threshold_models_are_chosen_by_cross_validation_and_the_leaderboard_says_so():
    data = small()
    trained = [fit_model(name, data, 3, ModelParams(), tune=False, trees=50)
               for name in ("baseline", "linear", "decision_tree")]
    evaluation = evaluate_models.fn(trained, data, TrainingParams(cv_below=2000, cv_repeats=2))
    rows = {row["algorithm"]: row for row in evaluation.models}
    assert all(row["cv"]["folds"] == 10 for row in rows.values())
    assert primary_score(rows["linear"], "classification") == rows["linear"]["cv"]["metrics"]["roc_auc"]["mean"]
    board = leaderboard(evaluation, [], "classification")
    assert [row["model"] for row in board][-2:] == ["baseline", "oracle (true probability)"]
    assert board[0]["cv_roc_auc_low"] < board[0]["cv_roc_auc"] < board[0]["cv_roc_auc_high"]
    assert board[0]["cv_roc_auc"] >= board[1]["cv_roc_auc"]  # ordered by the cross-validated mean
    best = rows[board[0]["model"]]["cv"]["metrics"]
    assert (board[0]["cv_roc_auc_low"], board[0]["cv_accuracy_high"]) == (
        round(best["roc_auc"]["ci_low"], 4), round(best["accuracy"]["ci_high"], 4))  # the interval on the mean
    assert list(board[0])[:10] == ["model", "version", "cv_roc_auc", "cv_roc_auc_low", "cv_roc_auc_high",
                                   "cv_accuracy", "cv_accuracy_low", "cv_accuracy_high", "cv_f1", "cv_mcc"]
    assert not any(column.startswith(("val_", "test_")) for column in board[0])  # no one-split figure shown
    oracle = board[-1]
    assert oracle["cv_roc_auc"] == round(evaluation.oracle["all"]["roc_auc"], 4) and oracle["cv_roc_auc_low"] is None
    assert evaluation.base["rows"] == 400 and board[0]["vs_base"] == rows[board[0]["model"]]["skill"]["margin"]
    note = small_data_note(evaluation, "classification")
    assert note.startswith("Small data (400 students): every metric is the mean of 2 x 5-fold cross-validation")
    big = evaluate_models.fn(trained, data, TrainingParams(cv_below=400))
    assert not any("cv" in row for row in big.models) and small_data_note(big, "classification") is None


@pytest.mark.parametrize(("means", "alike"), [
    ({"linear": 0.86, "xgboost": 0.85, "decision_tree": 0.70}, ["xgboost"]),
    ({"linear": 0.86, "xgboost": 0.83}, []),  # inside the folds' range, outside the interval on the mean
])
def test_the_note_names_the_models_the_data_cannot_tell_apart(means, alike):
    rows = [{"algorithm": name, "cv": {"k": 5, "repeats": 3, "folds": 15, "students": 300,
                                       "metrics": {"roc_auc": {"mean": m, "ci_low": m - 0.02, "ci_high": m + 0.02,
                                                               "low": m - 0.05, "high": m + 0.05}}}}
            for name, m in means.items()]
    note = small_data_note(Evaluation(rows, None), "classification")
    if alike:
        assert f"Too small to tell {', '.join(alike)} from linear" in note
    else:
        assert note.endswith("linear is ahead of every other model's mean.")


def test_the_interval_on_a_cross_validated_mean_is_corrected_for_the_folds_overlap():
    """Nadeau and Bengio's corrected resampled t: 15 scores of 3 x 5-fold CV, sd 0.02 -> half-width
    t(0.975, 14) * sqrt((1/15 + 1/4) * 0.02^2) = 2.1448 * 0.011255 = 0.02414; the plain standard error would give
    0.01108, an interval that misses the true mean far more often than 5% of the time."""
    from tasks.training.evaluation import mean_interval

    scores = [0.80 + 0.02 * z for z in (-1.5, -1, -1, -0.5, -0.5, 0, 0, 0, 0, 0.5, 0.5, 1, 1, 1.5, 0)]
    sd = float(np.std(scores, ddof=1))
    low, high = mean_interval(scores, k=5)
    half = 2.144787 * np.sqrt((1 / 15 + 1 / 4) * sd**2)
    assert (round(low, 6), round(high, 6)) == (round(0.80 - half, 6), round(0.80 + half, 6))
    assert np.isnan(mean_interval([0.8], k=5)[0]) and mean_interval([0.8, float("nan"), 0.8], 5) == (0.8, 0.8)


def test_the_interval_covers_the_mean_a_school_would_see_at_its_level():
    """Many small data sets from one population: the share of 95% intervals (3 x 5-fold CV on 300 students) that
    hold the model's accuracy on a large fresh sample of the same population (what a school should expect)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from tasks.training.evaluation import mean_interval

    rng = np.random.default_rng(7)

    def sample(n):
        X = rng.normal(size=(n, 3))
        y = (rng.random(n) < 1 / (1 + np.exp(-(0.9 * X[:, 0] - 0.6 * X[:, 1] + 0.4)))).astype(int)
        return X, y

    big_X, big_y = sample(50_000)
    truth = np.mean([LogisticRegression().fit(*sample(240)).score(big_X, big_y) for _ in range(100)])
    covered, runs = 0, 200
    for _ in range(runs):
        X, y = sample(300)
        scores = [LogisticRegression().fit(X[a], y[a]).score(X[b], y[b]) for seed in range(3)
                  for a, b in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y)]
        low, high = mean_interval(scores, k=5)
        covered += low <= truth <= high
    assert 0.90 <= covered / runs <= 1.0, covered / runs
