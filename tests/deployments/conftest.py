"""A real Prefect server on loopback, started for a test and stopped after it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class PatientTransport(httpx.HTTPTransport):
    """Retries what Prefect's own client retries (prefect/client/base.py): a busy server (its SQLite database locked
    by two workers' polls on a loaded machine) answers 503, or answers nothing within the read timeout while an
    automation works through a burst of events (measured: a filter of flow runs past 30 s with three test workers
    on two cores); Prefect's client waits and asks again, and a test's client must too. The tests send it reads
    only (GETs and ``/filter`` POSTs), so asking again is safe."""

    RETRY = {408, 429, 502, 503}
    RETRY_ERRORS = (httpx.ReadTimeout, httpx.PoolTimeout, httpx.ConnectTimeout, httpx.ReadError, httpx.WriteError,
                    httpx.RemoteProtocolError)
    ATTEMPTS = 6
    BACKOFF = 0.5  # seconds before the second attempt, doubling after each

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(self.ATTEMPTS):
            last = attempt == self.ATTEMPTS - 1
            try:
                response = super().handle_request(request)
            except self.RETRY_ERRORS:
                if last:
                    raise
                time.sleep(2 ** attempt * self.BACKOFF)
                continue
            if response.status_code not in self.RETRY or last:
                return response
            response.read()
            response.close()
            time.sleep(float(response.headers.get("Retry-After") or 0) or 2 ** attempt * self.BACKOFF)
        raise AssertionError("unreachable")


class Server:
    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url, self.env = url, env
        self.http = httpx.Client(base_url=url, timeout=30, transport=PatientTransport())

    def post(self, path: str, body: dict | None = None):
        response = self.http.post(path, json=body or {})
        response.raise_for_status()
        return response.json()

    def prefect(self, *args: str, timeout: int = 180, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BIN / "prefect"), *args], cwd=ROOT, env={**self.env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def wait_for(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(1)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """Terminate a process we started, and kill it if it will not go."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def prefect_server(tmp_path, store):
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": url,
           "PREFECT_UI_API_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GX_ANALYTICS_ENABLED": "false",
           "MONGO_URI": store, "MONGO_DB": os.environ["MONGO_DB"], "PIPELINE_DATA_DIR": str(tmp_path / "data"),
           "PIPELINE_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(url, env)

    def healthy() -> bool:
        try:
            return server.http.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        server.wait_for(healthy, 90, "the Prefect server to start")
        yield server
    finally:
        stop(process)
        log.close()
