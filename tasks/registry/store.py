"""The model registry in MongoDB: versions that only go up, binaries in GridFS checked by SHA-256 on load,
alias pointers changed by compare-and-set (one transaction with their history entry), and each version's
drift reference. Plain functions on a database, used by the tasks of every stage that needs a model."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import bson
import joblib
import pandas as pd
from bson.errors import BSONError
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from infra.collections import (
    ALIAS_HISTORY,
    MODEL_ALIASES,
    MODELS,
    REFERENCES,
    SPLITS,
    ensure_indexes,
    next_sequence,
    store_id,
)
from infra.errors import UserError
from infra.files import new_folder
from infra.progress import run_logger
from infra.settings import PROJECT_ROOT
from infra.storage import Db, atomically, get_bucket, read_verified
from tasks.registry.results import ModelVersion

CHAMPION, CHALLENGER, PREVIOUS_CHAMPION = "champion", "challenger", "previous_champion"
T = TypeVar("T")


class RegistrationError(UserError, ValueError):
    """A model version cannot be stored as it is (nothing was registered)."""


class ModelNotFoundError(UserError, LookupError):
    """No such model version or alias in the registry."""


class ReferenceNotFoundError(UserError, LookupError):
    """The model version has no stored reference data."""


def serialize(model) -> tuple[bytes, str]:
    """A fitted model as bytes (joblib), with their SHA-256."""
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    payload = buffer.getvalue()
    return payload, hashlib.sha256(payload).hexdigest()


def code_version() -> dict:
    """The git commit when there is one, and a hash of the project's Python sources either way."""
    digest = hashlib.sha256()
    for path in sorted(PROJECT_ROOT.glob("[!.]*/**/*.py")):
        if ".venv" not in path.parts:
            digest.update(path.read_bytes())
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"git_commit": commit, "source_sha256": digest.hexdigest()}


RUNTIME_PACKAGES = {"scikit-learn": "sklearn", "xgboost": "xgboost", "numpy": "numpy"}  # name -> module


def runtime_versions() -> dict[str, str]:
    """Python's and the model libraries' versions (as their modules report them: the ``xgboost`` module comes from
    the ``xgboost-cpu`` wheel on Linux): a pickled model loads safely only where they match."""
    import importlib
    import platform

    return {"python": platform.python_version(),
            **{name: importlib.import_module(module).__version__ for name, module in RUNTIME_PACKAGES.items()}}


def runtime_mismatch(saved: dict, current: dict) -> list[str]:
    """What differs, by major.minor, between the versions a model was saved with and this environment's
    (a patch release does not change what a pickle holds)."""
    def minor(text: str) -> str:
        return ".".join(text.split(".")[:2])

    return [f"{name} {saved[name]} (here {current.get(name)})" for name in saved
            if current.get(name) is None or minor(saved[name]) != minor(current[name])]


class IncompatibleRuntimeError(UserError, RuntimeError):
    """A model saved under other library versions than this environment's: loading it could fail or mislead."""


def model_identity(algorithm: str, problem: str, params: dict, data_sha256: str, split_id: str,
                   reference_parts: tuple[str, ...]) -> str:
    """What makes two trainings the same model: training the same data with the same parameters twice
    registers one version, not two."""
    key = {"algorithm": algorithm, "problem": problem, "params": params, "data_sha256": data_sha256,
           "split_id": split_id, "reference_parts": list(reference_parts)}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]


def models_folder(db: Db, artifacts_root: Path, name: str) -> Path:
    """Where a store's model files go: namespaced by database and store id, so two stores (or a reset data
    folder) never write into each other's version folders."""
    return artifacts_root / "models" / f"{db.name}-{store_id(db)[:8]}" / name


