"""Load the prediction service the way clients do: 8 concurrent clients for 30 s of single-record requests, then
30 s of 500-record requests. Prints requests/s, latency percentiles, records/s, errors, the CPU each process
spent per request, and whether every answer was logged (predictions logged == predictions served).

Everything runs as its own process, as in production: a local MongoDB server on a temporary folder, the main
flow (to name a champion), the service (``python -m api``), and the load: ``wrk`` (C; Debian package ``wrk``)
when it is installed, else this script's asyncio clients, which on 2 cores spend more CPU per request than the
service itself (measured: 12.8 ms against 8.9 ms) and so measure themselves as much as the service.

    python benchmarks/bench_api.py [--seconds 30] [--clients 8] [--workers 1] [--python-clients]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.local_server import ensure_server, read_state, stop_server  # noqa: E402
from tasks.data.synthetic import generate_batch  # noqa: E402


async def load(url: str, payloads: list[list[dict]], clients: int, seconds: float,
               headers: dict | None = None, path: str = "/predict") -> dict:
    """``clients`` loops posting ``payloads`` (cycling) for ``seconds``; latencies, errors, records answered."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    answered = 0
    deadline = time.monotonic() + seconds

    async def client(offset: int) -> None:
        nonlocal answered
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as http:
            i = offset
            while time.monotonic() < deadline:
                body = {"records": payloads[i % len(payloads)]}
                i += clients
                start = time.perf_counter()
                try:
                    response = await http.post(path, json=body)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - start)
                if response.status_code == 200:
                    answered += len(response.json()["predictions"])
                else:
                    errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1

    start = time.monotonic()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed = time.monotonic() - start
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "records_per_s": answered / elapsed, "answered": answered, "errors": errors,
            **{f"p{q}": float(np.percentile(ms, q)) for q in (50, 95, 99)}}


WRK_SCRIPT = """
local bodies, i = {}, 0
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local counter = 0
function setup(thread) thread:set("offset", counter * 7919); counter = counter + 1 end
function init(args) i = offset or 0 end
function request()
  i = i + 1
  local headers = {["Content-Type"] = "application/json"}
  if os.getenv("BENCH_KEY") ~= "" then headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY") end
  return wrk.format("POST", os.getenv("BENCH_PATH"), headers, bodies[(i % #bodies) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status, latency:percentile(50), latency:percentile(95),
    latency:percentile(99)))
end
"""


