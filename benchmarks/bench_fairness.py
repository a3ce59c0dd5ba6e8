"""One client's small requests while another sends maximum-size ones: is the small one held back? The service runs
twice on the same store and champion, first with requests answered whole (``PIPELINE_API_CHUNK_WEIGHT`` beyond any
request: the baseline) and then with the default chunking; each time one client sends the heaviest request the
limits allow (1,000 records x 30 courses x 26 grades, about 4.9 MB) back to back, and another sends one-record
requests, one at a time, for ``--seconds``. Printed: the one-record latency (p50, p99, max) and how long each big
request took.

    python benchmarks/bench_fairness.py [--seconds 40]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_api import wait_ready  # noqa: E402
from infra.local_server import ensure_server, stop_server  # noqa: E402
from tasks.data.synthetic import generate_batch  # noqa: E402


def heaviest(n: int = 1000, courses: int = 30, grades: int = 26) -> list[dict]:
    """The heaviest request within the limits."""
    records = generate_batch(n, seed=901, labeled=False).records
    for i, record in enumerate(records):
        record["student_id"] = 50_000_000 + i
        record["courses"] = [{"course": f"Course {k}", "credits": 3, "grades": [60 + (k + j) % 30 for j in
                                                                                  range(grades)]}
                             for k in range(courses)]
    return records


def phase(url: str, seconds: float, big: list[dict], small: list[dict]) -> dict:
    """Big requests back to back in one thread; one-record requests in this one; latencies."""
    stop, big_times, small_times = threading.Event(), [], []

    def sender() -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            while not stop.is_set():
                start = time.perf_counter()
                assert http.post("/predict", json={"records": big}).status_code == 200
                big_times.append(time.perf_counter() - start)

    thread = threading.Thread(target=sender)
    thread.start()
    time.sleep(1.0)  # the first big request is under way
    with httpx.Client(base_url=url, timeout=300) as http:
        deadline, i = time.monotonic() + seconds, 0
        while time.monotonic() < deadline:
            start = time.perf_counter()
            assert http.post("/predict", json={"records": [small[i % len(small)]]}).status_code == 200
            small_times.append(time.perf_counter() - start)
            i += 1
            time.sleep(0.05)
    stop.set()
    thread.join()
    ms = 1000 * np.array(small_times)
    return {"small": len(ms), "p50": np.percentile(ms, 50), "p99": np.percentile(ms, 99), "max": ms.max(),
            "big": len(big_times), "big_s": float(np.mean(big_times)) if big_times else float("nan")}


def serve(env: dict, chunk_weight: int, url: str) -> subprocess.Popen:
    """The service as its own process."""
    process = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT,
                               env={**env, "PIPELINE_API_CHUNK_WEIGHT": str(chunk_weight)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_ready(url, process)
    return process


def main() -> None:
    """Store, champion, then the two phases, then the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--port", type=int, default=8139)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mongo"
        env = {**os.environ, "MONGO_URI": ensure_server(folder, 27139), "MONGO_DB": "bench_fair",
               "PIPELINE_DATA_DIR": f"{tmp}/data", "PIPELINE_ARTIFACTS_DIR": f"{tmp}/artifacts",
               "PIPELINE_API_PORT": str(args.port), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "GX_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)
        try:
            subprocess.run([sys.executable, "flows/main.py", "--students", "2000", "--seed", "0", "--algorithms",
                            "linear", "--no-export"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
            big, small = heaviest(), generate_batch(500, seed=902, labeled=False).records
            for label, weight in (("whole (baseline)", 10**9), ("chunked (default)", 20_000)):
                service = serve(env, weight, url)
                try:
                    rows[label] = phase(url, args.seconds, big, small)
                finally:
                    service.terminate()
                    service.wait(timeout=60)
        finally:
            stop_server(folder)
    print(f"one-record requests while 1,000 x 30 courses x 26 grades requests run back to back, {args.seconds:.0f} s\n")
    print(f"{'big requests answered':<22}{'one-record n':>13}{'p50 ms':>9}{'p99 ms':>10}{'max ms':>10}"
          f"{'big n':>7}{'big s each':>11}")
    for label, row in rows.items():
        print(f"{label:<22}{row['small']:>13}{row['p50']:>9.0f}{row['p99']:>10.0f}{row['max']:>10.0f}"
              f"{row['big']:>7}{row['big_s']:>11.1f}")
    base, now = rows["whole (baseline)"], rows["chunked (default)"]
    print(f"\np99 {base['p99']:.0f} ms -> {now['p99']:.0f} ms ({base['p99'] / now['p99']:.1f}x lower); target: the "
          f"one-record p99 under 1 s while a maximum-size request runs")


if __name__ == "__main__":
    main()