def register_version(db: Db, name: str, model, record: dict, artifacts_root: Path) -> dict:
    """Store a new version: metadata in ``models``, the binary in GridFS and, as a copy, on disk.

    The document is checked before anything is written. The binary is uploaded first (GridFS takes no part in
    transactions), then one transaction takes the version number and inserts the document; if that fails, the
    upload is deleted again. So a registration that fails leaves nothing behind: no GridFS file, no folder, no
    used-up version number (on a standalone server without transactions the number stays used). The disk copy
    goes into a fresh folder after the commit.
    """
    ensure_indexes(db, [MODELS, MODEL_ALIASES, ALIAS_HISTORY, SPLITS])
    payload, sha256 = serialize(model)
    root = models_folder(db, artifacts_root, name)
    missing = [key for key in ("algorithm", "problem") if not record.get(key)]
    if missing:
        raise RegistrationError(f"model {name!r} cannot be registered without {' and '.join(missing)}; nothing was "
                                "registered")
    probe = {**record, "name": name, "version": 0, "binary": {}}
    try:
        bson.encode(probe)
    except (BSONError, OverflowError, TypeError) as exc:
        raise RegistrationError(f"model {name!r} ({record.get('algorithm')}) cannot be stored: {exc}; nothing was "
                                "registered") from None
    bucket = get_bucket(db)
    drop_stale_pending(bucket, name, datetime.now(UTC) - PENDING_MAX_AGE)
    file_id = bucket.upload_from_stream(f"{name}/pending/model.joblib", payload,
                                        metadata={"sha256": sha256, "name": name})

    def register(session: ClientSession | None) -> dict:
        version = next_sequence(db, f"model_version:{name}", session)
        doc = {**record, "name": name, "version": version, "created_at": datetime.now(UTC),
               "runtime": runtime_versions(),
               "binary": {"gridfs_id": file_id, "sha256": sha256, "bytes": len(payload),
                          "path": str(root / f"v{version}" / "model.joblib")}}
        db[MODELS].insert_one(doc, session=session)
        return doc

    try:
        doc = atomically(db, register)
    except Exception:
        bucket.delete(file_id)
        raise
    bucket.rename(file_id, f"{name}/v{doc['version']}/model.joblib")
    write_model_files(root / f"v{doc['version']}", payload, doc)
    return doc


PENDING_MAX_AGE = timedelta(hours=1)  # a registration takes seconds: a pending binary older than this was left


def drop_stale_pending(bucket, name: str, before: datetime) -> int:
    """Delete the binaries that registrations killed between upload and commit left pending (uploaded before
    ``before``; a concurrent registration's own pending file is younger); returns how many."""
    stale = [f._id for f in bucket.find({"filename": f"{name}/pending/model.joblib", "uploadDate": {"$lt": before}})]
    for file_id in stale:
        bucket.delete(file_id)
    return len(stale)


def write_model_files(folder: Path, payload: bytes, doc: dict) -> None:
    """model.joblib, metrics.json and metadata.json in a folder of their own, never overwritten: written into
    a temporary folder, then renamed into place in one step. The registry (GridFS) is the source of truth, so
    a failure here is logged, not raised."""
    try:
        with new_folder(folder) as tmp:  # refuses an existing folder: a version folder is never overwritten
            (tmp / "model.joblib").write_bytes(payload)
            (tmp / "metrics.json").write_text(json.dumps(doc.get("metrics", {}), indent=2))
            (tmp / "metadata.json").write_text(json.dumps({k: v for k, v in doc.items() if k != "_id"}, indent=2,
                                                          default=str))
    except OSError as exc:
        run_logger(__name__).warning("model %s v%s is registered, but its copy on disk was not written (%s)",
                                     doc["name"], doc["version"], exc)


def no_alias_message(name: str, alias: str) -> str:
    """The one message for a missing alias (a missing champion says what to run)."""
    if alias == CHAMPION:
        return (f"model {name!r} has no champion yet (no {alias!r} alias): run python flows/main.py on a labeled "
                "batch first")
    return f"model {name!r} has no {alias!r} alias yet"


