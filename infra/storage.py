"""The storage seam: the one place that knows which MongoDB engine is behind ``MONGO_URI``.

Schemes: ``mongodb://`` and ``mongodb+srv://`` go to pymongo (a real server or Atlas); ``embedded://PATH``
(and an empty URI) to litemongo's on-disk engine; ``memory://NAME`` to litemongo's in-memory engine (tests).
The embedded engine needs one client per thread and one writer process at a time, and has no ``$merge``:
this module handles all three so that nothing else has to.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from infra.settings import PROJECT_ROOT, Settings, get_settings

logger = logging.getLogger(__name__)

Engine = Literal["mongodb", "embedded", "memory"]
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*)(?::(?P<password>[^@/\s]*))?@")
_SECRET_PARAMS = re.compile(r"(?i)((?:password|secret|token|tlsCertificateKeyFilePassword)=)[^&\s]+")


class StorageError(RuntimeError):
    """Base class for storage problems a user can act on."""


class UnsupportedURIError(StorageError, ValueError):
    """MONGO_URI has a scheme this project does not know."""


class StoreUnreachableError(StorageError):
    """The MongoDB server could not be reached (or refused the credentials) in time."""


class EmbeddedStoreBusyError(StorageError):
    """Another process holds the embedded store's single-writer lock."""


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
_writer_locks: dict[Path, Any] = {}
_writer_lock_guard = threading.Lock()


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


# litemongo's SQLite files are not safe for concurrent use even by threads with their own clients: two threads
# creating the same collection collide ("UNIQUE constraint failed: info.key"), concurrent writers get
# "database is locked". The embedded engine is a stand-in for one writer, so every operation on it is serialised
# per process. (A real server gets none of this: pymongo clients are thread-safe.)
_EMBEDDED_ENGINE_LOCK = threading.RLock()
_SERIALISED = {
    "collection.Collection": (
        "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one", "delete_many",
        "bulk_write", "find_one", "find_one_and_update", "find_one_and_replace", "find_one_and_delete",
        "count_documents", "estimated_document_count", "distinct", "aggregate", "drop", "create_index",
        "create_indexes", "drop_index", "drop_indexes", "index_information", "list_indexes", "rename"),
    "collection.Cursor": ("_compute_results",),
    "database.Database": ("get_collection", "create_collection", "drop_collection", "list_collection_names"),
}


def _serialise_embedded_engine() -> None:
    """Wrap the embedded engine's operations in one re-entrant lock (once per process)."""
    import functools
    import importlib

    with _EMBEDDED_ENGINE_LOCK:
        for dotted, names in _SERIALISED.items():
            module_name, class_name = dotted.rsplit(".", 1)
            cls = getattr(importlib.import_module(f"litemongo._vendor.mongomock.{module_name}"), class_name)
            if getattr(cls, "_serialised_by_student_pipeline", False):
                continue
            for name in names:
                original = getattr(cls, name)

                @functools.wraps(original)
                def locked(*args, _original=original, **kwargs):
                    with _EMBEDDED_ENGINE_LOCK:
                        return _original(*args, **kwargs)

                setattr(cls, name, locked)
            cls._serialised_by_student_pipeline = True


def _embedded_client(target: StoreTarget, settings: Settings):
    import litemongo

    _serialise_embedded_engine()

    if target.engine == "memory":
        return litemongo.connect(f"memory://{target.name}?engine=memory")
    assert target.path is not None
    _acquire_writer_lock(target.path, settings.embedded_lock_timeout_s)
    return litemongo.connect(str(target.path))


def _acquire_writer_lock(path: Path, timeout_s: float) -> None:
    """Hold the embedded store's single-writer lock for the life of this process.

    Two processes writing to litemongo's files lose updates silently, so the second waits, then fails.
    """
    with _writer_lock_guard:  # threads of this process share the process's lock
        if path not in _writer_locks:
            _writer_locks[path] = _lock_file(path, timeout_s)


def _lock_file(path: Path, timeout_s: float):
    lock_file = open(path / ".writer.lock", "a+")  # noqa: SIM115 - held open on purpose
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                lock_file.seek(0)
                holder = lock_file.read().strip() or "unknown"
                lock_file.close()
                raise EmbeddedStoreBusyError(
                    f"the embedded store at {path} is in use by another process (pid {holder}); it allows one "
                    f"writer process at a time. Waited {timeout_s:.0f} s. Wait for that run to finish, or point "
                    "MONGO_URI at a MongoDB server for concurrent runs."
                ) from None
            time.sleep(0.2)
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(str(os.getpid()))
    lock_file.flush()
    return lock_file


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
