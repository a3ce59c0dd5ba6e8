"""Export a batch's features to Parquet and CSV with the feature schema and lineage as JSON beside them, each
file written atomically. Pure apart from the files it writes."""

from __future__ import annotations

import hashlib
import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from validation.contracts import DEFAULT_CONTRACT, FeatureContract, LabelRule


def arrow_schema(contract: FeatureContract = DEFAULT_CONTRACT) -> pa.Schema:
    """The feature contract as an Arrow schema (only the student id may not be null)."""
    return pa.schema([pa.field(name, pa.type_for_alias(dtype), nullable=(role != "id"))
                      for name, dtype, role, _ in contract.schema])


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may read as a formula (OWASP CSV injection)


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell that a spreadsheet would run as a formula made plain text: a leading ``'``
    before ``=``, ``+``, ``-``, ``@``, tab or carriage return (OWASP's rule for CSV files). Only text columns are
    touched: numbers (a negative one too) stay numbers, and the Parquet file keeps every value exactly."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v)
    return out


def label_words(rule: LabelRule) -> str:
    """What the label column means under the batch's rule (the column keeps its name whatever the rule)."""
    return (f"the label '{rule.name}': true when {rule.text} (the column is named high_performer whatever the "
            "rule; the rule is its meaning)")


def export_files(frame: pd.DataFrame, lineage: dict, contract: FeatureContract = DEFAULT_CONTRACT) -> dict[str, bytes]:
    """features.parquet, features.csv and schema.json (with the CSV's SHA-256, the lineage and the dataset's
    declared extras) as bytes. The CSV's text cells are spreadsheet-safe (``spreadsheet_safe``); Parquet is exact."""
    table = pa.Table.from_pandas(frame, schema=arrow_schema(contract), preserve_index=False)
    parquet = io.BytesIO()
    pq.write_table(table, parquet)
    # RFC 4180 line ends: the writer then quotes a cell holding a carriage return too (with "\n" it leaves it bare)
    csv = spreadsheet_safe(frame).to_csv(index=False, lineterminator="\r\n").encode()
    rule = LabelRule.from_dict(lineage["label_rule"]) if lineage.get("label_rule") else None
    schema = {
        "columns": [{"name": n, "type": t, "role": r,
                     "description": label_words(rule) if rule and n == "high_performer" else d}
                    for n, t, r, d in contract.schema],
        "extras": [e.as_dict() for e in contract.extras],
        "rows": len(frame), "data_sha256": hashlib.sha256(csv).hexdigest(), **lineage,
    }
    return {"features.parquet": parquet.getvalue(), "features.csv": csv,
            "schema.json": json.dumps(schema, indent=2, default=str).encode()}
