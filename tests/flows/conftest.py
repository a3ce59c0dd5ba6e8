"""Flow tests run the real flows under Prefect's test harness (one temporary server for the session), each on
its own database."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def prefect_harness():
    """Prefect's test server, for every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(autouse=True)
def flow_store(store):
    """Every flow test gets its own database and folders."""
    return store
