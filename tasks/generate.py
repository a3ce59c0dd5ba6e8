"""Generate a batch from the synthetic world and keep a JSON Lines copy under the raw data folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.collections import BATCHES
from infra.retry import DB_RETRIES, retry_on_transient, stopwatch
from infra.settings import get_settings
from infra.storage import get_database
from tasks.ingest import BatchInput
from tasks.synthetic import DriftKnobs, generate_batch


def write_jsonl(rows: list, path: Path) -> Path:
    """Write rows as JSON Lines atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, separators=(",", ":")) + "\n")
    tmp.replace(path)
    return path


@task(name="choose-seed", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def choose_seed(seed: int | None) -> int:
    """An explicit seed wins; otherwise one past the highest generator seed stored (0 on a fresh store)."""
    if seed is not None:
        return seed
    latest = get_database()[BATCHES].find_one({"source.type": "generator"}, sort=[("source.seed", -1)])
    return 0 if latest is None else int(latest["source"]["seed"]) + 1


@task(name="generate-batch", cache_policy=NO_CACHE)
def generate_students(n_students: int, seed: int, labeled: bool, knobs: DriftKnobs) -> BatchInput:
    """Generate the batch and save its records (and, apart, its truth) as JSON Lines in the raw folder."""
    with stopwatch() as timing:
        generated = generate_batch(n_students, seed, labeled, knobs)
        raw_dir = get_settings().raw_path
        records_path = write_jsonl(generated.records, raw_dir / f"{generated.batch_id}.jsonl")
        write_jsonl(generated.truth, raw_dir / "truth" / f"{generated.batch_id}.jsonl")
    return BatchInput(
        batch_id=generated.batch_id,
        labeled=labeled,
        records=generated.records,
        source={"type": "generator", "seed": seed, "students": n_students, "drift": knobs.model_dump(),
                "file": str(records_path)},
        truth=generated.truth,
        seconds=timing["seconds"],
    )
