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
from typing import Literal, TypeAlias, TypeVar

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.database import Database

from infra.errors import IntegrityError, StorageError
from infra.settings import Settings, get_settings

__all__ = ["StorageError", "StoreUnreachableError", "UnsupportedURIError", "atomically", "describe_store",
           "get_bucket", "get_database", "parse_uri", "redact_text", "redact_uri"]

T = TypeVar("T")
Db: TypeAlias = Database
"""A database handle as every store-touching function takes it (the configured database, see get_database)."""
Target = Literal["local", "mongodb"]
_URI = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<authority>[^/?#\s]*)")
# query parameters whose values are credentials (authMechanismProperties may carry AWS session tokens)
_SECRET_PARAMS = re.compile(
    r"(?i)\b(authMechanismProperties|tlsCertificateKeyFilePassword|sslPEMKeyPassword|sslClientCertificateKeyPassword"
    r"|[a-z_]*(?:password|secret|token|credential)[a-z_]*)=([^&\s'\"]+)")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,19}")
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


def _redact_authority(match: re.Match) -> str:
    authority = match["authority"]
    if "@" not in authority:
        return match[0]
    userinfo, host = authority.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return f"{match['scheme']}{user}{':***' if ':' in userinfo else ''}@{host}"


def redact_uri(uri: str) -> str:
    """Hide every credential a URI can carry (the password, authMechanismProperties values, tokens, key
    passwords); the user name and hosts stay, for diagnosis."""
    return _SECRET_PARAMS.sub(r"\1=***", _URI.sub(_redact_authority, uri))


def uri_secrets(uri: str) -> list[str]:
    """The credential values inside a URI, as written and percent-decoded, longest first."""
    from urllib.parse import unquote, unquote_plus

    found: list[str] = []
    match = _URI.search(uri)
    if match and "@" in match["authority"]:
        userinfo = match["authority"].rsplit("@", 1)[0]
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    for name, value in _SECRET_PARAMS.findall(uri):
        found.append(value)
        if name.lower() == "authmechanismproperties":  # KEY:value,KEY:value
            found += [item.split(":", 1)[1] for item in unquote(value).split(",") if ":" in item]
    variants = {variant for value in found for variant in (value, unquote(value), unquote_plus(value))
                if len(variant) >= 3}
    return sorted(variants, key=len, reverse=True)


def redact_text(text: str, uri: str) -> str:
    """Remove every trace of the URI's secrets from a message (for wrapping driver errors)."""
    for secret in uri_secrets(uri):
        text = text.replace(secret, "***")
    return redact_uri(text)


def parse_uri(uri: str) -> StoreTarget:
    """Route a URI by its scheme. Pure: opens nothing. A URI it refuses is never echoed (it may hold secrets)."""
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
    if not scheme:
        raise UnsupportedURIError("MONGO_URI has no scheme: it must start with mongodb:// or mongodb+srv:// (or be "
                                  "empty for the project's local server)")
    shown = repr(scheme) if _SCHEME.fullmatch(scheme) else "(not shown)"
    raise UnsupportedURIError(
        f"MONGO_URI has an unsupported scheme {shown}: use mongodb:// or mongodb+srv://, or leave it empty for "
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


def store_name(settings: Settings | None = None) -> str:
    """The configured store in words, credentials redacted, without reaching (or starting) it: for messages
    about a store that stopped answering."""
    settings = settings or get_settings()
    uri = settings.mongo_uri.get_secret_value()
    if parse_uri(uri).kind == "local":
        return f"the local MongoDB server (folder {settings.local_mongo_path}; make db-status)"
    return f"MongoDB at {redact_uri(uri)}"


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
            message = redact_text(str(exc), uri)[:300]
            if _is_dns_failure(exc):
                raise StoreUnreachableError(
                    f"cannot resolve the host of MONGO_URI ({redact_uri(uri)}): {message}. Check the cluster address "
                    "and that DNS works from this machine") from None
            raise UnsupportedURIError(f"MONGO_URI is not a valid MongoDB URI: {message}") from None
        except PyMongoError as exc:
            reason = str(exc).split(" (configured timeouts")[0].split(", Timeout:")[0]
            raise StoreUnreachableError(
                f"cannot reach MongoDB at {redact_uri(uri)} within {settings.server_timeout_ms} ms "
                f"({redact_text(reason, uri)[:200]}). Check that the server runs and that MONGO_URI is right"
            ) from None
        _clients[uri] = client
        return client


def _is_dns_failure(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in ("dns", "query name does not exist", "resolution lifetime",
                                             "nameserver", "no answer"))


def get_bucket(db: Database, bucket_name: str = "models"):
    """A GridFS bucket on the database: binaries that every worker can read."""
    import gridfs

    return gridfs.GridFSBucket(db, bucket_name=bucket_name)


def read_verified(db: Database, bucket_name: str, file_id, sha256: str, what: str) -> bytes:
    """A GridFS file's bytes, refused (``IntegrityError``) when missing or when its SHA-256 changed."""
    import hashlib

    from gridfs.errors import NoFile

    try:
        payload = get_bucket(db, bucket_name).open_download_stream(file_id).read()
    except NoFile:
        raise IntegrityError(f"{what}: its stored binary is missing from GridFS; refusing to go on") from None
    actual = hashlib.sha256(payload).hexdigest()
    if actual != sha256:
        raise IntegrityError(f"{what}: stored binary has SHA-256 {actual[:12]}..., expected {sha256[:12]}... recorded "
                             "when it was written; refusing to load it")
    return payload


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