def wrk_load(url: str, payloads: list[list[dict]], clients: int, seconds: float, folder: Path,
             key: str = "", path: str = "/predict") -> dict:
    """The same load with wrk: ``clients`` connections on 2 threads, cycling through the payloads."""
    import json
    import re

    bodies, script = folder / "bodies.jsonl", folder / "load.lua"
    bodies.write_text("\n".join(json.dumps({"records": payload}) for payload in payloads) + "\n")
    script.write_text(WRK_SCRIPT)
    done = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "30s", "-s", str(script),
                           url], capture_output=True, text=True,
                          env={**os.environ, "BENCH_BODIES": str(bodies), "BENCH_KEY": key, "BENCH_PATH": path},
                          timeout=seconds + 120)
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", done.stdout)
    if match is None:
        raise SystemExit(f"wrk failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    requests, micros, errors, p50, p95, p99 = map(int, match.groups())
    elapsed = micros / 1e6
    answered = (requests - errors) * len(payloads[0])
    return {"requests": requests, "seconds": elapsed, "rps": requests / elapsed, "records_per_s": answered / elapsed,
            "answered": answered, "errors": {"wrk": errors}, "p50": p50 / 1000, "p95": p95 / 1000, "p99": p99 / 1000}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (Linux /proc)."""
    total = 0.0
    for candidate in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{candidate}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    """A process's live children (uvicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def own_and_waited_cpu() -> float:
    """This process's CPU seconds plus its finished children's (wrk, once it has exited)."""
    import resource

    mine, waited = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + waited.ru_utime + waited.ru_stime


def measured(run, pids: dict[str, int]) -> dict:
    """A load ``run()``, with the CPU seconds the store, the service and the clients spent during it."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    clients = own_and_waited_cpu()
    result = run()
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    return {**result, "cpu": {**cpu, "clients": own_and_waited_cpu() - clients}}


def store_limit(uri: str, records: list[dict], repeat: int = 3) -> float:
    """Records/s the store itself sustains for what the service asks of it per record, with no service in
    between: the feature stages over ``$documents`` and the insert of the prediction log (best of ``repeat``)."""
    from datetime import UTC, datetime

    from pymongo import MongoClient

    from infra import prediction_log
    from tasks.data.features import feature_stages

    db = MongoClient(uri)["bench_api"]
    best = float("inf")
    for attempt in range(repeat):
        start = time.perf_counter()
        features = list(db.aggregate([{"$documents": records}, *feature_stages("limit", 0, labeled=False)]))
        now = datetime.now(UTC)
        prediction_log.log_served(db, [{"student_id": f["student_id"], "batch_id": f"api:limit-{attempt}",
                                        "model": "high_performer", "version": 1, "prediction": 0, "probability": 0.5,
                                        "arm": None, "scored_at": now, "source": "limit"} for f in features])
        best = min(best, time.perf_counter() - start)
    return len(records) / best


def settled_count(db, quiet_s: float = 2.0, timeout_s: float = 60.0) -> int:
    """The service's logged predictions once no more arrive (requests still in flight finish first)."""
    from infra import prediction_log

    count, deadline = -1, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        latest = prediction_log.count(db, {"source": "api"})
        if latest == count:
            return count
        count = latest
        time.sleep(quiet_s)
    return count


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120, path: str = "/ready",
               what: str = "the service") -> None:
    """Until ``path`` answers 200 (ours: /ready, the champion loaded and verified; the naive service: /docs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} was not ready in time")


def main() -> None:
    """Set up a store with a champion, start the service, load it, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--port", type=int, default=8137)
    parser.add_argument("--algorithm", default="linear", help="the champion's algorithm (reasons cost differs)")
    parser.add_argument("--python-clients", action="store_true", help="load with asyncio clients even if wrk exists")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mongo"
        env = {**os.environ, "MONGO_URI": ensure_server(folder, 27137), "MONGO_DB": "bench_api",
               "PIPELINE_DATA_DIR": f"{tmp}/data", "PIPELINE_ARTIFACTS_DIR": f"{tmp}/artifacts",
               "PIPELINE_API_PORT": str(args.port), "PIPELINE_API_WORKERS": str(args.workers),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GX_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)
        service = None
        try:
            subprocess.run([sys.executable, "flows/main.py", "--students", "2000", "--seed", "0", "--algorithms",
                            args.algorithm, "--no-export"], cwd=ROOT, env=env, check=True, capture_output=True,
                           timeout=600)
            service = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
            url = f"http://127.0.0.1:{args.port}"
            wait_ready(url, service)
            pool = generate_batch(40_000, seed=900, labeled=False).records
            singles = [[record] for record in pool]
            batches = [pool[i:i + 500] for i in range(0, len(pool), 500)]
            asyncio.run(load(url, singles[:200], args.clients, 3))  # warm-up, not reported
            pids = {"store": read_state(folder).pid, "service": service.pid}
            use_wrk = shutil.which("wrk") is not None and not args.python_clients

            def run(payloads: list[list[dict]], key: str = "", path: str = "/predict", target: str = url):
                if use_wrk:
                    return lambda: wrk_load(target, payloads, args.clients, args.seconds, Path(tmp), key, path)
                headers = {"Authorization": f"Bearer {key}"} if key else None
                return lambda: asyncio.run(load(target, payloads, args.clients, args.seconds, headers, path))

            made = subprocess.run([sys.executable, "-m", "api.keys", "create", "--name", "bench", "--scopes",
                                   "predict"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
            key = made.stdout.strip().splitlines()[-1]
            single = measured(run(singles[:8000]), pids)
            keyed = measured(run(singles[8000:16000], key), pids)
            explained = measured(run(singles[16000:24000], path="/predict?explain=true"), pids)
            batch = measured(run(batches), pids)
            from pymongo import MongoClient

            log_db = MongoClient(env["MONGO_URI"])["bench_api"]
            before = settled_count(log_db)  # wrk stops without waiting for the requests in flight

            check = asyncio.run(load(url, singles[:2000], args.clients, 5))  # every response awaited
            logged = settled_count(log_db) - before
            limit = store_limit(env["MONGO_URI"], pool[:500])
            # the naive single-file service, same store, same load, same records; then again logging into a
            # collection with our log's indexes (the same store work, the rest naive)
            naive_url, naive_port = f"http://127.0.0.1:{args.port + 1}", str(args.port + 1)
            naive = {}
            for log in ("bare", "indexed"):
                naive_service = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "benchmarks.naive_service:app", "--host", "127.0.0.1",
                     "--port", naive_port, "--log-level", "warning"], cwd=ROOT, env={**env, "NAIVE_LOG": log},
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                try:
                    wait_ready(naive_url, naive_service, 60, "/docs", "the naive service")
                    asyncio.run(load(naive_url, singles[:200], args.clients, 3))  # warm-up
                    naive_pids = {"store": pids["store"], "service": naive_service.pid}
                    if log == "bare":
                        naive["single"] = measured(run(singles[24000:32000], target=naive_url), naive_pids)
                    naive[log] = measured(run(batches, target=naive_url), naive_pids)
                finally:
                    naive_service.terminate()
                    naive_service.wait(timeout=30)
            naive_single, naive_batch = naive["single"], naive["bare"]
        finally:
            if service is not None:
                service.terminate()
                service.wait(timeout=30)
            stop_server(folder)
    print(f"{args.clients} concurrent clients ({'wrk' if use_wrk else 'asyncio httpx'}), {args.seconds:.0f} s per "
          f"phase, {args.workers} uvicorn worker(s); 2 cores shared by the store, the service and the clients\n")
    print(f"{'requests':<15}{'req/s':>8}{'records/s':>11}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"   CPU ms per request: {'store':>7}{'service':>9}{'clients':>9}")
    for label, row in (("1 record", single), ("1 record, key", keyed), ("1, explain", explained),
                       ("500 records", batch), ("naive: 1 record", naive_single),
                       ("naive: 500", naive_batch), ("naive: 500, idx", naive["indexed"])):
        cpu = {name: 1000 * seconds / max(row["requests"], 1) for name, seconds in row["cpu"].items()}
        print(f"{label:<15}{row['rps']:>8.1f}{row['records_per_s']:>11.0f}{row['p50']:>9.1f}{row['p95']:>9.1f}"
              f"{row['p99']:>9.1f}{sum(row['errors'].values()):>8}   {'':>20}{cpu['store']:>7.1f}"
              f"{cpu['service']:>9.1f}{cpu['clients']:>9.1f}")
    print(f"\nthe store's own limit for that work (features over $documents + the log's insert, 500 records, no "
          f"service): {limit:.0f} records/s; the service reaches {batch['records_per_s'] / limit:.0%} of it")
    print(f"every answer logged: a 5 s check with clients that await every response served {check['answered']} "
          f"predictions and {logged} were logged: {'equal' if logged == check['answered'] else 'DIFFERENT'}")
    print(f"with a key (checked, then cached 5 s): {keyed['rps'] / single['rps']:.2f}x the requests/s and "
          f"{keyed['p99'] / single['p99']:.2f}x the p99 of loopback requests without one (target: within 10%)")
    print(f"with reasons (?explain=true, the {args.algorithm} champion): p99 {explained['p99']:.1f} ms against "
          f"{single['p99']:.1f} ms without, {explained['rps'] / single['rps']:.2f}x the requests/s")
    print(f"against the naive single-file service (benchmarks/naive_service.py), same store and load: one record "
          f"{single['rps'] / naive_single['rps']:.2f}x its requests/s (p99 {single['p99']:.1f} against "
          f"{naive_single['p99']:.1f} ms), 500 records {batch['records_per_s'] / naive_batch['records_per_s']:.2f}x "
          f"its records/s; {batch['records_per_s'] / naive['indexed']['records_per_s']:.2f}x the naive service "
          f"logging into our log's indexes (naive: 500, idx)")
    print("targets: >= 150 single-record requests/s with p99 <= 100 ms and no errors; >= 3,000 records/s in batches; "
          ">= 2x the naive service")


if __name__ == "__main__":
    main()
