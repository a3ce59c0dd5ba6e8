"""Training on a Dask cluster (``--task-runner dask``): a local cluster of worker processes whose tasks report to
the flow's own Prefect API (a running server, or the run's temporary one), never to servers of their own."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from infra.collections import MODELS
from tests.deployments.conftest import ROOT

pytestmark = pytest.mark.slow
RUN = [sys.executable, "flows/main.py", "--students", "600", "--algorithms", "linear,xgboost", "--task-runner",
       "dask", "--dask-workers", "2", "--no-export", "--json"]


def test_training_on_a_local_dask_cluster_reports_to_the_running_server(prefect_server, db):
    server = prefect_server
    done = subprocess.run([*RUN, "--seed", "1", "--dask-xgboost-rows", "1"], cwd=ROOT, env=server.env,
                          capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert [m["algorithm"] for m in summary["training"]["models"]] == ["linear", "xgboost"]
    assert summary["training"]["champion"]["promoted"] and db[MODELS].count_documents({}) == 2
    # past the row threshold XGBoost trained across the cluster (xgboost.dask), and was registered as any version
    assert db[MODELS].find_one({"algorithm": "xgboost"})["params"]["trained_with"] == "xgboost.dask"
    assert "Creating a new Dask cluster" in output and "Starting temporary server" not in output
    tasks = server.post("/task_runs/filter", {"task_runs": {"name": {"like_": "train-model"}}})
    assert sorted(t["state_type"] for t in tasks) == ["COMPLETED"] * 3  # baseline, linear, xgboost: on the server
    # the cluster's own chatter is off: no INFO line of distributed's (its warnings, e.g. an event loop slowed by a
    # loaded machine, may still appear: in one CI run they made the output 80 lines against 50 on a quiet machine)
    chatter = [line for line in output.splitlines() if re.search(r"distributed\.[\w.]+ - INFO - ", line)]
    assert chatter == [], chatter[:5]


def test_without_a_server_the_dask_workers_use_the_runs_temporary_one(store, tmp_path, db):
    import os

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "home"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="240",
               MONGO_URI=store, PIPELINE_DATA_DIR=str(tmp_path / "data"),
               PIPELINE_ARTIFACTS_DIR=str(tmp_path / "artifacts"))
    (tmp_path / "home").mkdir()
    done = subprocess.run([*RUN, "--seed", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert output.count("Starting temporary server") == 1  # the run's own; none per Dask worker
    assert db[MODELS].count_documents({}) == 2
    assert "trained_with" not in db[MODELS].find_one({"algorithm": "xgboost"})["params"]  # below 200,000 rows
