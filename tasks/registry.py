"""The model registry in MongoDB: versions that only go up, binaries in GridFS checked by SHA-256 on load,
alias pointers changed by compare-and-set, and an append-only alias history."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import bson
import joblib
from bson.errors import BSONError
import pandas as pd
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.collections import ALIAS_HISTORY, MODEL_ALIASES, MODELS, SPLITS, ensure_indexes, next_sequence, store_id
from infra.progress import run_logger
from infra.errors import UserError
from infra.retry import DB_RETRIES, retry_on_transient
from infra.settings import PROJECT_ROOT, get_settings
from infra.storage import atomically, get_bucket, get_database, read_verified
from tasks.dataset import BOOLEAN, CATEGORICAL, NUMERIC, TrainingData
from tasks.evaluate import PRIMARY
from tasks.promotion import choose_first_champion
from tasks.reference import load_reference, save_reference

CHAMPION, CHALLENGER, PREVIOUS_CHAMPION = "champion", "challenger", "previous_champion"
T = TypeVar("T")


class RegistrationError(UserError, ValueError):
    """A model version cannot be stored as it is (nothing was registered)."""


class ModelNotFoundError(UserError, LookupError):
    """No such model version or alias in the registry."""


def serialize(model) -> tuple[bytes, str]:
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


def save_split(db, split_ids: dict, seed: int) -> str:
    """Store a split's ids once; models refer to it by its content hash."""
    split_id = hashlib.sha256(json.dumps(split_ids, sort_keys=True).encode()).hexdigest()[:16]
    db[SPLITS].update_one({"split_id": split_id}, {"$setOnInsert": {
        "split_id": split_id, "seed": seed, "ids": split_ids, "created_at": datetime.now(UTC)}}, upsert=True)
    return split_id


def models_folder(db, artifacts_root: Path, name: str) -> Path:
    """Where a store's model files go: namespaced by database and store id, so two stores (or a reset data
    folder) never write into each other's version folders."""
    return artifacts_root / "models" / f"{db.name}-{store_id(db)[:8]}" / name


def register_version(db, name: str, model, record: dict, artifacts_root: Path) -> dict:
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
    probe = {**record, "name": name, "version": 0, "binary": {}}
    try:
        bson.encode(probe)
    except (BSONError, OverflowError, TypeError) as exc:
        raise RegistrationError(f"model {name!r} ({record.get('algorithm')}) cannot be stored: {exc}; nothing was "
                                "registered") from None
    bucket = get_bucket(db)
    file_id = bucket.upload_from_stream(f"{name}/pending/model.joblib", payload,
                                        metadata={"sha256": sha256, "name": name})

    def register(session: ClientSession | None) -> dict:
        version = next_sequence(db, f"model_version:{name}", session)
        doc = {**record, "name": name, "version": version, "created_at": datetime.now(UTC),
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


def write_model_files(folder: Path, payload: bytes, doc: dict) -> None:
    """model.joblib, metrics.json and metadata.json in a folder of their own, never overwritten: written into
    a temporary folder, then renamed into place in one step. The registry (GridFS) is the source of truth, so
    a failure here is logged, not raised."""
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True)
        (tmp / "model.joblib").write_bytes(payload)
        (tmp / "metrics.json").write_text(json.dumps(doc.get("metrics", {}), indent=2))
        (tmp / "metadata.json").write_text(json.dumps({k: v for k, v in doc.items() if k != "_id"}, indent=2,
                                                      default=str))
        tmp.rename(folder)  # fails if the folder exists: a version folder is never overwritten
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        run_logger(__name__).warning("model %s v%s is registered, but its copy on disk was not written (%s)",
                                     doc["name"], doc["version"], exc)


def load_model(db, name: str, version: int | None = None, alias: str | None = None):
    """Load a version (or the version an alias points to) from GridFS, refusing a binary whose hash changed."""
    if alias is not None:
        pointer = db[MODEL_ALIASES].find_one({"name": name, "alias": alias})
        if pointer is None:
            raise ModelNotFoundError(f"model {name!r} has no {alias!r} alias yet")
        version = pointer["version"]
    doc = db[MODELS].find_one({"name": name, "version": version})
    if doc is None:
        raise ModelNotFoundError(f"model {name!r} has no version {version}")
    payload = read_verified(db, "models", doc["binary"]["gridfs_id"], doc["binary"]["sha256"], f"model {name!r} v{version}")
    return joblib.load(io.BytesIO(payload))


def get_alias(db, name: str, alias: str, session: ClientSession | None = None) -> dict | None:
    """The alias pointer document (``version``, ``reason``, ``by``, ``updated_at``), or None."""
    return db[MODEL_ALIASES].find_one({"name": name, "alias": alias}, {"_id": 0}, session=session)


