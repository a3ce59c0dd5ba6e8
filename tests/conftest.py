"""Shared fixtures. One local MongoDB server per session (started when a test first needs a store) with a fresh
database and fresh folders per test that asks for ``store`` or ``db``. Pure tests start nothing: no store is
configured for them (a test that touches one by mistake fails fast), and no Prefect server (flow tests start
one, ``tests/flows/conftest.py``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# Prefect's temporary server must start within 20 s by default; on a loaded 2-core machine (CI) it can take longer.
# Set before Prefect is imported (its settings are read then); flows run as subprocesses inherit it.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
# a test that reaches for a store without asking for one fails fast instead of starting a server in data/
os.environ["MONGO_URI"] = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"
os.environ["PIPELINE_DATA_DIR"] = os.environ["PIPELINE_ARTIFACTS_DIR"] = tempfile.mkdtemp(prefix="pipeline-tests-")

REFERENCE_RECORD = {
    "student_id": 3, "age": 27, "major": "Math", "fullTime": False, "enrollment_year": 2021,
    "generated_at": "2026-02-05T14:06:14.317129",
    "courses": [{"course": "Statistics", "credits": 3, "grades": [74, 57, 59]},
                {"course": "Linear Algebra", "credits": 4, "grades": [68, 64, 75]}],
}


_REAPER: list[subprocess.Popen] = []


def pytest_sessionstart(session) -> None:
    """A run ended from outside (SIGTERM: a CI timeout, a killed terminal) unwinds like Ctrl-C, so the session's
    fixtures stop what they started (the local MongoDB server, Prefect's test server) instead of orphaning them.
    Where a process cannot unwind (an xdist worker ended by its controller before its fixtures ran, measured under
    load; a SIGKILL), its reaper (``tests/reaper.py``, in a session of its own) stops what was running below it."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    if not _REAPER and Path("/proc/self/stat").exists():
        _REAPER.append(subprocess.Popen([sys.executable, str(Path(__file__).with_name("reaper.py")), str(os.getpid())],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True))


# The longest test files, longest first (seconds summed over their tests under `make test` on 2 cores, 2026-12-07,
# second measurement of the day). `make test` hands whole files to its workers in collection order
# (`--no-loadscope-reorder`: xdist would otherwise send the files with most tests first, and the one-test walk-through
# last), so these go first: the last file a worker runs is then a short one, not the README walk-through started while
# the other worker sits idle (measured: 10 minutes of one worker alone at the end). Order only: a file missing from the
# list runs after these.
LONGEST_FILES = [
    "tests/deployments/test_readme_walkthrough.py",  # 381 s
    "tests/deployments/test_deployments.py",  # 308 s
    "tests/flows/test_monitors.py",  # 235 s
    "tests/flows/test_measurement_integrity.py",  # 154 s
    "tests/flows/test_bad_input.py",  # 137 s
    "tests/flows/test_script.py",  # 129 s
    "tests/flows/test_score_retrain.py",  # 120 s
    "tests/tasks/monitoring/test_drift.py",  # 118 s
    "tests/flows/test_own_data.py",  # 103 s
    "tests/infra/test_local_server.py",  # 100 s
    "tests/flows/test_privacy.py",  # 98 s
    "tests/flows/test_main_flow.py",  # 94 s
    "tests/deployments/test_dask_training.py",  # 78 s
    "tests/flows/test_drill.py",  # 62 s
    "tests/flows/test_dashboard.py",  # 57 s (without Chromium's screenshots)
]


def pytest_collection_modifyitems(session, config, items) -> None:
    """The longest files first (``LONGEST_FILES``); a file's tests stay together and in their order."""
    rank = {path: place for place, path in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory) -> str:
    """The project's local server (started through the same code users run) on a temporary folder."""
    from infra.local_server import ensure_server, stop_server

    folder = tmp_path_factory.mktemp("local-mongo") / "mongo"
    uri = ensure_server(folder, free_port())
    yield uri
    stop_server(folder)


def use_store(monkeypatch: pytest.MonkeyPatch, uri: str, database: str, folder) -> None:
    """Point the settings at ``database`` on ``uri``, with data and artifacts under ``folder``."""
    monkeypatch.setenv("MONGO_URI", uri)
    monkeypatch.setenv("MONGO_DB", database)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(folder / "data"))
    monkeypatch.setenv("PIPELINE_ARTIFACTS_DIR", str(folder / "artifacts"))


def drop_database(uri: str, database: str) -> None:
    """Drop a test's database (through its own settings: a test may have broken the environment's)."""
    from infra.settings import Settings
    from infra.storage import get_database

    get_database(Settings(MONGO_URI=uri, MONGO_DB=database)).client.drop_database(database)


@pytest.fixture
def store(monkeypatch, tmp_path, mongo_server):
    """This test's own database on the session's server, and its own data and artifacts folders."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    use_store(monkeypatch, mongo_server, name, tmp_path)
    yield mongo_server
    drop_database(mongo_server, name)


@pytest.fixture
def db(store):
    """The test's database."""
    from infra.storage import get_database

    return get_database()


@pytest.fixture
def reference_record() -> dict:
    """The reference record of the original design (its features are known exactly)."""
    import copy

    return copy.deepcopy(REFERENCE_RECORD)
