"""The storage seam: the one place that knows which MongoDB engine is behind ``MONGO_URI``.

Schemes: ``mongodb://`` and ``mongodb+srv://`` go to pymongo (a real server or Atlas); ``embedded://PATH``
(and an empty URI) to litemongo's on-disk engine; ``memory://NAME`` to litemongo's in-memory engine (tests).
The embedded engine needs one client per thread and one writer process at a time, and has no ``$merge``:
this module handles all three so that nothing else has to.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from infra.embedded import EmbeddedStoreBusyError, acquire_writer_lock, serialise_embedded_engine
from infra.errors import StorageError
from infra.settings import PROJECT_ROOT, Settings, get_settings

logger = logging.getLogger(__name__)
__all__ = ["EmbeddedStoreBusyError", "StorageError", "StoreUnreachableError", "UnsupportedURIError", "get_bucket",
           "get_database", "is_real_server", "parse_uri", "redact_uri", "redact_text"]

Engine = Literal["mongodb", "embedded", "memory"]
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*)(?::(?P<password>[^@/\s]*))?@")
_SECRET_PARAMS = re.compile(r"(?i)((?:password|secret|token|tlsCertificateKeyFilePassword)=)[^&\s]+")


class UnsupportedURIError(StorageError, ValueError):
    """MONGO_URI has a scheme this project does not know."""


class StoreUnreachableError(StorageError):
    """The MongoDB server could not be reached (or refused the credentials) in time."""


@dataclass(frozen=True)
class StoreTarget:
    """Where MONGO_URI points, parsed; ``display`` is safe to log."""

    engine: Engine
    display: str
    path: Path | None = None
    name: str = ""


def redact_uri(uri: str) -> str:
    """Hide the password (and secret query parameters) of a URI; the user name stays for diagnosis."""
    redacted = _USERINFO.sub(
        lambda m: f"{m['scheme']}{m['user']}{':***' if m['password'] is not None else ''}@", uri
    )
    return _SECRET_PARAMS.sub(r"\1***", redacted)


def redact_text(text: str, uri: str) -> str:
    """Remove every trace of the URI's secrets from a message (for wrapping driver errors)."""
    match = _USERINFO.search(uri)
    if match and match["password"]:
        text = text.replace(match["password"], "***")
    return _SECRET_PARAMS.sub(r"\1***", redact_uri(text))


def parse_uri(uri: str, default_path: Path) -> StoreTarget:
    """Route a URI to an engine by its scheme. Pure: opens nothing."""
    uri = uri.strip()
    if not uri:
        return StoreTarget("embedded", f"embedded://{default_path}", path=default_path)
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("mongodb", "mongodb+srv"):
        return StoreTarget("mongodb", redact_uri(uri))
    if scheme == "embedded":
        raw = uri[len("embedded://"):]
        path = Path(raw) if raw else default_path
        path = path if path.is_absolute() else (PROJECT_ROOT / path).resolve()
        return StoreTarget("embedded", f"embedded://{path}", path=path)
    if scheme == "memory":
        name = uri[len("memory://"):] or "default"
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise UnsupportedURIError(f"memory:// store names may use letters, digits, '_', '.', '-': got {name!r}")
        return StoreTarget("memory", f"memory://{name}", name=name)
    shown = scheme or redact_uri(uri)[:40]
    raise UnsupportedURIError(
        f"MONGO_URI has an unsupported scheme {shown!r}: use mongodb://, mongodb+srv://, embedded://PATH, "
        "memory://NAME, or leave it empty for the embedded store under the data folder"
    )


def describe_store(settings: Settings | None = None) -> str:
    """A log-safe description of the configured store, e.g. for run summaries."""
    settings = settings or get_settings()
    return parse_uri(settings.mongo_uri.get_secret_value(), settings.data_path / "mongo").display


# --- clients -----------------------------------------------------------------------------------------

_thread_clients = threading.local()  # embedded engine: one client per thread
_shared_clients: dict[str, Any] = {}  # pymongo: one thread-safe client per process and URI
_shared_lock = threading.Lock()


def get_database(settings: Settings | None = None):
    """Return the database for the configured MONGO_URI (a pymongo or litemongo Database)."""
    settings = settings or get_settings()
    uri = settings.mongo_uri.get_secret_value()
    target = parse_uri(uri, settings.data_path / "mongo")
    if target.engine == "mongodb":
        return _pymongo_client(uri, settings)[settings.mongo_db]
    clients = getattr(_thread_clients, "clients", None)
    if clients is None:
        clients = _thread_clients.clients = {}
    key = target.display
    if key not in clients:
        with _shared_lock:  # litemongo creates the database folder without exist_ok: open clients one at a time
            if target.path is not None:
                (target.path / settings.mongo_db).mkdir(parents=True, exist_ok=True)
            clients[key] = _embedded_client(target, settings)
            database = clients[key][settings.mongo_db]
        return database
    return clients[key][settings.mongo_db]


def _pymongo_client(uri: str, settings: Settings):
    import pymongo
    from pymongo.errors import ConfigurationError, InvalidURI, PyMongoError

    with _shared_lock:
        if uri in _shared_clients:
            return _shared_clients[uri]
        try:
            client = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=settings.server_timeout_ms, appname="student-pipeline"
            )
            client.admin.command("ping")
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            raise UnsupportedURIError(f"MONGO_URI is not a valid MongoDB URI: {redact_text(str(exc), uri)}") from None
        except PyMongoError as exc:
            raise StoreUnreachableError(
                f"cannot reach MongoDB at {redact_uri(uri)} within {settings.server_timeout_ms} ms: "
                f"{redact_text(str(exc), uri)[:300]}"
            ) from None
        _shared_clients[uri] = client
        return client


def _embedded_client(target: StoreTarget, settings: Settings):
    import litemongo

    serialise_embedded_engine()

    if target.engine == "memory":
        return litemongo.connect(f"memory://{target.name}?engine=memory")
    assert target.path is not None
    acquire_writer_lock(target.path, settings.embedded_lock_timeout_s)
    return litemongo.connect(str(target.path))


def is_real_server(db) -> bool:
    """True for a pymongo database (a real server), False for the embedded engines."""
    import pymongo.database

    return isinstance(db, pymongo.database.Database)


def get_bucket(db, bucket_name: str = "models"):
    """A GridFS bucket on the database: model binaries that every worker can read."""
    import gridfs

    if not is_real_server(db):
        from litemongo._vendor.mongomock import gridfs as mongomock_gridfs

        mongomock_gridfs.enable_gridfs_integration()  # lets pymongo's gridfs accept the embedded database
    return gridfs.GridFSBucket(db, bucket_name=bucket_name)
