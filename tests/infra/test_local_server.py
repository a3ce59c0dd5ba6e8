"""The local MongoDB server: started once, reused, stopped; every way it can go wrong fails fast and says
what to do; acknowledged writes survive a kill -9 of the server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymongo
import pytest

from infra.local_server import (
    LOG_FILE,
    STATE_FILE,
    LocalServerError,
    ensure_server,
    pid_alive,
    read_state,
    server_command,
    server_status,
    stop_server,
)
from tests.conftest import free_port
from tests.reaper import below, processes


@pytest.fixture
def folder(tmp_path):
    """A fresh data folder whose server (if a test started one) is stopped afterwards."""
    path = tmp_path / "mongo"
    yield path
    with contextlib.suppress(LocalServerError):
        stop_server(path)


def by_hand(folder: Path, port: int) -> subprocess.Popen:
    """A server started without this project's code (and so without a state file)."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([server_command(), "--host", "127.0.0.1", "--port", str(port), "--storage-path",
                             str(folder), "--log-level", "WARNING"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def wait_ready(port: int) -> None:
    client = pymongo.MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=20000)
    client.admin.command("ping")
    client.close()


def test_started_once_then_reused_then_stopped(folder, capsys):
    port = free_port()
    uri = ensure_server(folder, port)
    assert uri == f"mongodb://127.0.0.1:{port}/?journal=true" and "started SecantusDB" in capsys.readouterr().err
    state = read_state(folder)
    assert state.port == port and pid_alive(state.pid)
    assert ensure_server(folder, free_port()) == uri  # a running server is reused, whatever the setting says now
    assert capsys.readouterr().err == "" and read_state(folder).pid == state.pid
    pymongo.MongoClient(uri)["t"]["c"].insert_one({"k": 1})
    status = server_status(folder)
    assert (status["state"], status["pid"], status["uri"]) == ("running", state.pid, uri)
    assert status["size_bytes"] > 0
    assert stop_server(folder)["stopped"] and not pid_alive(state.pid)
    assert not (folder / STATE_FILE).exists() and server_status(folder)["state"] == "stopped"
    ensure_server(folder, port)  # the data is still there after a restart
    assert pymongo.MongoClient(uri)["t"]["c"].count_documents({"k": 1}) == 1


def test_a_port_taken_by_another_program_is_refused(folder):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        message = f"port {port} .* taken by another program.*PIPELINE_LOCAL_MONGO_PORT"
        with pytest.raises(LocalServerError, match=message):
            ensure_server(folder, port)
    assert not (folder / STATE_FILE).exists()


def test_a_port_used_by_another_mongodb_server_is_refused(folder, mongo_server):
    port = int(mongo_server.split(":")[2].split("/")[0])
    with pytest.raises(LocalServerError, match="used by another MongoDB server, not one serving"):
        ensure_server(folder, port)


def test_a_folder_held_by_another_server_is_refused(folder):
    holder = by_hand(folder, port := free_port())
    try:
        wait_ready(port)  # serving: it holds the folder
        with pytest.raises(LocalServerError, match="held by another server process"):
            ensure_server(folder, free_port())
        assert not (folder / STATE_FILE).exists()
    finally:
        holder.terminate()
        holder.wait(30)


def test_a_stale_state_file_is_replaced_and_said_so(folder, capsys):
    folder.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / STATE_FILE).write_text(json.dumps({"pid": dead.pid, "port": 1, "host": "127.0.0.1",
                                                 "folder": str(folder), "started_at": "2026-01-01T00:00:00"}))
    port = free_port()
    assert ensure_server(folder, port) == f"mongodb://127.0.0.1:{port}/?journal=true"
    err = capsys.readouterr().err
    assert f"named pid {dead.pid}, which no longer serves" in err and "started SecantusDB" in err


def test_an_unreadable_state_file_names_itself(folder):
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_text("{not json")
    with pytest.raises(LocalServerError, match=f"state file {folder / STATE_FILE} is unreadable.*delete the file"):
        ensure_server(folder, free_port())


def test_a_folder_that_is_not_a_store_is_refused(folder):
    (folder / "student_performance").mkdir(parents=True)
    (folder / "student_performance" / "students_raw.sqlite").write_bytes(b"SQLite format 3")
    with pytest.raises(LocalServerError, match="not a SecantusDB store \\(student_performance; .*move it aside"):
        ensure_server(folder, free_port())


