"""Where batches come from, as files: JSON or JSON Lines records in our own shape, or a school's export (CSV,
Parquet, JSON, JSON Lines) read through its declared mapping (``tasks/data/mapping.py``). Nothing in a file is
dropped silently: a line that does not parse, a CSV row with the wrong number of fields, a row the mapping cannot
map are kept, with their line numbers, so that they are rejected with their reasons. Pure apart from the file it
reads."""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from infra.errors import UserError
from infra.pseudonyms import Pseudonyms
from tasks.data.mapping import Mapping, map_rows
from validation.records import UnparseableLine

BatchKind = Literal["auto", "labeled", "unlabeled"]


class SourceFileError(UserError, ValueError):
    """The source file is missing, unreadable, or holds no records."""


class SourceTooLargeError(SourceFileError):
    """The source file is over one of the reading limits (rows, columns, bytes once decompressed)."""


@dataclass(frozen=True)
class SourceLimits:
    """How much one source file may make the reading stage do (``PIPELINE_SOURCE_MAX_*``): checked before and while
    reading, so a compression bomb or a giant file ends in one clear error, not in memory exhaustion."""

    rows: int = 2_000_000
    columns: int = 1_000
    bytes: int = 1_000_000_000

    def too_large(self, path: Path, what: str, found: int, limit: int, setting: str) -> SourceTooLargeError:
        """The error for one limit passed."""
        return SourceTooLargeError(f"{path.name} has {what} {found:,}, over the limit of {limit:,} ({setting}); "
                                   "raise it if the file is genuine (nothing was stored)")


DEFAULT_LIMITS = SourceLimits()


