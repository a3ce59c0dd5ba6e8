"""Behavioural tests of trained models (Made-With-ML's tests/model): what must never change a prediction, the
direction a prediction must move, and records with gaps. Models are trained here on the generator's students, with
features from the pandas twin of the aggregation (kept equal to it by tests/validation)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from tasks.data.synthetic import generate_batch
from tasks.scoring.predict import predict_frame
from tasks.training.dataset import make_training_data
from tasks.training.models import fit_model
from tasks.training.params import ModelParams
from validation.contracts import FEATURES
from validation.pandas_twin import pandas_features

ALGORITHMS = ("linear", "decision_tree", "random_forest", "xgboost")


def features(records: list[dict], batch_id: str = "b1", seq: int = 1) -> pd.DataFrame:
    return pandas_features(records, batch_id, seq, labeled=False)


@pytest.fixture(scope="module")
def champions() -> dict:
    batch = generate_batch(3000, 64)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    data = make_training_data(frame, pd.DataFrame(batch.truth), "classification", 5, 0.2, 0.2, 200)
    return {name: fit_model(name, data, 5, ModelParams(), tune=False, trees=100).pipeline for name in ALGORITHMS}


@pytest.fixture(scope="module")
def students() -> list[dict]:
    return generate_batch(500, 65, labeled=False).records


def raised(records: list[dict], points: int) -> list[dict]:
    """Every grade of every student raised by ``points`` (capped at 100)."""
    out = copy.deepcopy(records)
    for record in out:
        for course in record["courses"]:
            course["grades"] = [min(100, grade + points) for grade in course["grades"]]
    return out


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_student_id_and_the_batch_never_change_a_prediction(champions, students, algorithm):
    model = champions[algorithm]
    before = predict_frame(model, features(students), "classification")
    renamed = [{**record, "student_id": record["student_id"] + 10_000_000} for record in students]
    after = predict_frame(model, features(renamed, batch_id="another-term", seq=9), "classification")
    assert (before["prediction"].to_numpy() == after["prediction"].to_numpy()).all()
    assert np.array_equal(before["probability"].to_numpy(), after["probability"].to_numpy())


def test_raising_every_grade_never_lowers_the_linear_models_probability(champions, students):
    model = champions["linear"]
    before = predict_frame(model, features(students), "classification")["probability"].to_numpy()
    for points in (1, 5, 15):
        after = predict_frame(model, features(raised(students, points)), "classification")["probability"].to_numpy()
        assert (after >= before - 1e-12).all(), f"+{points} points lowered {int((after < before - 1e-12).sum())}"
        assert (after > before).mean() > 0.95  # and it does raise it (students already at 100 may stay)


@pytest.mark.parametrize("algorithm", ["decision_tree", "random_forest", "xgboost"])
def test_raising_every_grade_rarely_lowers_a_tree_models_probability(champions, students, algorithm):
    """Trees are not monotone by construction: a student's +5 points can cross a split into a leaf that happens to
    score lower. Measured on these 500 students: the probability did not fall for 95.4% (decision tree), 97.4%
    (random forest) and 96.4% (XGBoost). Below 90% the model would have learned something backwards."""
    model = champions[algorithm]
    before = predict_frame(model, features(students), "classification")["probability"].to_numpy()
    after = predict_frame(model, features(raised(students, 5)), "classification")["probability"].to_numpy()
    held = float((after >= before - 1e-9).mean())
    print(f"{algorithm}: probability not lowered for {held:.1%} of students at +5 points")
    assert held >= 0.9


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("field", [("study", "hours_per_week"), ("study", "attendance_rate"),
                                   ("study", "tutoring"), ("demographics", "first_generation"),
                                   ("demographics", "part_time_job")])
def test_a_missing_optional_field_gives_a_prediction_not_an_error(champions, students, algorithm, field):
    record = copy.deepcopy(students[0])
    record.setdefault(field[0], {})[field[1]] = None
    frame = features([record])
    assert frame[FEATURES].isna().any(axis=None)  # the gap reached the features
    answer = predict_frame(champions[algorithm], frame, "classification")
    assert answer["prediction"].iloc[0] in (0, 1) and 0.0 <= answer["probability"].iloc[0] <= 1.0
