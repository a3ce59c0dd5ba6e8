"""What the registry stores for a trained model (pure): the version document, its calibration and its drift
reference, on a small trained model; and the typed record every stage reads instead of the document."""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.data.synthetic import generate_batch
from tasks.registry.records import common_record, model_calibration, reference_frame, version_record
from tasks.registry.results import ModelVersion
from tasks.training.dataset import make_training_data
from tasks.training.models import fit_model
from tasks.training.params import ModelParams
from tasks.training.results import Evaluation
from validation.contracts import BOOLEAN, CATEGORICAL, FEATURES, NUMERIC
from validation.pandas_twin import pandas_features


@pytest.fixture(scope="module")
def trained():
    batch = generate_batch(1500, 61)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    data = make_training_data(frame, pd.DataFrame(batch.truth), "classification", seed=3, val_size=0.2,
                              test_size=0.2, min_rows=200)
    return data, fit_model("linear", data, 3, ModelParams(), tune=False, trees=10)


def row() -> dict:
    return {"algorithm": "linear", "val": {"roc_auc": 0.9}, "test": {"roc_auc": 0.89, "accuracy": 0.85},
            "importance": {"own": {"avg_grade": 1.5}, "permutation": {"avg_grade": 0.1}}}


def test_a_version_document_holds_problem_schema_lineage_and_importance_as_a_list(trained):
    data, model = trained
    evaluation = Evaluation([{"algorithm": "baseline", "val": {"roc_auc": 0.5}, "test": {"roc_auc": 0.5}}, row()],
                            None)
    common = common_record(data, evaluation, "split-1", {"git_commit": "abc"}, "run-1")
    assert common["problem"] == "classification" and common["target"] == "high_performer"
    assert common["feature_schema"] == {"numeric": NUMERIC, "boolean": BOOLEAN, "categorical": CATEGORICAL,
                                        "extras": []}
    assert common["lineage"]["split_id"] == "split-1" and common["baseline"] == {"val": {"roc_auc": 0.5},
                                                                                 "test": {"roc_auc": 0.5}}
    doc = version_record(model, row(), common, "identity-1", {"method": "platt"})
    assert doc["importance"]["own"] == [{"feature": "avg_grade", "value": 1.5}]  # data values never field names
    assert (doc["algorithm"], doc["identity"], doc["calibration"]) == ("linear", "identity-1", {"method": "platt"})
    assert doc["metrics"] == {"val": {"roc_auc": 0.9}, "test": {"roc_auc": 0.89, "accuracy": 0.85}}


def test_the_reference_is_the_held_out_rows_with_label_and_prediction(trained):
    data, model = trained
    frame = reference_frame(model.pipeline, data, ("val", "test"))
    assert len(frame) == len(data.X["val"]) + len(data.X["test"]) == 600
    assert list(frame.columns) == [*FEATURES, "high_performer", "prediction"]
    assert (frame["prediction"].to_numpy() == model.pipeline.predict(frame[FEATURES])).all()
    # main's reference: every part's features (more rows see smaller shifts), predictions on held-out rows only
    whole = reference_frame(model.pipeline, data, ("train", "val", "test"), ("val", "test"))
    assert len(whole) == sum(len(data.X[part]) for part in ("train", "val", "test"))
    train_rows = len(data.X["train"])
    assert whole["prediction"].iloc[:train_rows].isna().all()
    assert (whole["prediction"].iloc[train_rows:].to_numpy() == frame["prediction"].to_numpy()).all()


def test_a_classifier_gets_a_calibration_fitted_on_its_held_out_rows(trained):
    data, model = trained
    calibration = model_calibration(model.pipeline, data)
    assert calibration["method"] in ("none", "platt", "isotonic") and calibration["rows"] == 600
    regression = make_training_data(
        pandas_features(generate_batch(400, 62).records, "b", 1, labeled=True),
        pd.DataFrame(generate_batch(400, 62).truth), "regression", 3, 0.2, 0.2, 200)
    assert model_calibration(None, regression) is None  # no probabilities to calibrate


def test_the_typed_record_reads_a_stored_document():
    doc = {"name": "high_performer", "version": 4, "problem": "classification", "algorithm": "xgboost",
           "metrics": {"val": {"roc_auc": 0.9}, "test": {"roc_auc": 0.88, "accuracy": 0.84}},
           "calibration": {"method": "platt", "slope": 1.1, "intercept": -0.1, "rows": 800},
           "binary": {"gridfs_id": "g1", "sha256": "abc", "path": "/m/v4/model.joblib"},
           "lineage": {"rows": 2000}, "params": {"max_depth": 4}, "importance": [{"feature": "x", "value": 1}]}
    model = ModelVersion.from_document(doc)
    assert (model.version, model.algorithm, model.sha256, model.binary_id) == (4, "xgboost", "abc", "g1")
    assert model.spec.primary == "roc_auc" and model.spec.live_metric == "accuracy"
    assert model.live_reference == 0.84 and model.test_metric("roc_auc") == 0.88
    assert model.calibration["rows"] == 800
    assert model.describe()["binary"] == {"sha256": "abc"} and "binary_id" not in model.describe()
    with pytest.raises(AttributeError):
        model.version = 5  # frozen
