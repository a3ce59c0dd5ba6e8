"""Shared fixtures: one Prefect test server and one local MongoDB server per session; a fresh database and
fresh data and artifacts folders per test."""

from __future__ import annotations

import os
import socket
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


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory) -> str:
    """The project's local server (started through the same code users run) on a temporary folder."""
    from infra.local_server import ensure_server, stop_server

    folder = tmp_path_factory.mktemp("local-mongo") / "mongo"
    uri = ensure_server(folder, free_port())
    yield uri
    stop_server(folder)


@pytest.fixture(autouse=True)
def store(monkeypatch, tmp_path, mongo_server):
    """Every test gets its own database on the session's server and its own data and artifacts folders."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("MONGO_URI", mongo_server)
    monkeypatch.setenv("MONGO_DB", name)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PIPELINE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    yield mongo_server
    from infra.settings import Settings
    from infra.storage import get_database

    get_database(Settings(MONGO_URI=mongo_server, MONGO_DB=name)).client.drop_database(name)


@pytest.fixture
def db(store):
    from infra.storage import get_database

    return get_database()


@pytest.fixture
def reference_record() -> dict:
    import copy

    return copy.deepcopy(REFERENCE_RECORD)
