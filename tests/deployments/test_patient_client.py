"""The tests' client of the Prefect server asks again where Prefect's own client does: a busy server that answers
nothing within the read timeout, or answers 503, slows a test down and never fails it."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.deployments.conftest import PatientTransport


class Quick(PatientTransport):
    BACKOFF = 0.01


def busy_server(script: list[str]):
    """A loopback server answering request n as ``script[n]``: "slow" (past the client's timeout), or a status."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            step = script[min(len(seen), len(script) - 1)]
            seen.append(step)
            if step == "slow":
                time.sleep(0.6)
            code = 200 if step == "slow" else int(step)
            try:
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"[]")
            except (BrokenPipeError, ConnectionResetError):  # a late answer: the client has given up on it
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_a_read_timeout_and_a_503_are_asked_again_until_the_answer_comes():
    server, seen = busy_server(["slow", "503", "200"])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}", timeout=0.3, transport=Quick()) as http:
            response = http.post("/flow_runs/filter", json={})
        assert response.status_code == 200 and response.json() == [] and seen == ["slow", "503", "200"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_never_answers_fails_after_the_last_attempt():
    server, seen = busy_server(["slow"])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}", timeout=0.2, transport=Quick()) as http, \
                pytest.raises(httpx.ReadTimeout):
            http.post("/flow_runs/filter", json={})
        assert len(seen) == PatientTransport.ATTEMPTS
    finally:
        server.shutdown()
        server.server_close()
