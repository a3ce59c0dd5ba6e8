"""Flow tests run the real flows under Prefect's test harness (one temporary server for the session), each on
its own database. Tests of the flows' pure helpers (summaries, the command line) are marked ``pure``: they get
neither a server nor a store."""

from __future__ import annotations

import uuid

import pytest

from tests.builders import copy_database
from tests.conftest import drop_database, use_store


@pytest.fixture(scope="session")
def prefect_harness():
    """Prefect's test server, for every flow test, with the patience the flows have on a busy machine (at load 20 its
    start missed a 60 s limit: 67 errors in one run; a slow machine may make the suite slow, never red)."""
    import os

    from prefect.testing.utilities import prefect_test_harness

    patience = int(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])  # tests/conftest.py: 300 s
    with prefect_test_harness(server_startup_timeout=patience):
        yield


@pytest.fixture(autouse=True)
def flow_store(request):
    """Every flow test gets Prefect's test server and its own database and folders (a ``pure`` test neither)."""
    if request.node.get_closest_marker("pure"):
        return None
    request.getfixturevalue("prefect_harness")
    return request.getfixturevalue("store")


@pytest.fixture(scope="session")
def trained_store(prefect_harness, mongo_server, tmp_path_factory):
    """A store in which the main flow named a champion (linear or XGBoost, 2,500 students): trained once per test
    process (an xdist worker), never written to: every test that uses it works on a copy (``champion``)."""
    from flows.main import main_flow
    from flows.params import MainParams
    from tasks.training.params import TrainingParams

    name = f"template_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_store(monkeypatch, mongo_server, name, tmp_path_factory.mktemp("template"))
        summary = main_flow(MainParams(students=2500, seed=0, export=False,
                                       training=TrainingParams(algorithms=["linear", "xgboost"])))
    yield name, summary["training"]["champion"]["version"]
    drop_database(mongo_server, name)


@pytest.fixture
def champion(db, trained_store):
    """This test's database starts as a copy of the trained store; returns the champion's version."""
    name, version = trained_store
    copy_database(db.client[name], db)
    return version
