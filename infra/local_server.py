"""The project's local MongoDB server: SecantusDB (MongoDB's wire protocol over WiredTiger) serving the data
folder's ``mongo/`` on loopback, started on first use and reused by every process after that.

It always runs as its own process, started through its command (``secantusd-py``); this code never imports
it. A state file in the folder (pid, port) lets later processes find it; a ping confirms it is alive.

    python -m infra.local_server start | status | stop      (make db-start / db-status / db-stop)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from infra.errors import StorageError
from infra.files import write_text_atomically
from infra.locks import file_lock

STATE_FILE = "pipeline-server.json"
LOG_FILE = "pipeline-server.log"
LOCK_FILE = ".pipeline-server.lock"
HOST = "127.0.0.1"
COMMAND = "secantusd-py"
OWN_FILES = {STATE_FILE, LOG_FILE, LOCK_FILE}


class LocalServerError(StorageError):
    """The local MongoDB server could not be started, found or stopped; the message says what to do."""


@dataclass(frozen=True)
class ServerState:
    """What the state file records about a running server."""

    pid: int
    port: int
    host: str
    folder: str
    started_at: str

    @property
    def uri(self) -> str:
        """The URI pymongo connects with."""
        return uri_for(self.host, self.port)


def uri_for(host: str, port: int) -> str:
    """The URI pymongo uses for the local server (it advertises itself as a one-node replica set).

    ``journal=true``: a write is acknowledged once it is in the server's write-ahead log, so a kill -9 of the
    server loses no acknowledged write (without it, measured: the last ~10-30 of 300 rapid inserts were lost).
    """
    return f"mongodb://{host}:{port}/?journal=true"


# --- facts about processes, ports and files --------------------------------------------------------------


def read_state(folder: Path) -> ServerState | None:
    """The state file's contents, or None when there is none. An unreadable file is an error naming it."""
    path = folder / STATE_FILE
    if not path.exists():
        return None
    try:
        return ServerState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise LocalServerError(
            f"the local server's state file {path} is unreadable ({type(exc).__name__}); if no server is running "
            f"for {folder}, delete the file and retry") from None


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a child of ours that exited is reaped here)."""
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def serves_folder(pid: int, folder: Path) -> bool:
    """Whether ``pid`` is a SecantusDB server whose storage path is ``folder`` (Linux: from /proc)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return pid_alive(pid)  # no /proc (macOS): trust the state file's pid
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    text = [arg.decode(errors="replace") for arg in args]
    if not any(COMMAND in arg for arg in text) or "--storage-path" not in text:
        return False
    return Path(text[text.index("--storage-path") + 1]).resolve() == folder.resolve()


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ping(host: str, port: int, timeout_ms: int = 500) -> bool:
    """True when a MongoDB server answers ``ping`` on ``host:port`` within the timeout."""
    import pymongo
    from pymongo.errors import PyMongoError

    client = pymongo.MongoClient(host, port, directConnection=True, serverSelectionTimeoutMS=timeout_ms,
                                 connectTimeoutMS=timeout_ms, appname="student-pipeline-ping")
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


HEALTH_DB = "secantus_pipeline_health"  # one tiny document a health check rewrites: a real write, not a ping


def write_fails(host: str, port: int, timeout_ms: int = 2000) -> str | None:
    """Why the server at ``host:port`` cannot write, or None when a write goes through (a server whose storage
    panicked, on a full disk say, still answers ``ping`` but fails every write)."""
    import pymongo
    from pymongo.errors import PyMongoError

    client = pymongo.MongoClient(host, port, directConnection=True, serverSelectionTimeoutMS=timeout_ms,
                                 connectTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms * 5,
                                 appname="student-pipeline-health")
    try:
        client[HEALTH_DB]["probe"].replace_one({"_id": "probe"}, {"at": datetime.now(UTC)}, upsert=True)
        return None
    except PyMongoError as exc:
        return f"{type(exc).__name__}: {str(exc)[:80]}"
    finally:
        client.close()


def disk_words(folder: Path) -> str:
    """The free space on the folder's disk, in words."""
    try:
        usage = shutil.disk_usage(folder if folder.exists() else folder.parent)
    except OSError:
        return "its free space unknown"
    return f"{usage.free / 1e6:,.0f} MB free of {usage.total / 1e6:,.0f} MB"


