"""Who may do what: API keys with scopes, stored hashed, checked on every route.

A key is ``spk_<key id>_<secret>``; the store keeps the key id, its scopes and the SHA-256 of the secret (a random
256-bit secret needs no slow hash), never the key. A request presents it as ``Authorization: Bearer <key>`` or
``X-API-Key: <key>``; the dashboard signs in with one and then carries a session cookie (``api/sessions.py``).

Scopes: ``predict`` (POST /predict), ``official`` (POST /predict as a trusted producer: its predictions on the
school's stored records are the ones the monitors count, ``tasks/serving/trust.py``), ``read`` (the models, A/B
tests, alerts, metrics, the record schema and the dashboard), ``label`` (POST /feedback: outcomes that training and
A/B conclusions trust), ``operate`` (create and conclude A/B tests, acknowledge alerts). Without a key, ``predict``
and ``read`` are open to a client on this machine only (a request from a loopback address that no proxy forwarded),
so ``make api`` works at once on a laptop; ``official``, ``label`` and ``operate`` always need a key. A service bound
to another address refuses to start until a key exists. Missing or unknown key: 401; a key without the scope: 403;
both name the scope needed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

SCOPES: dict[str, str] = {
    "predict": "POST /predict",
    "official": "POST /predict as a trusted producer (the school's SIS integration): its predictions on the school's "
                "stored records count toward live performance, A/B arms and per-group figures",
    "read": "GET /models, /ab-tests, /alerts, /metrics, /record-schema and the dashboard",
    "label": "POST /feedback (outcomes that training and A/B conclusions trust)",
    "operate": "create and conclude A/B tests, acknowledge alerts, find, export and erase a student, read the audit "
               "log",
}
OPEN_ON_LOOPBACK = frozenset({"predict", "read"})
PREFIX = "spk"
CACHE_S = 5.0  # a verified key is trusted this long before it is looked up again (so a revocation takes <= 5 s)
FORWARDED = (b"x-forwarded-for", b"forwarded", b"x-real-ip")
MAX_KEY_CHARS = 128  # a key is 60 characters: anything much longer is refused before any work is done on it
FAILURE_WINDOW_S = 60.0  # wrong keys are counted per client over this window
TRACKED_CLIENTS = 10_000  # clients whose wrong keys are remembered at once (the oldest are forgotten first)
_DUMMY_HASH = "0" * 64  # compared against when a key id is unknown, so a known id does not answer more slowly


@dataclass(frozen=True)
class Caller:
    """Who is asking: a key (its id, name and scopes), or an anonymous client on this machine."""

    key_id: str | None
    name: str
    scopes: frozenset[str]

    @property
    def who(self) -> str:
        """How records name the caller: ``key:<id> (<name>)`` or ``loopback``."""
        return f"key:{self.key_id} ({self.name})" if self.key_id else "loopback (no key)"


ANONYMOUS = Caller(None, "anonymous", OPEN_ON_LOOPBACK)
# declared so that the OpenAPI document names the two ways to send a key (and /docs has an Authorize button); the
# key itself is read and checked by ``caller_of``, whichever of the two carries it
BEARER = HTTPBearer(auto_error=False, description="an API key: Authorization: Bearer spk_...")
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key: X-API-Key: spk_...")


def digest(secret: str) -> str:
    """The stored form of a key's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """A fresh key: (the key to hand out once, its id, the hash to store)."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return f"{PREFIX}_{key_id}_{secret}", key_id, digest(secret)


def parse_key(text: str) -> tuple[str, str] | None:
    """(key id, secret) of a presented key, or None when it is not shaped like one."""
    parts = text.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


def checked_scopes(text: str) -> list[str]:
    """``"predict,read"`` as a list of known scopes (a ValueError names an unknown one)."""
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"unknown scope(s) {unknown}; choose from {', '.join(SCOPES)}")
    return scopes


