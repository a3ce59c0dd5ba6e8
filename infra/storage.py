"""The storage seam: ``get_database()`` returns the database for ``MONGO_URI``, always through pymongo.

``mongodb://`` and ``mongodb+srv://`` point at any server (Atlas, a replica set, a local mongod). An empty
``MONGO_URI`` means the project's local server (``infra/local_server.py``): a MongoDB wire-protocol server
serving the data folder's ``mongo/`` on loopback, started on first use and shared by every process. The code
never asks which server is behind the URI.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.database import Database

from infra.errors import StorageError
from infra.settings import Settings, get_settings

__all__ = ["StorageError", "StoreUnreachableError", "UnsupportedURIError", "atomically", "describe_store",
           "get_bucket", "get_database", "parse_uri", "redact_text", "redact_uri"]

T = TypeVar("T")
Target = Literal["local", "mongodb"]
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*)(?::(?P<password>[^@/\s]*))?@")
_SECRET_PARAMS = re.compile(r"(?i)((?:password|secret|token|tlsCertificateKeyFilePassword)=)[^&\s]+")
_RETIRED = {"embedded", "memory"}


class UnsupportedURIError(StorageError, ValueError):
    """MONGO_URI has a scheme this project does not know."""


class StoreUnreachableError(StorageError):
    """The MongoDB server could not be reached (or refused the credentials) in time."""


@dataclass(frozen=True)
class StoreTarget:
    """Where MONGO_URI points, parsed; ``display`` is safe to log."""

    kind: Target
    display: str


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


def parse_uri(uri: str) -> StoreTarget:
    """Route a URI by its scheme. Pure: opens nothing."""
    uri = uri.strip()
    if not uri:
        return StoreTarget("local", "local")
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("mongodb", "mongodb+srv"):
        return StoreTarget("mongodb", redact_uri(uri))
    if scheme in _RETIRED:
        raise UnsupportedURIError(
            f"MONGO_URI uses {scheme}://, which is no longer supported: the default store is now a local MongoDB "
            "server the project starts itself. Leave MONGO_URI empty (PIPELINE_DATA_DIR chooses its folder), or "
            "use mongodb:// / mongodb+srv://")
    shown = scheme or redact_uri(uri)[:40]
    raise UnsupportedURIError(
        f"MONGO_URI has an unsupported scheme {shown!r}: use mongodb:// or mongodb+srv://, or leave it empty for "
        "the project's local server"
    )


# --- clients -----------------------------------------------------------------------------------------

_clients: dict[str, MongoClient] = {}  # one thread-safe client per process and URI
_local_uris: dict[Path, str] = {}  # the local server's URI per data folder, found once per process
_lock = threading.Lock()


def resolve_uri(settings: Settings) -> str:
    """The URI to connect to: MONGO_URI, or the local server's (started if it is not running)."""
    uri = settings.mongo_uri.get_secret_value().strip()
    if parse_uri(uri).kind == "mongodb":
        return uri
    from infra.local_server import ensure_server

    folder = settings.local_mongo_path
    with _lock:
        if folder not in _local_uris:
            _local_uris[folder] = ensure_server(folder, settings.local_mongo_port,
                                                settings.local_mongo_start_timeout_s)
        return _local_uris[folder]


def describe_store(settings: Settings | None = None) -> str:
    """A log-safe description of the configured store, e.g. for run summaries."""
    settings = settings or get_settings()
    uri = resolve_uri(settings)
    if parse_uri(settings.mongo_uri.get_secret_value()).kind == "local":
        return f"{uri} (local server, folder {settings.local_mongo_path})"
    return redact_uri(uri)


def get_database(settings: Settings | None = None) -> Database:
    """Return the database for the configured MONGO_URI, through one pymongo client per process and URI."""
    settings = settings or get_settings()
    uri = resolve_uri(settings)
    return _client(uri, settings)[settings.mongo_db]


def _client(uri: str, settings: Settings) -> MongoClient:
    from pymongo.errors import ConfigurationError, InvalidURI, PyMongoError

    with _lock:
        if uri in _clients:
            return _clients[uri]
        try:
            client = MongoClient(uri, serverSelectionTimeoutMS=settings.server_timeout_ms,
                                 appname="student-pipeline")
            client.admin.command("ping")
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            raise UnsupportedURIError(f"MONGO_URI is not a valid MongoDB URI: {redact_text(str(exc), uri)}") from None
        except PyMongoError as exc:
            raise StoreUnreachableError(
                f"cannot reach MongoDB at {redact_uri(uri)} within {settings.server_timeout_ms} ms: "
                f"{redact_text(str(exc), uri)[:300]}"
            ) from None
        _clients[uri] = client
        return client


def get_bucket(db: Database, bucket_name: str = "models"):
    """A GridFS bucket on the database: binaries that every worker can read."""
    import gridfs

    return gridfs.GridFSBucket(db, bucket_name=bucket_name)


# --- transactions ----------------------------------------------------------------------------------------

_transactions: dict[int, bool] = {}


def supports_transactions(db: Database) -> bool:
    """Replica sets (Atlas, the local server) and sharded clusters run transactions; a standalone mongod does not."""
    key = id(db.client)
    if key not in _transactions:
        hello = db.client.admin.command("hello")
        _transactions[key] = "setName" in hello or hello.get("msg") == "isdbgrid"
    return _transactions[key]


def atomically(db: Database, work: Callable[[ClientSession | None], T]) -> T:
    """Run ``work(session)`` as one transaction where the server has them (retried on transient conflicts);
    on a standalone server ``work(None)`` runs its writes one by one."""
    if not supports_transactions(db):
        return work(None)
    with db.client.start_session() as session:
        return session.with_transaction(work)
