"""Training and evaluation on the generator's data: every model beats the baseline, the best is near the oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, matthews_corrcoef, roc_auc_score

from tasks.data.synthetic import generate_batch
from tasks.registry.store import serialize
from tasks.training.dataset import make_training_data
from tasks.training.evaluation import classification_metrics, oracle_metrics, regression_metrics
from tasks.training.models import fit_model
from tasks.training.params import ALGORITHMS, ModelParams, TrainingParams
from tasks.training.tasks import evaluate_models
from validation.contracts import FEATURES
from validation.pandas_twin import pandas_features

HYPER = ModelParams()


def training_data(problem: str, n: int = 3000, seed: int = 60):
    batch = generate_batch(n, seed)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    truth = pd.DataFrame(batch.truth)
    return make_training_data(frame, truth, problem, seed=7, val_size=0.2, test_size=0.2, min_rows=200)


def train_all(data, trees: int) -> list:
    return [fit_model(name, data, 7, HYPER, tune=False, trees=trees) for name in ALGORITHMS]


@pytest.fixture(scope="module")
def classification():
    data = training_data("classification")
    trained = train_all(data, trees=100)
    return data, trained, evaluate_models.fn(trained, data, TrainingParams(split_seed=7))


def test_every_model_beats_the_baseline_and_the_best_is_near_the_oracle(classification):
    _, _, evaluation = classification
    scores = {row["algorithm"]: row["test"]["roc_auc"] for row in evaluation.models}
    assert scores.pop("baseline") == 0.5
    assert all(score > 0.8 for score in scores.values()), scores
    oracle = evaluation.oracle["test"]["roc_auc"]
    assert oracle - max(scores.values()) < 0.04  # measured: about 0.02
    assert max(scores.values()) <= oracle + 0.01  # no model can beat the truth by more than noise


def test_split_is_stratified_disjoint_and_recorded(classification):
    data, _, _ = classification
    ids = data.split_ids
    assert not set(ids["train"]) & set(ids["test"]) and not set(ids["val"]) & set(ids["test"])
    assert len(ids["train"]) + len(ids["val"]) + len(ids["test"]) == 3000
    rates = [data.y[part].mean() for part in ("train", "val", "test")]
    assert max(rates) - min(rates) < 0.01
    assert list(data.X["train"].columns) == FEATURES and "p_high_performer" not in data.X["train"]


def test_preprocessing_is_fitted_on_training_data_only(classification):
    data, trained, _ = classification
    scaler = trained[1].pipeline.named_steps["pre"].named_transformers_["numeric"][-1]
    assert scaler.mean_[0] == pytest.approx(data.X["train"]["age"].mean())
    assert scaler.mean_[0] != pytest.approx(pd.concat([data.X["train"], data.X["test"]])["age"].mean(), abs=1e-9)


def test_the_forest_reports_its_validation_score_every_10_trees(classification):
    _, trained, _ = classification
    forest = next(m for m in trained if m.algorithm == "random_forest")
    assert [point["trees"] for point in forest.curve] == list(range(10, 101, 10))
    assert forest.pipeline.named_steps["model"].n_estimators == 100


def test_a_saved_and_loaded_model_predicts_identically(classification):
    import io

    import joblib

    data, trained, _ = classification
    for model in trained:
        payload, _ = serialize(model.pipeline)
        loaded = joblib.load(io.BytesIO(payload))
        expected = model.pipeline.predict_proba(data.X["test"])
        np.testing.assert_array_equal(loaded.predict_proba(data.X["test"]), expected)


def test_models_cope_with_missing_values_and_unseen_majors(classification):
    data, trained, _ = classification
    odd = data.X["test"].head(5).copy()
    odd["study_hours"] = np.nan
    odd["attendance_rate"] = np.nan
    odd["tutoring"] = pd.Series([None] * 5, dtype=object, index=odd.index)
    odd["major"] = "Astrology"
    for model in trained:
        assert model.pipeline.predict_proba(odd).shape == (5, 2)


def test_regression_models_beat_the_mean_and_approach_the_oracle():
    data = training_data("regression", n=2000, seed=61)
    trained = train_all(data, trees=50)
    evaluation = evaluate_models.fn(trained, data, TrainingParams(split_seed=7))
    mae = {row["algorithm"]: row["test"]["mae"] for row in evaluation.models}
    baseline = mae.pop("baseline")
    assert all(value < baseline * 0.8 for value in mae.values()), (mae, baseline)
    assert min(mae.values()) - evaluation.oracle["test"]["mae"] < 1.5


def test_classification_metrics_match_scikit_learn_on_a_tiny_case():
    y = [1, 0, 1, 1, 0, 0, 1, 0]
    pred = [1, 0, 0, 1, 0, 1, 1, 0]
    score = [0.9, 0.2, 0.4, 0.8, 0.1, 0.6, 0.7, 0.3]
    metrics = classification_metrics(y, pred, score)
    assert metrics["accuracy"] == 0.75 and metrics["precision"] == 0.75 and metrics["recall"] == 0.75
    assert metrics["f1"] == pytest.approx(f1_score(y, pred)) == pytest.approx(0.75)
    assert metrics["mcc"] == pytest.approx(matthews_corrcoef(y, pred)) == pytest.approx(0.5)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, score)) == pytest.approx(0.9375)


@pytest.mark.filterwarnings("ignore:A single label was found")  # scikit-learn on case 6
@pytest.mark.parametrize("case", range(8))
def test_classification_metrics_equal_scikit_learns_on_random_and_degenerate_labels(case):
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    rng = np.random.default_rng(case)
    n = [500, 37, 5, 500, 500, 500, 1, 2][case]
    y = np.zeros(n, int) if case == 3 else rng.integers(0, 2, n)  # case 3: one class only
    pred = {0: rng.integers(0, 2, n), 1: rng.integers(0, 2, n), 2: y, 3: rng.integers(0, 2, n),
            4: np.zeros(n, int), 5: np.ones(n, int), 6: np.zeros(n, int), 7: 1 - y}[case]
    metrics = classification_metrics(y, pred, rng.random(n))
    expected = {"accuracy": accuracy_score(y, pred), "precision": precision_score(y, pred, zero_division=0),
                "recall": recall_score(y, pred, zero_division=0), "f1": f1_score(y, pred, zero_division=0),
                "mcc": matthews_corrcoef(y, pred)}
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, rel=1e-12, abs=1e-15), (name, case)


def test_regression_metrics_on_a_tiny_case():
    metrics = regression_metrics([10.0, 20.0, 30.0], [12.0, 18.0, 33.0])
    assert metrics["mae"] == pytest.approx(7 / 3)
    assert metrics["rmse"] == pytest.approx(np.sqrt(17 / 3))
    assert metrics["r2"] == pytest.approx(1 - 17 / 200)


def test_oracle_is_absent_when_the_truth_is_unknown():
    truth = pd.DataFrame({"p_high_performer": [0.2, None], "expected_score": [50.0, None]})
    assert oracle_metrics(truth, pd.Series([0, 1]), "classification") is None


def test_hyperparameters_and_the_forest_step_come_from_the_parameters(classification):
    data, _, _ = classification
    hyper = ModelParams(tree_max_depth=3, forest_step=25, xgb_trees=40, xgb_max_depth=2)
    tree = fit_model("decision_tree", data, 7, hyper, tune=False, trees=50)
    forest = fit_model("random_forest", data, 7, hyper, tune=False, trees=50)
    boosted = fit_model("xgboost", data, 7, hyper, tune=False, trees=50)
    assert tree.params["max_depth"] == 3 and tree.pipeline.named_steps["model"].get_depth() <= 3
    assert [point["trees"] for point in forest.curve] == [25, 50]
    assert (boosted.params["n_estimators"], boosted.params["max_depth"]) == (40, 2)


def test_tuning_searches_the_grid_from_the_parameters(classification):
    data, _, _ = classification
    tuned = fit_model("decision_tree", data, 7, ModelParams(grid_tree_depth=[2], grid_tree_leaf=[50], cv_folds=2),
                      tune=True, trees=50)
    assert (tuned.params["max_depth"], tuned.params["min_samples_leaf"]) == (2, 50)


def test_permutation_importance_on_a_sample_of_a_large_validation_set_agrees_with_the_whole(classification):
    from tasks.training.evaluation import feature_importance

    data, trained, _ = classification
    linear = next(model for model in trained if model.algorithm == "linear").pipeline
    whole = feature_importance(linear, data, 7, 3)["permutation"]
    assert feature_importance(linear, data, 7, 3, rows=len(data.X["val"]))["permutation"] == whole
    sampled = feature_importance(linear, data, 7, 3, rows=300)["permutation"]
    assert sampled != whole and len(data.X["val"]) == 600
    assert max(sampled, key=sampled.get) == max(whole, key=whole.get)
    assert max(abs(sampled[name] - whole[name]) for name in whole) < 0.05


@pytest.mark.parametrize("problem", ["classification", "regression"])
def test_stacked_permutation_importance_gives_scikit_learns_numbers(problem, classification):
    """The stacked shuffles (a few predict calls) against scikit-learn's ``permutation_importance`` (a call per
    column and repeat) on the same model, rows and seed: the same drops, for every algorithm."""
    from sklearn.inspection import permutation_importance

    from tasks.training.evaluation import permutation_drops
    from validation.contracts import problem_spec

    data, trained, _ = classification if problem == "classification" else (training_data(problem), None, None)
    trained = trained or train_all(data, trees=20)
    X, y = data.X["val"].head(150), data.y["val"].head(150)
    scoring = problem_spec(problem).scoring
    for model in (m for m in trained if m.algorithm != "baseline"):
        theirs = permutation_importance(model.pipeline, X, y, scoring=scoring, n_repeats=3, random_state=11,
                                        n_jobs=1).importances
        ours = permutation_drops(model.pipeline, X, y, scoring, 3, 11, rows_per_call=1000)  # several calls
        assert ours.shape == theirs.shape == (X.shape[1], 3)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9, err_msg=model.algorithm)
        assert np.abs(theirs).max() > 0.01  # some column matters: the comparison is not of zeros
