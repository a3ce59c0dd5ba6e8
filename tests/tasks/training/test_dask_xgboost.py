"""XGBoost trained across a Dask cluster's workers (``xgboost.dask``) when training runs on Dask and the window is
large: a plain XGBoost model comes out, as good as one trained in one process."""

from __future__ import annotations

import pickle

import distributed  # in the test tools (the extra .[dask])
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from xgboost import XGBClassifier

from tasks.data.synthetic import generate_batch
from tasks.training.dataset import make_training_data
from tasks.training.models import fit_model, on_dask_worker
from tasks.training.params import ModelParams
from validation.pandas_twin import pandas_features


@pytest.fixture(scope="module")
def data():
    batch = generate_batch(4000, 61)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    return make_training_data(frame, pd.DataFrame(batch.truth), "classification", seed=7, val_size=0.2,
                              test_size=0.2, min_rows=200)


def test_xgboost_on_a_dask_worker_trains_across_the_cluster_from_the_row_threshold(data):
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        across = client.submit(fit_model, "xgboost", data, 7, ModelParams(), False, 10, None, 1000).result()
        below = client.submit(fit_model, "xgboost", data, 7, ModelParams(), False, 10, None, 10**9).result()
        assert client.submit(on_dask_worker).result() is True
    assert on_dask_worker() is False
    alone = fit_model("xgboost", data, 7, ModelParams(), False, 10, dask_rows=1000)  # not on a worker: one process
    assert across.params["trained_with"] == "xgboost.dask"
    assert "trained_with" not in below.params and "trained_with" not in alone.params
    model = pickle.loads(pickle.dumps(across.pipeline))  # saved and loaded like any version, no Dask needed
    assert type(model.named_steps["model"]) is XGBClassifier
    auc = {name: roc_auc_score(data.y["test"], trained.predict_proba(data.X["test"])[:, 1])
           for name, trained in (("across", model), ("alone", alone.pipeline))}
    assert auc["across"] > 0.88 and abs(auc["across"] - auc["alone"]) < 0.02, auc
