"""The first hour of a new user, timed: `flows/main.py` cold (a fresh folder: the local server and a temporary
Prefect server start) and warm (the same folder again), each with its wall time, the time to its first line and
its longest silence (with the line that ended it); `--help`, a typo'd flag and a missing file with their time and
lines printed. Everything runs in a throwaway folder, and the local server it starts is stopped at the end.

    .venv/bin/python benchmarks/bench_first_hour.py [--students 2000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed_lines(command: list[str], env: dict, timeout: float = 900) -> dict:
    """Run ``command``, stamping each line of its output (stdout and stderr together) as it arrives."""
    start, used = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1)
    stamps: list[tuple[float, str]] = []
    assert process.stdout is not None
    for line in process.stdout:
        stamps.append((time.monotonic() - start, line.rstrip()))
        if time.monotonic() - start > timeout:
            process.kill()
            break
    code = process.wait()
    wall = time.monotonic() - start
    after_use = resource.getrusage(resource.RUSAGE_CHILDREN)  # CPU of this command (robust to a busy machine)
    cpu = after_use.ru_utime + after_use.ru_stime - used.ru_utime - used.ru_stime
    times = [0.0] + [t for t, _ in stamps] + [wall]
    gaps = [(times[i + 1] - times[i], i) for i in range(len(times) - 1)]
    longest, index = max(gaps) if gaps else (wall, 0)
    after = stamps[index][1] if index < len(stamps) else "(the end)"
    return {"code": code, "wall": wall, "cpu": cpu, "first": stamps[0][0] if stamps else wall, "lines": len(stamps),
            "silence": longest, "silence_before": after[:90]}


def main() -> None:
    """Time each command in a throwaway folder and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--port", type=int, default=27191)
    parser.add_argument("--quick", action="store_true", help="only --help, a typo'd flag and a missing file")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PIPELINE_DATA_DIR": f"{tmp}/data", "PIPELINE_ARTIFACTS_DIR": f"{tmp}/artifacts",
               "PIPELINE_LOCAL_MONGO_PORT": str(args.port), "PREFECT_HOME": f"{tmp}/prefect",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GX_ANALYTICS_ENABLED": "false"}
        for key in ("MONGO_URI", "PREFECT_API_URL"):
            env.pop(key, None)
        rows = {}
        try:
            rows["--help"] = timed_lines([python, "flows/main.py", "--help"], env)
            rows["a typo'd flag"] = timed_lines([python, "flows/main.py", "--studnets", "5"], env)
            rows["a missing --source file"] = timed_lines([python, "flows/main.py", "--source", "nope.csv",
                                                         "--mapping", "nope.yaml"], env)
            for script in ("score", "retrain", "rollback", "drill"):
                rows[f"{script}.py --help"] = timed_lines([python, f"flows/{script}.py", "--help"], env)
            if args.quick:
                return report(rows)
            rows["flows/main.py, cold"] = timed_lines([python, "flows/main.py", "--students", str(args.students)],
                                                      env)
            rows["flows/main.py, warm"] = timed_lines([python, "flows/main.py", "--students", str(args.students),
                                                       "--seed", "1"], env)
        finally:
            subprocess.run([python, "-m", "infra.local_server", "stop"], cwd=ROOT, env=env, capture_output=True)
    report(rows)


def report(rows: dict) -> None:
    """The table, then the targets."""
    print(f"{'what':<26}{'exit':>5}{'wall s':>8}{'CPU s':>7}{'first line s':>14}{'lines':>7}{'longest silence s':>19}"
          "  before the line")
    for name, row in rows.items():
        print(f"{name:<26}{row['code']:>5}{row['wall']:>8.1f}{row['cpu']:>7.2f}{row['first']:>14.1f}{row['lines']:>7}"
              f"{row['silence']:>19.1f}  {row['silence_before']}")
    print("targets: --help and a bad flag under 1.0 s of CPU, a missing file under 5 s, a first line within 2 s, no "
          "silence over 10 s on a default run")


if __name__ == "__main__":
    main()
