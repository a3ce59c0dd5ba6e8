"""A model with no skill says so: every classifier's accuracy is set beside the base rate (calling everyone the
majority class), the best model's verdict is in the report, and a school may choose models by the metric of the
decision it acts on."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from tasks.training.evaluation import base_rate, leaderboard, skill, skill_warning
from tasks.training.models import fit_model
from tasks.training.params import ModelParams, TrainingParams
from tasks.training.results import Evaluation
from tasks.training.tasks import evaluate_models
from tests.tasks.training.test_small_data import small


def test_the_base_rate_is_the_majority_share():
    assert base_rate([1, 1, 1, 0]) == {"rows": 4, "positive_share": 0.75, "majority": True, "accuracy": 0.75}
    assert base_rate([0, 0, 1, 0, 0]) == {"rows": 5, "positive_share": 0.2, "majority": False, "accuracy": 0.8}


BASE = {"rows": 395, "positive_share": 0.8459, "majority": True, "accuracy": 0.8459}


@pytest.mark.parametrize(("accuracy", "low", "verdict"), [
    (0.8444, 0.81, "no better"),  # the public maths data's champion: below "everyone passes"
    (0.8459, 0.83, "no better"),  # equal is not better
    (0.8600, 0.84, "not clearly better"),  # its interval reaches the base rate
    (0.9000, 0.87, "better"),
])
def test_a_cross_validated_accuracy_is_judged_against_the_base_rate_with_its_interval(accuracy, low, verdict):
    row = {"cv": {"metrics": {"accuracy": {"mean": accuracy, "ci_low": low}, "mcc": {"mean": 0.058}}},
           "test": {"accuracy": 0.99, "mcc": 0.9}}  # the one split says otherwise: the cross-validated figure judges
    found = skill(row, BASE)
    assert (found["verdict"], found["basis"], found["accuracy"], found["low"], found["mcc"]) == (
        verdict, "cross-validated", accuracy, low, 0.058)
    assert found["margin"] == round(accuracy - 0.8459, 4)


def test_on_large_data_the_test_split_judges():
    found = skill({"test": {"accuracy": 0.84, "mcc": 0.1}}, BASE)
    assert (found["verdict"], found["basis"], found["low"]) == ("no better", "test", None)
    assert skill({"test": {"accuracy": 0.86, "mcc": 0.3}}, BASE)["verdict"] == "better"  # no interval: the figure


def test_a_model_trained_on_labels_that_say_nothing_is_flagged_and_a_real_one_is_not():
    data = small(400)
    trained = [fit_model(name, data, 3, ModelParams(), tune=False, trees=50) for name in ("baseline", "linear")]
    evaluation = evaluate_models.fn(trained, data, TrainingParams(cv_repeats=2))
    assert skill_warning(evaluation, "linear", "high performer") is None
    assert next(r for r in evaluation.models if r["algorithm"] == "linear")["skill"]["verdict"] == "better"

    rng = np.random.default_rng(0)
    for part, y in data.y.items():  # labels drawn at 85% "pass", whatever the student: nothing to learn
        data.y[part] = y.__class__((rng.random(len(y)) < 0.85).astype(int), index=y.index, name=y.name)
    trained = [fit_model(name, data, 3, ModelParams(), tune=False, trees=50) for name in ("baseline", "linear")]
    evaluation = evaluate_models.fn(trained, data, TrainingParams(cv_repeats=2))
    warning = skill_warning(evaluation, "linear", "pass")
    assert warning.startswith(("linear is no better than calling everyone 'pass': cross-validated accuracy",
                               "linear is not clearly better than calling everyone 'pass': cross-validated"))
    assert "--choose-by mcc" in warning
    board = leaderboard(evaluation, [], "classification")
    assert all(row["vs_base"] is None or row["vs_base"] < 0.02 for row in board)


def test_a_school_chooses_models_by_the_metric_of_its_decision():
    assert TrainingParams(choose_by="mcc").choose_by == "mcc"
    with pytest.raises(ValidationError, match="choose_by 'mae' is not a classification metric; choose from roc_auc"):
        TrainingParams(choose_by="mae")
    assert TrainingParams(problem="regression", choose_by="rmse").choose_by == "rmse"
    rows = [{"algorithm": name, "val": {}, "test": {}, "train_seconds": 1.0,
             "cv": {"metrics": {m: {"mean": value, "ci_low": value - 0.01, "ci_high": value + 0.01}
                                for m, value in metrics.items()}}}
            for name, metrics in {"xgboost": {"roc_auc": 0.80, "accuracy": 0.84, "f1": 0.91, "mcc": 0.06,
                                              "precision": 0.85, "recall": 0.99},
                                  "linear": {"roc_auc": 0.78, "accuracy": 0.86, "f1": 0.92, "mcc": 0.30,
                                             "precision": 0.88, "recall": 0.95}}.items()]
    by_auc = leaderboard(Evaluation(rows, None), [], "classification")
    by_mcc = leaderboard(Evaluation(rows, None), [], "classification", "mcc")
    assert [r["model"] for r in by_auc] == ["xgboost", "linear"] and [r["model"] for r in by_mcc] == ["linear",
                                                                                                      "xgboost"]
    assert list(by_mcc[0])[2:8] == ["cv_mcc", "cv_mcc_low", "cv_mcc_high", "cv_roc_auc", "cv_accuracy",
                                    "cv_accuracy_low"]