def compare_and_set(db, session: ClientSession | None, name: str, alias: str, version: int, expected: int | None,
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


def change_aliases(db, change: Callable[[ClientSession | None], T]) -> T | bool:
    """Run an alias change (pointers and history together) as one transaction where the server has them.

    A duplicate key means another run created the same alias first: that run won, this one did not.
    """
    ensure_indexes(db, [MODEL_ALIASES, ALIAS_HISTORY])
    try:
        return atomically(db, change)
    except DuplicateKeyError:
        return False


def set_alias(db, name: str, alias: str, version: int, expected: int | None, reason: str, numbers: dict,
              by: str) -> bool:
    """Compare-and-set one alias with its history entry, atomically. True when this call moved it."""
    return change_aliases(db, lambda session: compare_and_set(db, session, name, alias, version, expected, reason,
                                                              numbers, by))


@task(name="register-models", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def register_models(trained: list, evaluation: dict, data: TrainingData, seed: int,
                    reference_parts: tuple[str, ...] = ("val", "test")) -> list[dict]:
    """Register every real model (not the baseline) as a new version with metrics, schema and lineage.

    Each version keeps ``reference_parts`` (held-out data, never trained on) as its drift reference. A model
    whose identity (algorithm, parameters, training data, split, reference) is registered already is not
    registered again: the existing version is returned (``"existing": True``).
    """
    db = get_database()
    metric, _ = PRIMARY[data.problem]
    by_algorithm = {row["algorithm"]: row for row in evaluation["models"]}
    baseline = by_algorithm.get("baseline", {})
    split_id = save_split(db, data.split_ids, seed)
    common = {"problem": data.problem, "target": data.target, "code_version": code_version(),
              "feature_schema": {"numeric": NUMERIC, "boolean": BOOLEAN, "categorical": CATEGORICAL},
              "lineage": {**data.lineage, "split_id": split_id},
              "oracle": evaluation["oracle"], "baseline": {k: baseline.get(k) for k in ("val", "test")},
              "flow_run_id": _flow_run_id()}
    registered = []
    for model in trained:
        if model.algorithm == "baseline":
            continue
        row = by_algorithm[model.algorithm]
        identity = model_identity(model.algorithm, data.problem, model.params, data.lineage["data_sha256"], split_id,
                                  reference_parts)
        doc = db[MODELS].find_one({"name": data.target, "identity": identity})
        existing = doc is not None
        if not existing:
            record = {**common, "identity": identity, "algorithm": model.algorithm, "params": model.params,
                      "metrics": {"val": row["val"], "test": row["test"]},
                      "importance": {kind: [{"feature": feature, "value": value} for feature, value in values.items()]
                                     for kind, values in row["importance"].items()},
                      "train_seconds": model.seconds, "curve": model.curve}
            try:
                doc = register_version(db, data.target, model.pipeline, record, get_settings().artifacts_path)
            except DuplicateKeyError:  # a concurrent run registered the same model first
                doc, existing = db[MODELS].find_one({"name": data.target, "identity": identity}), True
        save_reference(db, doc["name"], doc["version"], reference_frame(model.pipeline, data, reference_parts))
        registered.append({"name": doc["name"], "version": doc["version"], "algorithm": model.algorithm,
                           "score": row["val"][metric], "sha256": doc["binary"]["sha256"],
                           "path": doc["binary"]["path"], "existing": existing})
    return registered


def model_identity(algorithm: str, problem: str, params: dict, data_sha256: str, split_id: str,
                   reference_parts: tuple[str, ...]) -> str:
    """What makes two trainings the same model: training the same data with the same parameters twice
    registers one version, not two."""
    key = {"algorithm": algorithm, "problem": problem, "params": params, "data_sha256": data_sha256,
           "split_id": split_id, "reference_parts": list(reference_parts)}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]


@task(name="promote-first-champion", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def promote_first_champion(name: str, registered: list[dict], baseline_score: float, problem: str) -> dict:
    """Decide (pure) whether this run makes the first champion, then write the pointer if it does."""
    db = get_database()
    metric, higher = PRIMARY[problem]
    current = get_alias(db, name, CHAMPION)
    decision = choose_first_champion(registered, baseline_score, current and current["version"], metric, higher)
    applied = False
    if decision.promote:
        applied = set_alias(db, name, CHAMPION, decision.version, None, decision.reason, decision.numbers,
                            by=f"flow-run:{_flow_run_id()}")
    return {**decision.as_dict(), "applied": applied}


def reference_frame(model, data: TrainingData, parts: tuple[str, ...]) -> pd.DataFrame:
    """A model's held-out data as its drift reference: features, the label, and the model's predictions."""
    frame = pd.concat([data.X[part] for part in parts], ignore_index=True)
    frame[data.target] = pd.concat([data.y[part] for part in parts], ignore_index=True).to_numpy()
    frame["prediction"] = model.predict(frame[data.X[parts[0]].columns])
    return frame


def _flow_run_id() -> str | None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else None


@task(name="verify-champion", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def verify_champion(name: str) -> int:
    """Before a run writes anything: the store answers, the champion exists, and its binary and drift reference
    still match the hashes recorded when they were written. Returns the champion's version."""
    db = get_database()
    champion = get_alias(db, name, CHAMPION)
    if champion is None:
        raise ModelNotFoundError(f"model {name!r} has no champion yet: run python flows/main.py on a labeled batch "
                                 "first")
    load_model(db, name, version=champion["version"])
    load_reference(db, name, champion["version"])
    return champion["version"]
