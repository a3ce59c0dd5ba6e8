"""Reasons per prediction: for every algorithm and both problems, the base value plus the contributions is the
model's own output for each student, exactly; one-hot columns come back as their field; the top reasons name the
student's values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost

from tasks.data.synthetic import generate_batch
from tasks.scoring.reasons import contributions, top_reasons
from tasks.training.dataset import make_training_data
from tasks.training.models import fit_model
from tasks.training.params import ALGORITHMS, ModelParams
from validation.contracts import FEATURES
from validation.pandas_twin import pandas_features


@pytest.fixture(scope="module", params=["classification", "regression"])
def problem_data(request):
    batch = generate_batch(900, 71, knobs=None)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    frame.loc[:40, "study_hours"] = np.nan  # imputed inputs are explained too
    return make_training_data(frame, pd.DataFrame(batch.truth), request.param, seed=3, val_size=0.2, test_size=0.2,
                              min_rows=200)


def model_output(pipeline, X: pd.DataFrame, classifies: bool, algorithm: str) -> np.ndarray:
    """What the model computes before any link: log-odds (linear, XGBoost), a probability (trees), a score."""
    model = pipeline.named_steps["model"]
    if algorithm == "xgboost":
        transformed = pipeline.named_steps["pre"].transform(X)
        return model.get_booster().predict(xgboost.DMatrix(np.asarray(transformed, dtype=float)), output_margin=True)
    if algorithm == "linear" and classifies:
        return pipeline.decision_function(X)
    return pipeline.predict_proba(X)[:, 1] if classifies else pipeline.predict(X)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_contributions_plus_the_base_reproduce_the_models_output_exactly(problem_data, algorithm):
    data = problem_data
    trained = fit_model(algorithm, data, 3, ModelParams(forest_step=10), tune=False, trees=20)
    X = data.X["test"]
    found = contributions(trained.pipeline, X)
    classifies = data.problem == "classification"
    expected = model_output(trained.pipeline, X, classifies, algorithm)
    tolerance = 1e-4 if algorithm == "xgboost" else 1e-9  # XGBoost adds in float32
    assert np.allclose(found.margin, expected, atol=tolerance, rtol=0)
    assert list(found.values.columns) == FEATURES  # major's one-hot columns summed back into major
    assert found.method == {"baseline": "constant", "linear": "linear", "decision_tree": "path",
                            "random_forest": "path", "xgboost": "treeshap"}[algorithm]
    if algorithm == "baseline":
        assert (found.values.to_numpy() == 0).all()
    else:
        assert found.values.abs().to_numpy().sum() > 0


def test_a_linear_reason_is_measured_from_the_average_training_student(problem_data):
    data = problem_data
    pipeline = fit_model("linear", data, 3, ModelParams(), tune=False, trees=10).pipeline
    found = contributions(pipeline, data.X["train"])
    # centred on the training inputs: each field's contributions average zero over the training students
    assert np.allclose(found.values.mean().to_numpy(), 0, atol=1e-9)
    one = top_reasons(contributions(pipeline, data.X["test"].head(1)), data.X["test"].head(1), top=3)[0]
    assert len(one["reasons"]) == 3 and one["units"] == ("log-odds" if data.problem == "classification" else "points")
    first = one["reasons"][0]
    sent = data.X["test"].iloc[0][first["feature"]]
    assert first["value"] == sent or (first["value"] is None and pd.isna(sent))
    sizes = [abs(r["contribution"]) for r in one["reasons"]]
    assert sizes == sorted(sizes, reverse=True)
