"""Drift references: each model version's held-out evaluation data (features, labels, its predictions),
stored as Parquet in GridFS so that any worker can read it. The champion's reference is the drift baseline,
so promoting a new champion resets the reference."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

import pandas as pd

from infra.collections import REFERENCES, ensure_indexes
from infra.errors import UserError
from infra.storage import get_bucket, read_verified


class ReferenceNotFoundError(UserError, LookupError):
    """The model version has no stored reference data."""


def save_reference(db, name: str, version: int, frame: pd.DataFrame) -> dict:
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


def load_reference(db, name: str, version: int) -> pd.DataFrame:
    doc = db[REFERENCES].find_one({"name": name, "version": version})
    if doc is None:
        raise ReferenceNotFoundError(f"model {name!r} v{version} has no drift reference stored")
    payload = read_verified(db, "references", doc["gridfs_id"], doc["sha256"], f"the drift reference of {name!r} v{version}")
    return pd.read_parquet(io.BytesIO(payload))
