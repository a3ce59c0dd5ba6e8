"""Export a batch's features to Parquet and CSV with the feature schema and lineage as JSON beside them, each
file written atomically. Pure apart from the files it writes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from validation.contracts import FEATURE_SCHEMA


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
