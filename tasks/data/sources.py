"""Where batches come from, as files: reading a JSON or JSON Lines file into records (nothing in it is dropped
silently: a line that does not parse is kept so that it is rejected with its reason), and writing records as
JSON Lines. Pure apart from the file it reads or writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from infra.errors import UserError
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
    digest = hashlib.sha256(content).hexdigest()
    stripped = text.lstrip()
    if not stripped:
        raise SourceFileError(f"source file {path} is empty: no records to ingest")
    if path.suffix.lower() not in (".jsonl", ".ndjson") and stripped[0] in "[{":
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
            return records, digest
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
    return records, digest


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