def read_records(path: Path, limits: SourceLimits = DEFAULT_LIMITS) -> tuple[list, str]:
    """Read records and the content's SHA-256 from a JSON array, a single JSON object, or JSON Lines.

    A JSON Lines line that does not parse is kept as an ``UnparseableLine``, so that it is rejected with
    its reason instead of disappearing. A whole-file JSON that does not parse is an error.
    """
    path = Path(path)
    if not path.exists():
        raise SourceFileError(f"source file not found: {path}")
    if not path.is_file():
        raise SourceFileError(f"source is not a file: {path}")
    content = _read_bytes(path, limits)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFileError(f"cannot read source file {path} as UTF-8 (at byte {exc.start})") from None
    records = _json_records(path, text, "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "json", limits)
    return records, hashlib.sha256(content).hexdigest()


def _json_records(path: Path, text: str, kind: str, limits: SourceLimits = DEFAULT_LIMITS) -> list:
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
            if len(records) > limits.rows:
                raise limits.too_large(path, "records", len(records), limits.rows, "PIPELINE_SOURCE_MAX_ROWS")
            return records
    records: list = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(records) >= limits.rows:
            raise limits.too_large(path, "more lines than", limits.rows, limits.rows, "PIPELINE_SOURCE_MAX_ROWS")
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


class SourceNotAllowedError(SourceFileError, PermissionError):
    """A deployment's run was given a file outside the configured source folders."""


def check_source_folder(path: Path, folders: list[Path]) -> None:
    """A path a deployment's parameters name must lie inside one of ``folders`` (``PIPELINE_SOURCE_DIRS``), links
    resolved: a run started from the server (or by whoever can edit a deployment) reads the school's exports, not
    any file the worker's user can read."""
    resolved = path.expanduser().resolve()
    if not any(resolved.is_relative_to(folder) for folder in folders):
        raise SourceNotAllowedError(f"{path} is outside the folders a deployment may read sources and mappings from "
                                    f"({', '.join(str(f) for f in folders)}); put the export there, or name its folder "
                                    "in PIPELINE_SOURCE_DIRS on the worker")


def in_deployment() -> bool:
    """Whether this run was started from a deployment (the server, a schedule, the UI), not from a command line."""
    try:
        from prefect.runtime import deployment

        return deployment.id is not None
    except Exception:  # noqa: BLE001 - outside any Prefect run: a plain call, not a deployment
        return False


def source_format(path: Path, mapping: Mapping | None) -> str:
    """The file's format: the mapping's, else its suffix's."""
    declared = mapping.source.format if mapping else None
    found = declared or FORMATS.get(path.suffix.lower())
    if found is None:
        raise SourceFileError(f"cannot tell the format of {path.name} from its suffix: name it .csv, .parquet, .json "
                              "or .jsonl, or set source.format in the mapping")
    return found


def read_source(path: Path, mapping: Mapping | None, labeled: bool, limits: SourceLimits = DEFAULT_LIMITS,
                pseudonyms: Pseudonyms | None = None) -> tuple[list, str]:
    """A source file's records and its SHA-256: in our own shape (JSON, JSON Lines) without a mapping, else each
    row mapped (any format). A CSV or Parquet file needs a mapping: its columns are the school's, not ours. Errors
    name the file, never quote its content (a worker may be pointed at a file that is not an export at all)."""
    path = Path(path)
    kind = source_format(path, mapping)
    if mapping is None:
        if kind in ("csv", "parquet"):
            raise SourceFileError(f"{path.name} is {kind.upper()}: its columns need a mapping to our record "
                                  "(--mapping FILE; docs/your-data.md has an example)")
        return read_records(path, limits)
    rows, digest = source_rows(path, mapping, limits)
    return map_rows(rows, mapping, labeled, pseudonyms), digest


def source_rows(path: Path, mapping: Mapping,
                limits: SourceLimits = DEFAULT_LIMITS) -> tuple[list[tuple[int, dict | UnparseableLine]], str]:
    """A mapped source's (line or row number, row) pairs and its SHA-256, once the file is known to be readable
    as declared: it has rows, some of them parse, and it has every column the mapping reads."""
    path = Path(path)
    kind = source_format(path, mapping)
    content = _read_bytes(path, limits)
    rows = _rows(path, content, kind, mapping, limits)
    if not rows:
        raise SourceFileError(f"source file {path} holds no rows")
    present = {column for _, row in rows if isinstance(row, dict) for column in row}
    if not present:
        first = rows[0][1]
        raise SourceFileError(f"none of the {len(rows)} rows of {path.name} could be read ({first.error}): "
                              f"{delimiter_hint(content, mapping) if kind == 'csv' else 'is it ' + kind + '?'} "
                              "(nothing was stored)")
    missing = sorted(mapping.columns() - present)
    if missing:
        hint = f"; {delimiter_hint(content, mapping)}" if kind == "csv" and len(present) == 1 else ""
        raise SourceFileError(f"the mapping reads column(s) {missing} that {path.name} does not have ({len(present)} "
                              f"columns{_near(missing, present)}{hint}); fix the mapping or the export, or check the "
                              "delimiter (nothing was stored)")
    return rows, hashlib.sha256(content).hexdigest()


DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}


def delimiter_hint(content: bytes, mapping: Mapping) -> str:
    """What the file's first line says about its delimiter: how often each common one occurs in it (counts only,
    never the line itself), and the one to declare when it is not the mapping's."""
    first = content[:65_536].split(b"\n", 1)[0].decode("utf-8", "replace")
    counts = {char: first.count(char) for char in DELIMITERS}
    likely = max(counts, key=lambda char: counts[char])
    found = ", ".join(f"{counts[c]} {DELIMITERS[c]}" for c in DELIMITERS)
    if counts[likely] and likely != mapping.source.delimiter:
        written = json.dumps(likely)  # a tab as "\t", as YAML reads it
        return (f"its first line has {found} characters: set source.delimiter: {written} in the mapping (now "
                f"{json.dumps(mapping.source.delimiter)})")
    return f"its first line has {found} characters; check source.delimiter and source.quotechar in the mapping"


def _near(missing: list[str], present: set[str]) -> str:
    """The file's columns that look like the ones the mapping misses (a typo, another case), if any: only names
    near the mapping's own are shown, never the file's first line as such."""
    by_lower = {p.lower(): p for p in present if len(p) <= 64}
    near = sorted({by_lower[match] for name in missing for match in difflib.get_close_matches(
        name.lower(), list(by_lower), n=2, cutoff=0.75)})
    return f"; close to: {near}" if near else ""


