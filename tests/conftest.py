"""Shared fixtures: one Prefect test server per session, and a fresh in-memory store and folders per test."""

from __future__ import annotations

import os
import uuid

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REFERENCE_RECORD = {
    "student_id": 3, "age": 27, "major": "Math", "fullTime": False, "enrollment_year": 2021,
    "generated_at": "2026-02-05T14:06:14.317129",
    "courses": [{"course": "Statistics", "credits": 3, "grades": [74, 57, 59]},
                {"course": "Linear Algebra", "credits": 4, "grades": [68, 64, 75]}],
}


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(autouse=True)
def store(monkeypatch, tmp_path):
    """Every test gets its own in-memory database and its own data and artifacts folders."""
    uri = f"memory://test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("MONGO_URI", uri)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PIPELINE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return uri


@pytest.fixture
def db(store):
    from infra.storage import get_database

    return get_database()


@pytest.fixture
def reference_record() -> dict:
    import copy

    return copy.deepcopy(REFERENCE_RECORD)