def trusted_proxies(request: Request) -> frozenset[str]:
    """The proxies whose ``X-Forwarded-For`` names the client (``PIPELINE_API_FORWARDED_ALLOW_IPS``)."""
    text = request.app.state.serving.settings.api_forwarded_allow_ips
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def client_address(request: Request) -> tuple[str, bool]:
    """(the client's address, whether it is this machine, unforwarded). A request from a configured proxy is the
    client its ``X-Forwarded-For`` names last (none named: unknown, never this machine); any other request that
    carries a forwarding header is never this machine's either (a proxy on this machine forwards the world)."""
    peer = request.client.host if request.client else ""
    headers = request.scope.get("headers", [])
    if peer in trusted_proxies(request):
        forwarded = [value for name, value in headers if name == b"x-forwarded-for"]
        named = forwarded[-1].decode("latin-1").split(",")[-1].strip() if forwarded else ""
        return (named or f"unknown behind {peer}"), _loopback_ip(named)
    if any(name in FORWARDED for name, _ in headers):
        return peer, False
    return peer, _loopback_ip(peer) or peer == "testclient"


def _loopback_ip(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(request: Request) -> bool:
    """A client on this machine whose request no proxy forwarded (or a configured proxy forwarded from here)."""
    return client_address(request)[1]


def presented_key(request: Request) -> str | None:
    """The key a request carries (Bearer or X-API-Key), if any."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


class KeyCache:
    """Valid keys for ``CACHE_S`` seconds (a key is looked up in the store at most that often), and the wrong keys
    each client presented in the last ``FAILURE_WINDOW_S`` seconds. Only keys that verified are remembered, by the
    hash of their text: a flood of wrong keys costs no memory beyond one counter per client."""

    def __init__(self, max_failures: int = 20) -> None:
        self.max_failures = max_failures
        self._entries: dict[str, tuple[float, Caller]] = {}
        self._active: dict[str, tuple[float, bool]] = {}  # key id -> (when looked up, not revoked)
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def get(self, text: str) -> Caller | None:
        """The caller of a key verified less than ``CACHE_S`` ago, if any."""
        with self._lock:
            entry = self._entries.get(digest(text))
        if entry is None or time.monotonic() - entry[0] > CACHE_S:
            return None
        return entry[1]

    def put(self, text: str, caller: Caller) -> None:
        """Remember a key that verified."""
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest(text)] = (time.monotonic(), caller)
            self._active[caller.key_id] = (time.monotonic(), True)

    def active(self, key_id: str, look_up) -> bool:
        """Whether a key id is still valid (``look_up(key_id)`` asks the store at most every ``CACHE_S``)."""
        with self._lock:
            entry = self._active.get(key_id)
        if entry is not None and time.monotonic() - entry[0] <= CACHE_S:
            return entry[1]
        valid = bool(look_up(key_id))
        with self._lock:
            if len(self._active) > 10_000:
                self._active.clear()
            self._active[key_id] = (time.monotonic(), valid)
        return valid

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may present a key again, when it presented too many wrong ones lately."""
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(client)
            if failures is None:
                return None
            while failures and now - failures[0] > FAILURE_WINDOW_S:
                failures.popleft()
            if len(failures) < self.max_failures:
                return None
            return max(1, int(FAILURE_WINDOW_S - (now - failures[0])) + 1)

    def failed(self, client: str) -> None:
        """Count a wrong key from ``client``."""
        with self._lock:
            if client not in self._failures and len(self._failures) >= TRACKED_CLIENTS:
                self._failures.pop(next(iter(self._failures)))  # the client remembered longest
            self._failures.setdefault(client, deque(maxlen=self.max_failures)).append(time.monotonic())


def verify(request: Request, text: str) -> Caller | None:
    """The caller a presented key stands for, or None (unknown, wrong secret, revoked, far too long). A client that
    presented ``api_max_key_failures`` wrong keys in the last minute is answered 429 before its key is looked at."""
    from tasks.serving.store import find_key

    state = request.app.state
    client = client_address(request)[0]
    wait = state.keys.retry_after(client)
    if wait is not None:
        raise HTTPException(429, f"too many wrong keys from this client; try again in {wait} s",
                            headers={"Retry-After": str(wait)})
    caller = state.keys.get(text) if len(text) <= MAX_KEY_CHARS else None
    if caller is not None:
        return caller
    parsed = parse_key(text) if len(text) <= MAX_KEY_CHARS else None
    if parsed is not None:
        doc = find_key(state.serving.db(), parsed[0])
        usable = doc is not None and doc.get("revoked_at") is None
        matches = hmac.compare_digest(doc["hash"] if usable else _DUMMY_HASH, digest(parsed[1]))
        if usable and matches:
            caller = Caller(doc["key_id"], doc.get("name", ""), frozenset(doc.get("scopes", [])))
            state.keys.put(text, caller)
            return caller
    state.keys.failed(client)
    return None


def key_is_active(request: Request, key_id: str) -> bool:
    """Whether a key (a dashboard session's) is still valid: a revoked key's sessions end within ``CACHE_S``."""
    from tasks.serving.store import find_key

    def look_up(found_id: str) -> bool:
        doc = find_key(request.app.state.serving.db(), found_id)
        return doc is not None and doc.get("revoked_at") is None

    return request.app.state.keys.active(key_id, look_up)


def caller_of(request: Request) -> Caller | None:
    """Who the request is from: its key, its dashboard session, or (None) nobody it could prove."""
    text = presented_key(request)
    if text:
        caller = verify(request, text)
        if caller is None:
            raise HTTPException(401, "the API key is not valid (unknown, revoked or mistyped)",
                                headers={"WWW-Authenticate": "Bearer"})
        return caller
    from api.sessions import session_caller

    return session_caller(request)


def require(scope: str):
    """A route dependency: the caller, if it may use ``scope`` (401 / 403 otherwise, naming the scope)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(request: Request, _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
                   _header: Annotated[str | None, Security(API_KEY_HEADER)] = None) -> Caller:
        caller = caller_of(request)
        if caller is None:
            if scope in OPEN_ON_LOOPBACK and request.app.state.serving.settings.api_open_on_loopback \
                    and is_loopback(request):
                return ANONYMOUS
            raise HTTPException(401, f"this needs an API key with the '{scope}' scope ({SCOPES[scope]}); send it "
                                     "as 'Authorization: Bearer <key>' (create one: python -m api.keys create "
                                     f"--name <who> --scopes {scope})", headers={"WWW-Authenticate": "Bearer"})
        if scope not in caller.scopes and not (scope == "predict" and "official" in caller.scopes):
            raise HTTPException(403, f"the key {caller.key_id} ({caller.name}) has scopes "
                                     f"{sorted(caller.scopes)}; this needs '{scope}' ({SCOPES[scope]})")
        return caller

    return dependency


def loopback_address(host: str) -> bool:
    """Whether the service's bind address is this machine only (127.0.0.1, ::1, localhost)."""
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def startup_check(host: str, keys: int, allowed_hosts: str = "") -> None:
    """Refuse to serve on a non-loopback address while no key exists (nothing could change state, and reads and
    predictions would be open to nobody: the operator has forgotten a step), or on every address (0.0.0.0) without
    the host names clients will use (every request would be refused as another site's)."""
    try:
        everywhere = ip_address(host).is_unspecified
    except ValueError:
        everywhere = False
    if not loopback_address(host) and keys == 0:
        raise RuntimeError(f"the service is to listen on {host}, beyond this machine, and no API key exists: create "
                           "one first (python -m api.keys create --name <who> --scopes predict,read), or listen on "
                           "127.0.0.1")
    if everywhere and not allowed_hosts.strip():
        raise RuntimeError(f"the service is to listen on every address ({host}): name the host names clients use "
                           "in PIPELINE_API_ALLOWED_HOSTS (e.g. predict.school.example), else every request's Host "
                           "header is refused")


def key_document(name: str, scopes: list[str], key_id: str, hashed: str, now: datetime) -> dict:
    """What the store keeps of a new key."""
    return {"key_id": key_id, "name": name, "scopes": scopes, "hash": hashed, "created_at": now, "revoked_at": None}


Predictor = Annotated[Caller, Depends(require("predict"))]
Reader = Annotated[Caller, Depends(require("read"))]
Labeller = Annotated[Caller, Depends(require("label"))]
Operator = Annotated[Caller, Depends(require("operate"))]
