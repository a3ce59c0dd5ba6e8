"""Export: Parquet and CSV with the contract's columns and types, and the schema with lineage beside them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from tasks.data.ingest import BatchInput
from tasks.data.synthetic import generate_batch
from tasks.data.tasks import aggregate_features, export_features, ingest_batch
from validation.contracts import FEATURE_SCHEMA


def test_export_writes_parquet_csv_and_schema(db):
    batch = generate_batch(150, 14)
    ingest_batch.fn(BatchInput(batch.batch_id, True, batch.records, {"type": "test"}), 1000)
    aggregate_features.fn(batch.batch_id)
    result = export_features.fn(batch.batch_id)
    table = pq.read_table(result.parquet)
    assert table.column_names == [name for name, *_ in FEATURE_SCHEMA] and table.num_rows == 150
    assert str(table.schema.field("avg_grade").type) == "double" and str(table.schema.field("fullTime").type) == "bool"
    csv = pd.read_csv(result.csv)
    assert len(csv) == 150 and csv["student_id"].is_monotonic_increasing
    schema = json.loads(Path(result.schema).read_text())
    assert schema["rows"] == 150 and schema["after_batch"] == batch.batch_id and schema["batches"] == [batch.batch_id]
    assert schema["data_sha256"] == hashlib.sha256(Path(result.csv).read_bytes()).hexdigest()
    assert {c["name"]: c["role"] for c in schema["columns"]}["high_performer"] == "label"
    assert Path(result.parquet).parent.name == batch.batch_id


def test_csv_cells_a_spreadsheet_would_run_are_plain_text_and_parquet_keeps_them_exact():
    import csv
    import io

    from tasks.data.export import export_files
    from validation.contracts import ExtraFeature, FeatureContract

    hostile = ["=HYPERLINK(\"http://x.example\",\"y\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\ry",
               "fine", "a=b"]
    contract = FeatureContract((ExtraFeature("school", "category", values=tuple(hostile)),))
    rows = []
    for i, value in enumerate(hostile):
        row = dict.fromkeys(contract.columns)
        row.update(student_id=i + 1, batch_id="b", batch_seq=1, age=-1 if i == 0 else 20, school=value)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=contract.columns)
    files = export_files(frame, {}, contract)
    table = list(csv.DictReader(io.StringIO(files["features.csv"].decode(), newline="")))
    cells = [row["school"] for row in table]
    assert cells[:6] == ["'" + value for value in hostile[:6]] and cells[6:] == ["fine", "a=b"]
    assert pd.read_csv(io.BytesIO(files["features.csv"]))["age"].tolist()[0] == -1  # a negative number stays one
    assert pq.read_table(io.BytesIO(files["features.parquet"])).column("school").to_pylist() == hostile


def test_the_label_column_says_which_rule_it_holds():
    """Under a school's "pass: >= 50" the column keeps its name; schema.json says what it means."""
    from tasks.data.export import export_files
    from validation.contracts import DEFAULT_CONTRACT

    frame = pd.DataFrame([dict.fromkeys(DEFAULT_CONTRACT.columns) | {"student_id": 1, "batch_id": "b",
                                                                       "batch_seq": 1}],
                         columns=DEFAULT_CONTRACT.columns)
    rule = {"threshold": 50.0, "direction": ">=", "name": "pass"}
    schema = json.loads(export_files(frame, {"label_rule": rule})["schema.json"])
    [label] = [column for column in schema["columns"] if column["name"] == "high_performer"]
    assert label["description"].startswith("the label 'pass': true when final_score >= 50 (the column is named")
    assert schema["label_rule"] == rule
    plain = json.loads(export_files(frame, {})["schema.json"])
    assert "label_rule" not in plain and "'pass'" not in json.dumps(plain)
