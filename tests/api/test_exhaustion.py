"""No unauthenticated request may cost the service more than a bounded amount of memory or time (issue 31, findings
3, 4 and 10), over real HTTP on a service of each test's own: wrong keys are not remembered and are throttled, a
huge header is refused before it is parsed, every route's body is bounded, idle connections are closed, a revoked
key's dashboard sessions end, the sign-in form cannot be posted from another site, and only a configured proxy's
forwarding header is believed."""

from __future__ import annotations

import contextlib
import socket
import time
from datetime import UTC, datetime

import httpx
import pytest

from api import auth
from tasks.alerting.alerts import Alert
from tasks.alerting.store import raise_alert
from tasks.serving.store import revoke_key
from tests.api.conftest import make_key, serve, sign_in, stop


@pytest.fixture
def service(db, monkeypatch):
    """A service of this test's own (its throttle and caches start empty), over an empty store."""
    monkeypatch.setenv("PIPELINE_API_HEADER_TIMEOUT_S", "1")
    server, thread, url = serve(monkeypatch)
    try:
        yield server, url, db
    finally:
        stop(server, thread)


def raw(url: str, payload: bytes, timeout: float = 10) -> bytes:
    """Send bytes on a fresh connection; what comes back until the server closes it (or ``timeout``)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused part way: read what it said
            sock.sendall(payload)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def test_wrong_keys_are_not_remembered_and_a_client_that_keeps_guessing_is_throttled(service):
    server, url, db = service
    keys = server.config.app.state.keys
    http = httpx.Client(base_url=url, timeout=30)
    for n in range(20):  # 20 KB keys: under the header limit, far over a key's length: refused unread
        wrong = http.get("/models", headers={"Authorization": f"Bearer spk_{n:012d}_" + "x" * 20_000})
        assert wrong.status_code == 401
    assert keys._entries == {} and len(keys._failures) == 1  # one counter for the client, no key text kept
    throttled = http.get("/models", headers={"X-API-Key": "spk_000000000000_guess"})
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["retry-after"]) <= 61
    valid = make_key(db, ["read"])
    assert http.get("/models", headers={"X-API-Key": valid}).status_code == 429  # the client waits, whatever key
    keys._failures.clear()
    assert http.get("/models", headers={"X-API-Key": valid}).status_code == 200
    assert len(keys._entries) == 1  # a key that verified is remembered (by its hash) for 5 s


def test_a_huge_header_is_refused_before_it_is_parsed_and_others_are_answered_meanwhile(service):
    _, url, _ = service
    started = time.monotonic()
    answer = raw(url, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 8_000_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431") and b"PIPELINE_API_MAX_HEADER_BYTES" in answer
    assert time.monotonic() - started < 5
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200


def test_every_route_s_body_is_bounded_dashboard_forms_included(service):
    _, url, _ = service
    declared = raw(url, b"POST /dashboard/sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                        b"application/x-www-form-urlencoded\r\nContent-Length: 1000000000\r\n\r\nkey=x")
    assert declared.startswith(b"HTTP/1.1 413") and b"PIPELINE_API_MAX_FORM_BYTES" in declared

    def stream():
        for _ in range(64):
            yield b"key=" + b"x" * 65_536

    streamed = httpx.post(f"{url}/dashboard/sign-in", content=stream(), timeout=30,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413
    json_as_form = httpx.post(f"{url}/dashboard/sign-in", content=b"{}", headers={"Content-Type": "application/json"})
    assert json_as_form.status_code == 415


def test_a_connection_that_sends_no_request_is_closed(service):
    _, url, _ = service
    host, port = url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(20)]
    slow = socket.create_connection((host, int(port)), timeout=5)
    slow.sendall(b"GET /health HTTP/1.1\r\n")  # a head that never ends
    time.sleep(1.5)  # PIPELINE_API_HEADER_TIMEOUT_S=1 in this test
    for sock in [*idle, slow]:
        assert sock.recv(1024) == b""  # closed by the server
        sock.close()
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200


def test_revoking_a_key_ends_its_dashboard_sessions_and_sign_in_needs_the_form_s_own_token(service, monkeypatch):
    monkeypatch.setattr(auth, "CACHE_S", 0.0)  # no 5 s cache: the revocation is seen at the next request
    _, url, db = service
    key = make_key(db, ["read", "operate"], "on call")
    alert = raise_alert(db, Alert("drift", "warning", "a test alert", batch_id="b-revoke"))
    browser = httpx.Client(base_url=url, timeout=30)
    # login CSRF: another site's form posts a key without the sign-in page's token (and without its cookie)
    forged = browser.post("/dashboard/sign-in", data={"key": key, "signin": "guessed"}, follow_redirects=False)
    assert forged.status_code == 403 and "did not come from this dashboard" in forged.text
    assert "sp_session" not in forged.headers.get("set-cookie", "")
    assert sign_in(browser, key).status_code == 303
    token = browser.get("/dashboard/alerts").text.split('name="csrf" value="')[1].split('"')[0]
    assert revoke_key(db, key.split("_")[1], datetime.now(UTC))
    act = browser.post(f"/dashboard/alerts/{alert['alert_id']}/acknowledge", data={"csrf": token},
                       follow_redirects=False)
    assert act.status_code == 401
    assert not db["alerts"].find_one({"alert_id": alert["alert_id"]})["acknowledged"]


def test_only_a_configured_proxy_s_forwarding_header_is_believed(db, monkeypatch):
    monkeypatch.setenv("PIPELINE_API_FORWARDED_ALLOW_IPS", "127.0.0.1")  # a proxy on this machine
    server, thread, url = serve(monkeypatch)
    try:
        # the proxy adds no X-Forwarded-For (nginx's plain proxy_pass): the client is unknown, never this machine
        assert httpx.get(f"{url}/models").status_code == 401
        assert httpx.get(f"{url}/models", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
        assert httpx.get(f"{url}/models", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    finally:
        stop(server, thread)


def test_the_openapi_document_names_how_to_send_a_key(service):
    _, url, _ = service
    schemes = httpx.get(f"{url}/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer" and schemes["APIKeyHeader"]["name"] == "X-API-Key"


def test_a_service_that_may_not_start_says_why_in_one_line(store):
    import subprocess
    import sys

    from tests.conftest import free_port

    def start(**env: str) -> subprocess.CompletedProcess:
        import os

        return subprocess.run([sys.executable, "-m", "api"], env={**os.environ, **env}, capture_output=True,
                              text=True, timeout=120)

    everywhere = start(PIPELINE_API_HOST="0.0.0.0", PIPELINE_API_PORT=str(free_port()))
    lines = everywhere.stderr.strip().splitlines()
    assert everywhere.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: the service is to listen")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = start(PIPELINE_API_PORT=str(holder.getsockname()[1]))
    lines = taken.stderr.strip().splitlines()
    assert taken.returncode == 1 and len(lines) == 1 and "cannot listen on 127.0.0.1" in lines[0]
