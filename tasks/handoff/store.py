"""What a hand-off reads: a registered version (its fitted pipeline, split and label rule) and a batch's exported
Parquet; and where it keeps each split's loader info (beside the export, and in the store like other reports)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from infra.collections import SPLITS
from infra.errors import UserError
from infra.report_files import save_file
from infra.storage import Db
from tasks.registry.results import ModelVersion
from tasks.registry.store import find_champion, get_version, load_binary


class ExportNotFoundError(UserError, FileNotFoundError):
    """The batch was never exported (no features.parquet in its export folder)."""


def version_and_model(db: Db, name: str, version: int | None) -> tuple[ModelVersion, object]:
    """The version (the champion unless given) and its fitted pipeline, SHA-256-verified."""
    record = get_version(db, name, version) if version is not None else find_champion(db, name)
    if record is None:
        raise UserError(f"model {name!r} has no champion yet: run python flows/main.py, or pass --version")
    return record, load_binary(db, record)


def version_split(db: Db, record: ModelVersion) -> dict[str, list[int]]:
    """The student ids of each part the version was trained, validated and tested on."""
    split_id = record.lineage.get("split_id")
    found = db[SPLITS].find_one({"split_id": split_id}, {"_id": 0, "ids": 1}) if split_id else None
    if found is None:
        raise UserError(f"{record.name} v{record.version} has no stored split (lineage split_id {split_id!r})")
    return found["ids"]


def read_export(folder: Path) -> tuple[pd.DataFrame, dict]:
    """A batch's exported features and its schema.json (lineage, the CSV's hash)."""
    parquet, schema = folder / "features.parquet", folder / "schema.json"
    if not parquet.is_file():
        raise ExportNotFoundError(f"no exported features in {folder}: export the batch first (python flows/main.py "
                                  "exports the batch it brings in; --no-export skips it)")
    return pd.read_parquet(parquet), json.loads(schema.read_text()) if schema.is_file() else {}


def keep_loader_info(db: Db, folder: Path, store_prefix: str, infos: dict[str, dict]) -> list[str]:
    """Write ``<split>_loader_info.json`` beside the export and into the store's report files; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for split, info in infos.items():
        data = json.dumps(info, indent=2, sort_keys=True).encode()
        path = folder / f"{split}_loader_info.json"
        path.write_bytes(data)
        save_file(db, f"{store_prefix}/{split}_loader_info.json", data, "application/json")
        written.append(str(path))
    return written