def folder_bytes(folder: Path) -> int:
    """Bytes on disk under the folder (the WiredTiger files, the log and the state file)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def start_lock(folder: Path) -> contextlib.AbstractContextManager[None]:
    """Serialise check-then-start between processes, so two first users never start two servers."""
    return file_lock(folder / LOCK_FILE)


def server_command() -> str:
    """The server's launcher: beside this Python (the project's venv) or on PATH."""
    beside = Path(sys.executable).parent / COMMAND
    found = str(beside) if beside.exists() else shutil.which(COMMAND)
    if not found:
        raise LocalServerError(f"the local MongoDB server's command {COMMAND!r} is not installed: run `make setup` "
                               "(it installs the project's dependencies), or set MONGO_URI to a MongoDB server")
    return found


# --- start, reuse, stop ------------------------------------------------------------------------------------


def ensure_server(folder: Path, port: int, start_timeout_s: float | None = None, host: str = HOST) -> str:
    """Return the URI of the server serving ``folder``: the running one if there is one, else a new one.

    A new server is a detached background process that outlives this one; its start is announced once on
    stderr. Every way this can go wrong fails fast with a message saying what to do.
    """
    if start_timeout_s is None:
        from infra.settings import get_settings

        start_timeout_s = get_settings().local_mongo_start_timeout_s
    folder = folder.resolve()
    with start_lock(folder):
        state = read_state(folder)
        if state is not None:
            if pid_alive(state.pid) and serves_folder(state.pid, folder):
                if not _wait_for_ping(state.host, state.port, None, min(start_timeout_s, 10.0)):
                    raise LocalServerError(
                        f"the local MongoDB server (pid {state.pid}, port {state.port}) serving {folder} does not "
                        f"answer; stop it with `make db-stop` (or kill {state.pid}) and run again")
                failing = write_fails(state.host, state.port)
                if failing is None:
                    return state.uri
                # its storage panicked (a full disk): only a restart recovers it, from its journal
                _announce(f"local MongoDB: the server (pid {state.pid}) answers but cannot write ({failing}); "
                          f"restarting it to recover (the disk has {disk_words(folder)})")
                _stop_pid(state.pid, 30.0)
            else:
                _announce(f"local MongoDB: the state file named pid {state.pid}, which no longer serves {folder}; "
                          "starting a new server")
            (folder / STATE_FILE).unlink()
        state = _start(folder, host, port, start_timeout_s)
    _announce(f"local MongoDB: started SecantusDB (pid {state.pid}) serving {folder} at {state.uri}. It keeps "
              "running for later runs, workers and the API; `make db-status` shows it, `make db-stop` stops it.")
    return state.uri


def _start(folder: Path, host: str, port: int, timeout_s: float) -> ServerState:
    foreign = sorted(entry.name for entry in folder.iterdir()
                     if entry.name not in OWN_FILES and not entry.name.startswith(f".{STATE_FILE}.tmp"))
    if foreign and not (folder / "WiredTiger").exists():
        raise LocalServerError(
            f"the folder {folder} holds files that are not a SecantusDB store ({', '.join(foreign[:3])}; a store of "
            "the retired embedded engine?); move it aside (e.g. to mongo-old), or choose another PIPELINE_DATA_DIR")
    if not port_free(host, port):
        if ping(host, port):
            raise LocalServerError(
                f"port {port} on {host} is used by another MongoDB server, not one serving {folder}; stop it, or "
                "choose a free port with PIPELINE_LOCAL_MONGO_PORT")
        raise LocalServerError(f"port {port} on {host} is taken by another program; choose a free port with "
                               "PIPELINE_LOCAL_MONGO_PORT")
    command = [server_command(), "--host", host, "--port", str(port), "--storage-path", str(folder),
               "--log-level", "WARNING"]
    with open(folder / LOG_FILE, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, close_fds=True, cwd=folder)
    if not _wait_for_ping(host, port, process, timeout_s):
        exited = process.poll() is not None
        if not exited:
            process.kill()
            process.wait()
        tail = _log_tail(folder)
        if "busy" in tail.lower() or "WiredTiger.lock" in tail:
            raise LocalServerError(
                f"the folder {folder} is held by another server process (one started without this project's state "
                "file?); stop it (`pgrep -af secantusd` finds it), then run again")
        what = f"exited with code {process.returncode}" if exited else f"did not answer within {timeout_s:.0f} s"
        if "No space left on device" in tail or "WT_PANIC" in tail:
            raise LocalServerError(f"the local MongoDB server {what}: its disk is full or its storage failed ({folder} "
                                   f"has {disk_words(folder)}); free space on that disk, then run again: what was "
                                   "acknowledged before is recovered from the journal")
        raise LocalServerError(f"the local MongoDB server {what}; its log {folder / LOG_FILE} ends: {tail[-300:]}")
    state = ServerState(process.pid, port, host, str(folder), datetime.now(UTC).isoformat(timespec="seconds"))
    write_text_atomically(folder / STATE_FILE, json.dumps(asdict(state)))
    return state


def _wait_for_ping(host: str, port: int, process: subprocess.Popen | None, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while (left_ms := int(1000 * (deadline - time.monotonic()))) > 0:
        if process is not None and process.poll() is not None:
            return False
        if ping(host, port, timeout_ms=max(20, min(300, left_ms))):
            return True
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    return False


def _log_tail(folder: Path, size: int = 2000) -> str:
    path = folder / LOG_FILE
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode(errors="replace").strip()


def _announce(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stop_server(folder: Path, timeout_s: float = 30.0) -> dict:
    """Stop the server serving ``folder`` (SIGTERM, then SIGKILL after ``timeout_s``) and remove its state file."""
    folder = folder.resolve()
    with start_lock(folder):
        state = read_state(folder)
        if state is None:
            return {"stopped": False, "reason": f"no local server is recorded for {folder}"}
        if pid_alive(state.pid) and serves_folder(state.pid, folder):
            _stop_pid(state.pid, timeout_s)
            stopped, reason = True, f"stopped pid {state.pid}"
        else:
            stopped, reason = False, f"pid {state.pid} was no longer running; removed its stale state file"
        (folder / STATE_FILE).unlink(missing_ok=True)
    return {"stopped": stopped, "reason": reason, "pid": state.pid, "port": state.port}


def _stop_pid(pid: int, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns once the process is gone."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)


def server_status(folder: Path) -> dict:
    """Where the local server runs (if it does), and how much the folder holds."""
    folder = folder.resolve()
    size = folder_bytes(folder) if folder.exists() else 0
    state = read_state(folder) if folder.exists() else None
    if state is None:
        return {"state": "stopped", "folder": str(folder), "size_bytes": size}
    running = pid_alive(state.pid) and serves_folder(state.pid, folder)
    answering = running and ping(state.host, state.port)
    failing = write_fails(state.host, state.port) if answering else None
    if failing:
        condition = (f"failing: it answers but cannot write ({failing}); the disk has {disk_words(folder)}: free "
                     "space, then `make db-stop` (the next run starts it again and recovers from its journal)")
    else:
        condition = "running" if answering else ("not answering" if running else "stale state file")
    return {"state": condition, "uri": state.uri, "pid": state.pid, "folder": str(folder), "size_bytes": size,
            "started_at": state.started_at, "log": str(folder / LOG_FILE), "disk": disk_words(folder)}


def main(argv: list[str] | None = None) -> int:
    """``start`` / ``status`` / ``stop`` for the configured data folder's local server; ``uri`` starts it if need be
    and prints only its URI with the pipeline's database (for mongosh and Compass)."""
    import argparse

    parser = argparse.ArgumentParser(description="The project's local MongoDB server (SecantusDB on loopback).")
    parser.add_argument("action", choices=["start", "status", "stop", "uri"])
    action = parser.parse_args(argv).action
    try:
        from infra.settings import get_settings
    except ImportError:  # no environment installed (`make db-stop` on a bare checkout): stop and status still work
        if action not in ("stop", "status"):
            print("error: the project's environment is not installed: run `make setup` first", file=sys.stderr)
            return 1
        return _without_settings(action)
    settings = get_settings()
    folder = settings.local_mongo_path
    try:
        if action == "start":
            uri = ensure_server(folder, settings.local_mongo_port, settings.local_mongo_start_timeout_s)
            print(f"running    {uri} (folder {folder})")
        elif action == "uri":
            uri = ensure_server(folder, settings.local_mongo_port, settings.local_mongo_start_timeout_s)
            print(uri.replace("/?", f"/{settings.mongo_db}?", 1))
        elif action == "stop":
            print(stop_server(folder)["reason"])
        else:
            status = print_status(folder)
            if status["state"].startswith("failing"):
                return 1
    except LocalServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if settings.mongo_uri.get_secret_value().strip():
        print("note       MONGO_URI is set, so the pipeline uses that server, not this local one", file=sys.stderr)
    return 0


def _without_settings(action: str) -> int:
    """``stop`` / ``status`` with the standard library only: the folder from PIPELINE_DATA_DIR (the environment's,
    else the project's .env file's), else data/ (a server started from this checkout keeps running when its .venv is
    removed, and stopping it must not need the environment first)."""
    root = Path(__file__).resolve().parents[1]
    data = os.environ.get("PIPELINE_DATA_DIR")
    env_file = root / ".env"
    if data is None and env_file.is_file():
        for line in env_file.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("PIPELINE_DATA_DIR", "data_dir"):
                data = value.strip().strip("\"'")
    folder = Path(data or "data")
    folder = (folder if folder.is_absolute() else root / folder).resolve() / "mongo"
    if action == "stop":
        print(stop_server(folder)["reason"])
        return 0
    print_status(folder)
    return 0


def print_status(folder: Path) -> dict:
    """``status``'s lines (where it runs, its log, the disk, its size); returns the status."""
    status = server_status(folder)
    print(f"state      {status['state']}")
    for key in ("uri", "pid", "folder", "started_at", "log", "disk"):
        if key in status:
            print(f"{key:10s} {status[key]}")
    print(f"size       {status['size_bytes'] / 1e6:.1f} MB on disk")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
