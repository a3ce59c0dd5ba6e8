"""Export a batch's features to Parquet and CSV with the feature schema and lineage as JSON beside them, each
file written atomically. Pure apart from the files it writes."""

from __future__ import annotations

import hashlib
import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from validation.contracts import DEFAULT_CONTRACT, FeatureContract


def arrow_schema(contract: FeatureContract = DEFAULT_CONTRACT) -> pa.Schema:
    """The feature contract as an Arrow schema (only the student id may not be null)."""
    return pa.schema([pa.field(name, pa.type_for_alias(dtype), nullable=(role != "id"))
                      for name, dtype, role, _ in contract.schema])


def export_files(frame: pd.DataFrame, lineage: dict, contract: FeatureContract = DEFAULT_CONTRACT) -> dict[str, bytes]:
    """features.parquet, features.csv and schema.json (with the CSV's SHA-256, the lineage and the dataset's
    declared extras) as bytes."""
    table = pa.Table.from_pandas(frame, schema=arrow_schema(contract), preserve_index=False)
    parquet = io.BytesIO()
    pq.write_table(table, parquet)
    csv = frame.to_csv(index=False).encode()
    schema = {
        "columns": [{"name": n, "type": t, "role": r, "description": d} for n, t, r, d in contract.schema],
        "extras": [e.as_dict() for e in contract.extras],
        "rows": len(frame), "data_sha256": hashlib.sha256(csv).hexdigest(), **lineage,
    }
    return {"features.parquet": parquet.getvalue(), "features.csv": csv,
            "schema.json": json.dumps(schema, indent=2, default=str).encode()}
