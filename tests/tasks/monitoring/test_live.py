"""What the labels say about the champion (pure): live performance from labels joined to earlier predictions; and
when the predicted-class check runs."""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.monitoring.drift import detect_drift, with_predicted_classes
from tasks.monitoring.live import live_performance
from tasks.monitoring.params import DriftParams
from tasks.registry.results import ModelVersion


def version(number: int, problem: str, metrics: dict) -> ModelVersion:
    return ModelVersion.from_document({"name": "m", "version": number, "problem": problem, "algorithm": "linear",
                                       "metrics": metrics})


CLASSIFIER = version(4, "classification", {"test": {"accuracy": 0.9}})
REGRESSOR = version(5, "regression", {"test": {"mae": 5.0}})


def labels(values: list, target: str = "high_performer") -> pd.DataFrame:
    return pd.DataFrame({"student_id": range(1, len(values) + 1), target: values})


def predictions(values: list, first_id: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"student_id": range(first_id, first_id + len(values)), "prediction": values})


def test_live_accuracy_is_joined_by_student_and_compared_with_registration():
    truth = labels([1] * 80 + [0] * 20)
    predicted = predictions([1] * 70 + [0] * 30)  # wrong on students 71..80
    live = live_performance(truth, predicted, "high_performer", CLASSIFIER, min_rows=50, level=0.95)
    assert (live.status, live.rows, live.metric, live.version) == ("ok", 100, "accuracy", 4)
    assert live.live == pytest.approx(0.9) and live.drop == pytest.approx(0.0)


def test_only_students_with_both_a_label_and_a_prediction_count_and_duplicates_once():
    truth = labels([1] * 100)
    predicted = pd.concat([predictions([0] * 60, first_id=41), predictions([1] * 10, first_id=41)])  # 41..100, twice
    live = live_performance(truth, predicted, "high_performer", CLASSIFIER, min_rows=50, level=0.95)
    assert live.rows == 60 and live.live == 0.0 and live.drop == pytest.approx(0.9)


def test_too_few_joined_rows_is_insufficient_data():
    live = live_performance(labels([1] * 100), predictions([1] * 10), "high_performer", CLASSIFIER, min_rows=50,
                            level=0.95)
    assert (live.status, live.rows, live.drop) == ("insufficient_data", 10, None)


def test_regression_live_mae_and_its_drop():
    truth = labels([60.0] * 100, "final_score")
    live = live_performance(truth, predictions([67.0] * 100), "final_score", REGRESSOR, min_rows=50, level=0.95)
    assert (live.metric, live.live, live.drop) == ("mae", 7.0, 2.0)


@pytest.mark.parametrize(("predicted", "problem", "rows", "checked"), [
    ([0] * 690 + [1] * 310, "classification", 1000, True),
    ([], "classification", 1000, False),                        # nothing scored yet
    ([55.0] * 1000, "regression", 1000, False),                # classes only
    ([0] * 69 + [1] * 31, "classification", 100, False),       # insufficient data: nothing is tested
])
def test_prediction_drift_is_checked_only_when_it_can_say_something(predicted, problem, rows, checked):
    reference = pd.DataFrame({"student_id": range(1000), "x": range(1000), "prediction": [0] * 700 + [1] * 300})
    current = pd.DataFrame({"student_id": range(rows), "x": range(rows)})
    scored = [{"student_id": i, "prediction": p} for i, p in enumerate(predicted)]
    current = with_predicted_classes(current, scored, problem == "classification")
    report = detect_drift(reference, current, ["x"], [], DriftParams(min_drift_rows=500))
    result = report.of_kind("prediction")
    assert bool(result) is checked
    if checked:
        assert not result[0].material and result[0].p_value > 0.05
        assert report.status == "no_drift"  # read beside the decision, never deciding it
