"""The main flow at scale: wall time, time per stage and peak memory of each process, on a fresh store.

    .venv/bin/python benchmarks/bench_scale.py --students 100000 [--students 300000 ...] [--no-train]
    git worktree add /tmp/before <commit> && .venv/bin/python benchmarks/bench_scale.py --checkout /tmp/before

Each size runs ``python flows/main.py --students N --json`` in its own process on a fresh data folder (its own
local server), sampling every 0.5 s the resident memory of the flow's process tree (the flow and any temporary
Prefect server it starts) and of the local MongoDB server, then stops the server and removes the folder. Prints one
row per size (the summary's seconds per data stage, and ``rest``: the wall time they leave, i.e. training,
evaluation, registration, reports and Prefect's own work) and the ratio of each size's figures to the first size's.
``--checkout`` runs another checkout's flow (an earlier commit's worktree) with this environment: a before and
after on the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.local_server import STATE_FILE  # noqa: E402


def _tree_rss(process: psutil.Process, exclude: set[int]) -> int:
    """Resident bytes of a process and its children, leaving out ``exclude`` (the store's server)."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        if proc.pid in exclude:
            continue
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def _server_pid(data_dir: Path) -> int | None:
    """The local server's pid, from its state file in the data folder (None before it has started)."""
    for state in data_dir.rglob(STATE_FILE):
        try:
            return int(json.loads(state.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def run_once(students: int, seed: int, train: bool, port: int, checkout: Path = ROOT) -> dict:
    """One main-flow run on a fresh store; its summary's stage seconds, wall and peak memory."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    prefect_home = data_dir / "prefect-home"
    prefect_home.mkdir()
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data_dir), "PIPELINE_LOCAL_MONGO_PORT": str(port),
           "PIPELINE_ARTIFACTS_DIR": str(data_dir / "artifacts"), "PREFECT_HOME": str(prefect_home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GX_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", "PREFECT_LOGGING_LEVEL": "WARNING"}
    command = [sys.executable, "flows/main.py", "--students", str(students), "--seed", str(seed), "--json",
               *([] if train else ["--no-train"])]
    peaks = {"flow": 0, "server": 0}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    done = threading.Event()

    def sample() -> None:
        watched = psutil.Process(process.pid)
        while not done.is_set():
            server = _server_pid(data_dir)
            try:
                peaks["flow"] = max(peaks["flow"], _tree_rss(watched, {server} if server else set()))
                if server:
                    peaks["server"] = max(peaks["server"], psutil.Process(server).memory_info().rss)
            except psutil.Error:
                pass
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    try:
        if process.returncode != 0:
            raise SystemExit(f"the main flow failed at {students} students (exit {process.returncode}):\n{err[-3000:]}")
        summary = json.loads(out.strip().splitlines()[-1])
    finally:
        subprocess.run([sys.executable, "-m", "infra.local_server", "stop"], cwd=checkout, env=env,
                       capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"students": students, "wall": wall, "seconds": summary["seconds"], "flow_gb": peaks["flow"] / 2**30,
            "server_gb": peaks["server"] / 2**30}


def main() -> None:
    """Run each size, print the table and the ratios to the first size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, action="append", help="batch size (repeatable); default 100000")
    parser.add_argument("--seed", type=int, default=500)
    parser.add_argument("--port", type=int, default=27191)
    parser.add_argument("--no-train", dest="train", action="store_false")
    parser.add_argument("--checkout", type=Path, default=ROOT,
                        help="the checkout whose flows/main.py runs (default: this one)")
    args = parser.parse_args()
    if not (args.checkout / "flows" / "main.py").is_file():
        parser.error(f"--checkout {args.checkout}: no flows/main.py there")
    rows = [run_once(n, args.seed, args.train, args.port, args.checkout.resolve()) for n in args.students or [100_000]]
    for row in rows:  # what the summary does not time: training, evaluation, registration, Prefect's own work
        row["seconds"]["rest"] = row["wall"] - sum(row["seconds"].values())
    stages = list(dict.fromkeys(stage for row in rows for stage in row["seconds"]))
    print(f"{'students':>9} {'wall s':>8} " + " ".join(f"{s[:12]:>12}" for s in stages)
          + f" {'flow GB':>8} {'server GB':>9}")
    for row in rows:
        print(f"{row['students']:>9,} {row['wall']:>8.1f} "
              + " ".join(f"{row['seconds'].get(s, float('nan')):>12.1f}" for s in stages)
              + f" {row['flow_gb']:>8.2f} {row['server_gb']:>9.2f}")
    first = rows[0]
    for row in rows[1:]:
        print(f"{row['students'] / first['students']:.0f}x the students: wall {row['wall'] / first['wall']:.2f}x, "
              f"flow memory {row['flow_gb'] / first['flow_gb']:.2f}x, server memory "
              f"{row['server_gb'] / first['server_gb']:.2f}x")


if __name__ == "__main__":
    main()