def _read_bytes(path: Path, limits: SourceLimits = DEFAULT_LIMITS) -> bytes:
    if not path.exists():
        raise SourceFileError(f"source file not found: {path}")
    if not path.is_file():
        raise SourceFileError(f"source is not a file: {path}")
    size = path.stat().st_size
    if size > limits.bytes:
        raise limits.too_large(path, "bytes", size, limits.bytes, "PIPELINE_SOURCE_MAX_BYTES")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceFileError(f"cannot read source file {path}: {type(exc).__name__}") from None


def _parquet_rows(path: Path, content: bytes, limits: SourceLimits) -> list[tuple[int, dict]]:
    """A Parquet file's rows, read a thousand at a time: its declared rows, columns and decompressed size are
    checked first, and what is really decompressed is counted as it goes (a compression bomb stops at the limit)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(content))
        meta = parquet.metadata
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if meta.num_columns > limits.columns:
            raise limits.too_large(path, "columns", meta.num_columns, limits.columns, "PIPELINE_SOURCE_MAX_COLUMNS")
        if meta.num_rows > limits.rows:
            raise limits.too_large(path, "rows", meta.num_rows, limits.rows, "PIPELINE_SOURCE_MAX_ROWS")
        if declared > limits.bytes:
            raise limits.too_large(path, "bytes once decompressed", declared, limits.bytes,
                                   "PIPELINE_SOURCE_MAX_BYTES")
        rows: list[dict] = []
        held = 0
        for batch in parquet.iter_batches(batch_size=1_000):
            held += batch.nbytes
            if held > limits.bytes:
                raise limits.too_large(path, "bytes once decompressed, at least", held, limits.bytes,
                                       "PIPELINE_SOURCE_MAX_BYTES")
            rows += batch.to_pylist()
            if len(rows) > limits.rows:
                raise limits.too_large(path, "rows, at least", len(rows), limits.rows, "PIPELINE_SOURCE_MAX_ROWS")
    except (pa.ArrowException, OSError) as exc:
        raise SourceFileError(f"cannot read {path} as Parquet ({type(exc).__name__})") from None
    return list(enumerate(rows, start=1))


def _rows(path: Path, content: bytes, kind: str, mapping: Mapping,
          limits: SourceLimits = DEFAULT_LIMITS) -> list[tuple[int, dict | UnparseableLine]]:
    """(line or row number, row) pairs; a row that cannot be read is an ``UnparseableLine`` in its place."""
    if kind == "parquet":
        return _parquet_rows(path, content, limits)
    encoding = mapping.source.encoding
    try:
        text = content.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except (LookupError, UnicodeError) as exc:  # UnicodeError: also a codec that fails in its own way (punycode)
        where = f" (at byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else ""
        raise SourceFileError(f"cannot read {path} as {encoding}{where}: {type(exc).__name__}; set source.encoding "
                              "in the mapping (e.g. latin-1)") from None
    if kind == "csv":
        return _csv_rows(path, text, mapping, limits)
    records = _json_records(path, text, kind, limits)
    return [(n, r if isinstance(r, dict | UnparseableLine) else UnparseableLine(str(r)[:2000], f"row {n}: not "
             "an object")) for n, r in enumerate(records, start=1)]


def _csv_rows(path: Path, text: str, mapping: Mapping,
              limits: SourceLimits = DEFAULT_LIMITS) -> list[tuple[int, dict | UnparseableLine]]:
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
        if len(rows) >= limits.rows:
            raise limits.too_large(path, "more rows than", limits.rows, limits.rows, "PIPELINE_SOURCE_MAX_ROWS")
        if header is None:
            header = [cell.strip() for cell in cells]
            if len(header) > limits.columns:
                raise limits.too_large(path, "columns", len(header), limits.columns, "PIPELINE_SOURCE_MAX_COLUMNS")
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
