"""A full disk (issue 31, finding 7): the local server's storage panics and keeps failing every write while it still
answers ``ping``. The status tells it from a healthy server by a real write, a flow ends in one ``error:`` line
naming the disk, and the next start after space is freed recovers the acknowledged writes from the journal (all but,
at worst, the one acknowledged as the disk filled: a limit of the local server, measured below).

The disk is a small tmpfs of the test's own (as root, which CI and the development machines are)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pymongo
import pytest
from pymongo.errors import OperationFailure

from infra.local_server import ensure_server, server_status, stop_server
from tests.conftest import free_port


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.decode()[:200]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_told_apart_and_the_next_start_recovers_every_acknowledged_write(small_disk):
    folder = small_disk / "mongo"
    folder.mkdir()
    filler = small_disk / "someone-elses-file"
    filler.write_bytes(b"x" * 30_000_000)  # the rest of the disk, which the school later frees
    uri = ensure_server(folder, free_port())
    try:
        log = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000).pipeline.predictions
        answered = 0
        with pytest.raises(OperationFailure):
            for _ in range(1000):
                log.insert_many([{"n": answered + i, "pad": os.urandom(1500).hex()} for i in range(61)])
                answered += 61  # acknowledged: these were "answered"
        assert answered >= 122
        status = server_status(folder)
        assert status["state"].startswith("failing") and "cannot write" in status["state"]
        assert "MB free" in status["state"] and "make db-stop" in status["state"]

        subprocess.run(["mount", "-o", "remount,size=400m", str(small_disk)], check=True)  # space is freed
        filler.unlink()
        uri = ensure_server(folder, free_port())  # the next run's first use: restarted, recovered
        again = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000).pipeline.predictions
        recovered = again.count_documents({"n": {"$lt": answered}})
        # Measured: in 1 of 7 runs the store lost the one insert acknowledged just before its journal write failed
        # (61 documents, acknowledged with j:true), every earlier one recovered: a SecantusDB/WiredTiger limit on
        # a full disk, reported in issue 31's note. Everything acknowledged before that last insert must be here.
        assert answered - 61 <= recovered <= answered
        again.insert_one({"n": -1})
        assert server_status(folder)["state"] == "running"
    finally:
        stop_server(folder)


def test_a_flow_on_a_failing_store_ends_in_one_error_line_naming_the_disk(monkeypatch, tmp_path):
    import logging

    from flows.cli import HideUserErrorTracebacks, store_failure

    monkeypatch.setenv("MONGO_URI", "")
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))
    failure = OperationFailure("internal server error", code=1, details={"codeName": "InternalError"})
    said = store_failure(failure)
    assert said.startswith("the local MongoDB server could not write (InternalError): its disk is probably full")
    assert str(Path(tmp_path) / "mongo") in said and "MB free" in said
    assert store_failure(OperationFailure("bad query", code=2)) is None  # not a storage failure
    record = logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, "Task run failed", None,
                               (OperationFailure, failure, None))
    assert HideUserErrorTracebacks().filter(record) and record.exc_info is None  # no traceback on the console
    from pymongo.errors import AutoReconnect

    outage = AutoReconnect("connection refused")  # a store away for a while: the run ends in one line, no tracebacks
    record = logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, "Task run failed", None,
                               (AutoReconnect, outage, None))
    assert HideUserErrorTracebacks().filter(record) and record.exc_info is None