def find_version(db: Db, name: str, version: int) -> ModelVersion | None:
    """A version's record, or None when there is no such version."""
    doc = db[MODELS].find_one({"name": name, "version": version}, {"_id": 0})
    return None if doc is None else ModelVersion.from_document(doc)


def get_version(db: Db, name: str, version: int) -> ModelVersion:
    """A version's record; a clear error when there is no such version."""
    found = find_version(db, name, version)
    if found is None:
        raise ModelNotFoundError(f"model {name!r} has no version {version}")
    return found


def find_by_identity(db: Db, name: str, identity: str) -> ModelVersion | None:
    """The version registered for this identity (same algorithm, parameters, data, split, reference), if any."""
    doc = db[MODELS].find_one({"name": name, "identity": identity}, {"_id": 0})
    return None if doc is None else ModelVersion.from_document(doc)


def find_aliased(db: Db, name: str, alias: str) -> ModelVersion | None:
    """The version ``alias`` points to, or None when the alias does not exist yet."""
    pointer = get_alias(db, name, alias)
    return None if pointer is None else get_version(db, name, pointer["version"])


def find_champion(db: Db, name: str) -> ModelVersion | None:
    """The champion's record, or None when there is no champion yet (for callers to whom that is no error)."""
    return find_aliased(db, name, CHAMPION)


def get_champion(db: Db, name: str) -> ModelVersion:
    """The champion's record; one clear error, saying what to run, when there is none."""
    found = find_champion(db, name)
    if found is None:
        raise ModelNotFoundError(no_alias_message(name, CHAMPION))
    return found


def list_versions(db: Db, name: str | None = None, newest: int | None = None) -> list[ModelVersion]:
    """Every version (of one model, or of all) by name and version; or only a model's ``newest``, newest first."""
    query = {} if name is None else {"name": name}
    cursor = db[MODELS].find(query, {"_id": 0, "importance": 0, "curve": 0, "oracle": 0})
    cursor = cursor.sort([("name", 1), ("version", 1)]) if newest is None else cursor.sort("version", -1).limit(newest)
    return [ModelVersion.from_document(doc) for doc in cursor]


def model_names(db: Db) -> list[str]:
    """The names of the registered models."""
    return sorted(db[MODELS].distinct("name"))


def version_exists(db: Db, name: str, version: int) -> bool:
    """Whether ``name`` has a version ``version``."""
    return db[MODELS].count_documents({"name": name, "version": version}, limit=1) == 1


def aliases_by_version(db: Db, name: str | None = None) -> dict[tuple[str, int], list[str]]:
    """(name, version) -> the aliases pointing at it, sorted."""
    found: dict[tuple[str, int], list[str]] = {}
    query = {} if name is None else {"name": name}
    for pointer in db[MODEL_ALIASES].find(query, {"_id": 0, "name": 1, "alias": 1, "version": 1}):
        found.setdefault((pointer["name"], pointer["version"]), []).append(pointer["alias"])
    return {key: sorted(value) for key, value in found.items()}


def load_binary(db: Db, model: ModelVersion):
    """The fitted model of a version, from GridFS, refusing a binary whose hash changed or that was saved under
    other library versions (by major.minor; a version stored before versions were kept is loaded)."""
    differs = runtime_mismatch(model.runtime, runtime_versions()) if model.runtime else []
    if differs:
        pins = [f"'{name}=={'.'.join(model.runtime[name].split('.')[:2])}.*'" for name in RUNTIME_PACKAGES
                if any(d.startswith(f"{name} ") for d in differs)]
        how = f"install them (pip install {' '.join(pins)})" if pins else "run it under that Python"
        raise IncompatibleRuntimeError(
            f"model {model.name!r} v{model.version} was saved with {', '.join(differs)}; a pickled model is only "
            f"safe to load with the versions it was saved with: {how}, or train it again here "
            "(python flows/retrain.py --force)")
    payload = read_verified(db, "models", model.binary_id, model.sha256, f"model {model.name!r} v{model.version}")
    return joblib.load(io.BytesIO(payload))


