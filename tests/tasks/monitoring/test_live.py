"""What the champion's own outputs say (pure): live performance from labels joined to earlier predictions, and
the prediction-drift rule."""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.monitoring.live import check_predictions, live_performance
from tasks.monitoring.params import DriftParams

CLASSIFIER = {"version": 4, "problem": "classification", "metrics": {"test": {"accuracy": 0.9}}}
REGRESSOR = {"version": 5, "problem": "regression", "metrics": {"test": {"mae": 5.0}}}


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


@pytest.mark.parametrize(("predicted", "problem", "status", "checked"), [
    ([0] * 690 + [1] * 310, "classification", "no_drift", True),
    ([], "classification", "no_drift", False),                        # nothing scored yet
    ([55.0] * 1000, "regression", "no_drift", False),                # classes only
    ([0] * 690 + [1] * 310, "classification", "insufficient_data", False),
])
def test_prediction_drift_is_checked_only_when_it_can_say_something(predicted, problem, status, checked):
    reference = pd.Series([0] * 700 + [1] * 300)
    result = check_predictions(reference, predicted, problem, status, DriftParams())
    assert (result is not None) is checked
    if checked:
        assert not result["drifted"] and result["p_value"] > 0.05
