"""Export the feature collection to Parquet and CSV, with the feature schema and lineage as JSON beside them."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.collections import STUDENTS_FEATURES
from infra.retry import DB_RETRIES, retry_on_transient, stopwatch
from infra.settings import get_settings
from infra.storage import get_database
from tasks.aggregate import FEATURE_SCHEMA
from validation.features import features_frame


def arrow_schema() -> pa.Schema:
    return pa.schema([pa.field(name, pa.type_for_alias(dtype), nullable=(role != "id"))
                      for name, dtype, role, _ in FEATURE_SCHEMA])


def write_export(frame: pd.DataFrame, folder: Path, lineage: dict) -> dict:
    """Write features.parquet, features.csv and schema.json into ``folder`` (atomically, file by file)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=arrow_schema(), preserve_index=False)
    paths = {"parquet": folder / "features.parquet", "csv": folder / "features.csv", "schema": folder / "schema.json"}
    _atomic(paths["parquet"], lambda tmp: pq.write_table(table, tmp))
    _atomic(paths["csv"], lambda tmp: frame.to_csv(tmp, index=False))
    csv_hash = hashlib.sha256(paths["csv"].read_bytes()).hexdigest()
    schema = {
        "columns": [{"name": n, "type": t, "role": r, "description": d} for n, t, r, d in FEATURE_SCHEMA],
        "rows": len(frame), "data_sha256": csv_hash, **lineage,
    }
    _atomic(paths["schema"], lambda tmp: tmp.write_text(json.dumps(schema, indent=2, default=str)))
    return {key: str(path) for key, path in paths.items()} | {"rows": len(frame), "data_sha256": csv_hash}


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    tmp.replace(path)


@task(name="export-features", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def export_features(batch_id: str) -> dict:
    """Export the features computed from ``batch_id`` into ``<data>/features/<batch_id>/`` (the run's own batch:
    the work does not grow with the store's history)."""
    with stopwatch() as timing:
        frame = features_frame(list(get_database()[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0})))
        lineage = {"after_batch": batch_id, "exported_at": datetime.now(UTC).isoformat(), "batches": [batch_id]}
        result = write_export(frame, get_settings().export_path / batch_id, lineage)
    return result | {"seconds": timing["seconds"]}
