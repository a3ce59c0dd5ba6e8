"""``python flows/main.py`` as a user runs it: twice in a row on a fresh embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_runs_on_a_fresh_embedded_store_add_a_batch_each(tmp_path):
    env = {**os.environ, "MONGO_URI": "", "PIPELINE_DATA_DIR": str(tmp_path / "data"),
           "PIPELINE_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    env.pop("PREFECT_API_URL", None)
    summaries = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "flows/main.py", "--students", "150", "--json"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        summaries.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = summaries
    assert (first["batch_id"], second["batch_id"]) == ("gen-s0-n150-L", "gen-s1-n150-L")
    assert second["counts"]["batches"] == 2 and second["counts"]["students_raw"] == 300
    assert second["store"] == f"embedded://{tmp_path / 'data' / 'mongo'}"
    assert (tmp_path / "data" / "raw" / "gen-s1-n150-L.jsonl").exists()
