"""Direct loss estimation for regression: the loss model rides inside the pipeline, and on unseen batches without
drift the estimated MAE is within 10% of the realised MAE with its interval covering it at about its level."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from tasks.data.synthetic import generate_batch
from tasks.monitoring.estimate import expected_mae
from tasks.registry.loss import predicted_errors
from tasks.registry.records import model_calibration
from tasks.training.dataset import make_training_data
from tasks.training.models import fit_model
from tasks.training.params import ModelParams
from validation.pandas_twin import pandas_features


def features(students: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    batch = generate_batch(students, seed)
    return pandas_features(batch.records, batch.batch_id, 1, labeled=True), pd.DataFrame(batch.truth)


@pytest.fixture(scope="module")
def regressor():
    frame, truth = features(2000, 81)
    data = make_training_data(frame, truth, "regression", seed=3, val_size=0.2, test_size=0.2, min_rows=200)
    pipeline = fit_model("linear", data, 3, ModelParams(), tune=False, trees=10).pipeline
    loss = model_calibration(pipeline, data)
    return pickle.loads(pickle.dumps(pipeline)), loss  # as the registry stores and loads it


def test_the_loss_model_is_fitted_on_held_out_rows_and_travels_with_the_pipeline(regressor):
    pipeline, loss = regressor
    assert loss["method"] == "dle" and loss["rows"] == 800 and 0 < loss["residual_sd"] < loss["mae"] * 2
    assert abs(loss["cv_bias"]) < 0.2  # points of MAE
    frame, _ = features(50, 82)
    errors = predicted_errors(pipeline, frame, pipeline.predict(frame[list(pipeline.feature_names_in_)]))
    assert errors.shape == (50,) and (errors >= 0).all()
    assert predicted_errors(object(), frame, np.zeros(50)) is None  # a version without one: no estimate


@pytest.mark.slow
def test_estimated_mae_is_within_ten_percent_and_its_interval_covers_at_its_level():
    """200 (registration, batch) pairs: 10 registrations (each its own held-out sample, so the loss model's own
    uncertainty varies as it does in life), 20 unseen 1,000-student batches each, no drift."""
    inside, ratios = 0, []
    for registration in range(10):
        frame, truth = features(2000, 81 + registration)
        data = make_training_data(frame, truth, "regression", seed=3, val_size=0.2, test_size=0.2, min_rows=200)
        pipeline = fit_model("linear", data, 3, ModelParams(), tune=False, trees=10).pipeline
        loss = model_calibration(pipeline, data)
        for batch in range(20):
            current, _ = features(1000, 1000 + 20 * registration + batch)
            predicted = pipeline.predict(current[list(pipeline.feature_names_in_)])
            estimate = expected_mae(predicted_errors(pipeline, current, predicted), loss, 0.95)
            realised = float(np.abs(current["final_score"] - predicted).mean())
            inside += estimate.low <= realised <= estimate.high
            ratios.append(estimate.value / realised)
    assert max(abs(r - 1) for r in ratios) <= 0.10  # measured: 0.096 at worst, 1.004 on average
    assert abs(inside / 200 - 0.95) <= 0.05  # measured: 0.94
