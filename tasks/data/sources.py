"""Where batches come from, as files: JSON or JSON Lines records in our own shape, or a school's export (CSV,
Parquet, JSON, JSON Lines) read through its declared mapping (``tasks/data/mapping.py``). Nothing in a file is
dropped silently: a line that does not parse, a CSV row with the wrong number of fields, a row the mapping cannot
map are kept, with their line numbers, so that they are rejected with their reasons. Pure apart from the file it
reads."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Literal

from infra.errors import UserError
from tasks.data.mapping import Mapping, map_rows
from validation.records import UnparseableLine

BatchKind = Literal["auto", "labeled", "unlabeled"]


class SourceFileError(UserError, ValueError):
    """The source file is missing, unreadable, or holds no records."""


def read_records(path: Path) -> tuple[list, str]:
    """Read records and the content's SHA-256 from a JSON array, a single JSON object, or JSON Lines.

    A JSON Lines line that does not parse is kept as an ``UnparseableLine``, so that it is rejected with
    its reason instead of disappearing. A whole-file JSON that does not parse is an error.
    """
    path = Path(path)
    if not path.exists():
        raise SourceFileError(f"source file not found: {path}")
    if not path.is_file():
        raise SourceFileError(f"source is not a file: {path}")
    try:
        content = path.read_bytes()
        text = content.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceFileError(f"cannot read source file {path}: {exc}") from None
    records = _json_records(path, text, "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "json")
    return records, hashlib.sha256(content).hexdigest()


def _json_records(path: Path, text: str, kind: str) -> list:
    """Records from JSON text: a whole-file array or object, else (or for ``jsonl``) one per line."""
    stripped = text.lstrip()
    if not stripped:
        raise SourceFileError(f"source file {path} is empty: no records to ingest")
    if kind != "jsonl" and stripped[0] in "[{":
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            if stripped[0] == "[":
                raise SourceFileError(f"source file {path} is not valid JSON: {exc}") from None
        except RecursionError:
            raise SourceFileError(f"source file {path} is nested too deeply to read as JSON") from None
        else:
            records = parsed if isinstance(parsed, list) else [parsed]
            if not records:
                raise SourceFileError(f"source file {path} holds an empty list: no records to ingest")
            return records
    records: list = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            records.append(UnparseableLine(line, f"line {number}: {exc.msg} at column {exc.colno}"))
        except RecursionError:
            records.append(UnparseableLine(line[:2000], f"line {number}: nested too deeply to read"))
    if not records:
        raise SourceFileError(f"source file {path} holds no records")
    return records


FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json",
           ".jsonl": "jsonl", ".ndjson": "jsonl"}


def source_format(path: Path, mapping: Mapping | None) -> str:
    """The file's format: the mapping's, else its suffix's."""
    declared = mapping.source.format if mapping else None
    found = declared or FORMATS.get(path.suffix.lower())
    if found is None:
        raise SourceFileError(f"cannot tell the format of {path.name} from its suffix: name it .csv, .parquet, .json "
                              "or .jsonl, or set source.format in the mapping")
    return found


def read_source(path: Path, mapping: Mapping | None, labeled: bool) -> tuple[list, str]:
    """A source file's records and its SHA-256: in our own shape (JSON, JSON Lines) without a mapping, else each
    row mapped (any format). A CSV or Parquet file needs a mapping: its columns are the school's, not ours."""
    path = Path(path)
    kind = source_format(path, mapping)
    if mapping is None:
        if kind in ("csv", "parquet"):
            raise SourceFileError(f"{path.name} is {kind.upper()}: its columns need a mapping to our record "
                                  "(--mapping FILE; README 'Your own data' has an example)")
        return read_records(path)
    content = _read_bytes(path)
    rows = _rows(path, content, kind, mapping)
    if not rows:
        raise SourceFileError(f"source file {path} holds no rows")
    present = {column for _, row in rows if isinstance(row, dict) for column in row}
    missing = sorted(mapping.columns() - present)
    if missing and present:
        raise SourceFileError(f"the mapping reads column(s) {missing} that {path.name} does not have (its columns: "
                              f"{sorted(present)[:40]}); fix the mapping or the export (nothing was stored)")
    return map_rows(rows, mapping, labeled), hashlib.sha256(content).hexdigest()


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise SourceFileError(f"source file not found: {path}")
    if not path.is_file():
        raise SourceFileError(f"source is not a file: {path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceFileError(f"cannot read source file {path}: {exc}") from None


def _rows(path: Path, content: bytes, kind: str, mapping: Mapping) -> list[tuple[int, dict | UnparseableLine]]:
    """(line or row number, row) pairs; a row that cannot be read is an ``UnparseableLine`` in its place."""
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(io.BytesIO(content))
        except (pa.ArrowException, OSError) as exc:
            raise SourceFileError(f"cannot read {path} as Parquet: {exc}") from None
        return list(enumerate(table.to_pylist(), start=1))
    encoding = mapping.source.encoding
    try:
        text = content.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise SourceFileError(f"cannot read {path} as {encoding}: {exc}; set source.encoding in the mapping "
                              "(e.g. latin-1)") from None
    if kind == "csv":
        return _csv_rows(path, text, mapping)
    records = _json_records(path, text, kind)
    return [(n, r if isinstance(r, dict | UnparseableLine) else UnparseableLine(str(r)[:2000], f"row {n}: not "
             "an object")) for n, r in enumerate(records, start=1)]


def _csv_rows(path: Path, text: str, mapping: Mapping) -> list[tuple[int, dict | UnparseableLine]]:
    spec = mapping.source
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter, quotechar=spec.quotechar,
                        strict=True)
    rows: list[tuple[int, dict | UnparseableLine]] = []
    header = None if spec.header else spec.columns
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append((start, UnparseableLine(f"line {start}", f"line {start}: {exc}")))
            continue
        if not cells or all(not cell.strip() for cell in cells):
            continue
        if header is None:
            header = [cell.strip() for cell in cells]
            continue
        if len(cells) != len(header):
            rows.append((start, UnparseableLine(spec.delimiter.join(cells)[:2000], f"line {start}: {len(cells)} "
                                                f"fields where the header has {len(header)}")))
            continue
        rows.append((start, dict(zip(header, cells, strict=True))))
    if header is None:
        raise SourceFileError(f"{path} has no rows, not even a header")
    return rows


def infer_labeled(records: list, kind: BatchKind) -> bool:
    """A batch is labeled when asked, or (auto) when most of its object records carry a final_score."""
    if kind != "auto":
        return kind == "labeled"
    objects = [r for r in records if isinstance(r, dict)]
    return bool(objects) and sum("final_score" in r for r in objects) > len(objects) / 2


def file_batch_id(path: Path, digest: str) -> str:
    """A file's batch id comes from its name and content: re-loading the same file never duplicates a batch."""
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in path.stem)[:40]
    return f"file-{stem}-{digest[:12]}"


def jsonl_text(rows: list) -> str:
    """Rows as JSON Lines text."""
    return "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