def test_a_server_that_does_not_answer_in_time_is_stopped_and_reported(folder, tmp_path, monkeypatch):
    # a server that never answers (a real one given 0.02 s is a race: once, on a loaded machine, a ping answered)
    silent = tmp_path / "silent-server"
    silent.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")  # one process, with the server's args
    silent.chmod(0o755)
    monkeypatch.setattr("infra.local_server.server_command", lambda: str(silent))
    with pytest.raises(LocalServerError, match=r"did not answer within 0 s; its log .*pipeline-server.log"):
        ensure_server(folder, free_port(), start_timeout_s=0.3)
    assert not (folder / STATE_FILE).exists()
    leftover = subprocess.run(["pgrep", "-f", f"--storage-path {folder}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_a_hung_server_is_reported_with_how_to_stop_it(folder):
    uri = ensure_server(folder, free_port())
    state = read_state(folder)
    os.kill(state.pid, signal.SIGSTOP)
    try:
        with pytest.raises(LocalServerError, match=f"pid {state.pid}.*does not answer.*make db-stop"):
            ensure_server(folder, free_port(), start_timeout_s=1)
    finally:
        os.kill(state.pid, signal.SIGCONT)
    assert ensure_server(folder, free_port()) == uri


def test_acknowledged_writes_survive_a_kill_of_the_server(folder):
    uri = ensure_server(folder, free_port())
    state = read_state(folder)
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=2000)
    acknowledged = 0
    for i in range(300):
        client["t"]["c"].insert_one({"i": i})
        acknowledged += 1
    os.kill(state.pid, signal.SIGKILL)
    while pid_alive(state.pid):
        time.sleep(0.05)
    client.close()
    restarted = ensure_server(folder, free_port())
    assert read_state(folder).pid != state.pid
    assert pymongo.MongoClient(restarted)["t"]["c"].count_documents({}) == acknowledged
    assert (folder / LOG_FILE).exists()


@pytest.mark.parametrize(("workers", "killed"), [([], False), (["-n", "1"], False), (["-n", "1"], True)],
                         ids=["one-process", "xdist-worker", "xdist-worker-killed"])
def test_a_test_run_killed_from_outside_leaves_no_server_behind(tmp_path, workers, killed):
    """SIGTERM (as a CI timeout sends) to a pytest run holding the session's local MongoDB server and Prefect's test
    server: both are stopped, nothing is orphaned; also when a pytest-xdist worker holds them (`make test`), and when
    that worker dies before its fixtures can stop them (SIGKILL: as xdist ending a busy worker was seen to leave
    them under load; the worker's reaper stops what ran below it)."""
    ready = tmp_path / "ready"
    root = Path(__file__).resolve().parents[2]
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers,
                            "tests/infra/sigterm_probe.py"], cwd=root, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env={**os.environ, "SIGTERM_PROBE_READY": str(ready)})
    deadline = time.monotonic() + 180
    while not ready.exists():
        assert run.poll() is None and time.monotonic() < deadline, run.stdout.read().decode()[-2000:]
        time.sleep(0.2)
    servers = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
               for pid in below(run.pid, processes())}
    assert any("secantusd" in line for line in servers.values()), servers
    assert any("prefect" in line and "server" in line for line in servers.values()), servers
    if killed:
        table = processes()
        holder = next(table[pid][0] for pid, line in servers.items() if "secantusd" in line)
        assert holder != run.pid
        os.kill(holder, signal.SIGKILL)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=120)
    gone = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in servers) and time.monotonic() < gone:
        time.sleep(0.2)
    left = [line for pid, line in servers.items() if Path(f"/proc/{pid}").exists()]
    for pid in servers:  # this test cleans up after itself whatever it finds
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert left == [], f"left running after SIGTERM: {left}"


def test_status_and_stop_need_no_installed_environment(tmp_path):
    """`make db-stop` on a checkout whose .venv is gone (or never made) stops the server its data folder records,
    with the standard library only, and installs nothing first."""
    root = Path(__file__).resolve().parents[2]
    folder = tmp_path / "data" / "mongo"
    ensure_server(folder, free_port())
    pid = read_state(folder).pid
    bare = ("import sys, runpy; sys.modules['pydantic_settings'] = None; sys.argv[1:] = [sys.argv[1]]; "
            "runpy.run_module('infra.local_server', run_name='__main__')")  # as if pydantic-settings were missing
    env = {**os.environ, "PIPELINE_DATA_DIR": str(tmp_path / "data")}
    try:
        status = subprocess.run([sys.executable, "-c", bare, "status"], cwd=root, env=env, capture_output=True,
                                text=True, timeout=60)
        assert status.stdout.startswith("state      running\n") and f"pid        {pid}" in status.stdout
        stopped = subprocess.run([sys.executable, "-c", bare, "stop"], cwd=root, env=env, capture_output=True,
                                 text=True, timeout=60)
        assert (stopped.returncode, stopped.stdout.strip()) == (0, f"stopped pid {pid}") and not pid_alive(pid)
        start = subprocess.run([sys.executable, "-c", bare, "start"], cwd=root, env=env, capture_output=True,
                               text=True, timeout=60)
        assert (start.returncode, start.stderr.strip()) == (
            1, "error: the project's environment is not installed: run `make setup` first")
    finally:
        with contextlib.suppress(LocalServerError):
            stop_server(folder)
    (tmp_path / "checkout").mkdir()
    (tmp_path / "checkout" / "Makefile").write_bytes((root / "Makefile").read_bytes())
    planned = subprocess.run(["make", "-n", "db-stop", "db-status"], cwd=tmp_path / "checkout", capture_output=True,
                             text=True, timeout=60)
    assert planned.returncode == 0 and "pip" not in planned.stdout and "venv" not in planned.stdout.replace(
        "[ -x .venv/bin/python ]; then echo .venv/bin/python", "")