def load_model(db: Db, name: str, version: int | None = None, alias: str | None = None):
    """Load a version (or the version an alias points to) from GridFS, refusing a binary whose hash changed."""
    if alias is not None:
        found = find_aliased(db, name, alias)
        if found is None:
            raise ModelNotFoundError(no_alias_message(name, alias))
        return load_binary(db, found)
    return load_binary(db, get_version(db, name, version))


def get_alias(db: Db, name: str, alias: str, session: ClientSession | None = None) -> dict | None:
    """The alias pointer document (``version``, ``reason``, ``by``, ``updated_at``), or None."""
    return db[MODEL_ALIASES].find_one({"name": name, "alias": alias}, {"_id": 0}, session=session)


def compare_and_set(db: Db, session: ClientSession | None, name: str, alias: str, version: int, expected: int | None,
                    reason: str, numbers: dict, by: str) -> bool:
    """Point ``alias`` at ``version`` only if it still points at ``expected`` (None: only if it does not exist),
    and append the change to the history; both with ``session`` (one transaction when the caller has one).

    The pointer moves by one conditional document update, so two racing runs can never both win.
    """
    now = datetime.now(UTC)
    fields = {"version": version, "updated_at": now, "reason": reason, "by": by}
    if expected is None:
        won = db[MODEL_ALIASES].update_one({"name": name, "alias": alias},
                                           {"$setOnInsert": {"name": name, "alias": alias, **fields}},
                                           upsert=True, session=session).upserted_id is not None
    else:
        won = db[MODEL_ALIASES].update_one({"name": name, "alias": alias, "version": expected},
                                           {"$set": fields}, session=session).modified_count == 1
    if won:
        db[ALIAS_HISTORY].insert_one({"name": name, "alias": alias, "from_version": expected, "to_version": version,
                                      "at": now, "by": by, "reason": reason, "numbers": numbers}, session=session)
    return won


def change_aliases(db: Db, change: Callable[[ClientSession | None], T]) -> T | bool:
    """Run an alias change (pointers and history together) as one transaction where the server has them.

    A duplicate key means another run created the same alias first: that run won, this one did not.
    """
    ensure_indexes(db, [MODEL_ALIASES, ALIAS_HISTORY])
    try:
        return atomically(db, change)
    except DuplicateKeyError:
        return False


def set_alias(db: Db, name: str, alias: str, version: int, expected: int | None, reason: str, numbers: dict,
              by: str) -> bool:
    """Compare-and-set one alias with its history entry, atomically. True when this call moved it."""
    return change_aliases(db, lambda session: compare_and_set(db, session, name, alias, version, expected, reason,
                                                              numbers, by))


def save_reference(db: Db, name: str, version: int, frame: pd.DataFrame) -> dict:
    """Store the frame once per (name, version); a second save of the same version keeps the first."""
    ensure_indexes(db, [REFERENCES])
    existing = db[REFERENCES].find_one({"name": name, "version": version})
    if existing:
        return existing
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    payload = buffer.getvalue()
    sha256 = hashlib.sha256(payload).hexdigest()
    file_id = get_bucket(db, "references").upload_from_stream(f"{name}/v{version}/reference.parquet", payload,
                                                              metadata={"sha256": sha256})
    doc = {"name": name, "version": version, "gridfs_id": file_id, "sha256": sha256, "rows": len(frame),
           "columns": list(frame.columns), "created_at": datetime.now(UTC)}
    db[REFERENCES].insert_one(doc)
    return doc


def load_reference(db: Db, name: str, version: int) -> pd.DataFrame:
    """A version's drift reference, refused if its stored bytes changed."""
    doc = db[REFERENCES].find_one({"name": name, "version": version})
    if doc is None:
        raise ReferenceNotFoundError(f"model {name!r} v{version} has no drift reference stored")
    payload = read_verified(db, "references", doc["gridfs_id"], doc["sha256"],
                            f"the drift reference of {name!r} v{version}")
    return pd.read_parquet(io.BytesIO(payload))
