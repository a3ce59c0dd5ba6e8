"""What an unauthenticated client can make the service spend (issue 31): its memory while 1,000 wrong keys of 1 MB
and a 1 GB sign-in form are sent, and how long a one-record prediction from another client waits meanwhile.

Everything runs as its own process, as in production: a local MongoDB server on a temporary folder, the main flow
(to name a champion), the service (``python -m api``), the attackers (threads of this script, each on its own
connection) and the honest client (one-record /predict every 100 ms).

    python benchmarks/bench_exhaustion.py [--keys 1000] [--form-mb 1024] [--port 8765]

Targets: the service's memory within 100 MB of its idle size; every honest request answered within 1 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_api import wait_ready  # noqa: E402
from infra.local_server import ensure_server, stop_server  # noqa: E402
from tasks.data.synthetic import generate_batch  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def send(port: int, head: bytes, body_bytes: int = 0) -> str:
    """One connection: a request head, then up to ``body_bytes`` of body in 1 MB chunks (chunked transfer encoding)
    until the server stops reading; the status line that came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head)
            piece = b"100000\r\n" + b"k" * 1_048_576 + b"\r\n"
            for _ in range(body_bytes // 1_048_576):
                sock.sendall(piece)
        except OSError:
            pass  # refused part way, as it should be
        try:
            return sock.recv(200).split(b"\r\n")[0].decode(errors="replace")
        except OSError as exc:
            return type(exc).__name__


def main() -> None:
    """Start a store, a champion and the service; flood it; print what it cost."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1000, help="wrong keys of 1 MB each")
    parser.add_argument("--form-mb", type=int, default=1024, help="the sign-in form's size, MB")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mongo"
        folder.mkdir()
        env = {**os.environ, "MONGO_URI": ensure_server(folder, 27138), "MONGO_DB": "bench_exhaustion",
               "PIPELINE_DATA_DIR": tmp + "/data", "PIPELINE_ARTIFACTS_DIR": tmp + "/artifacts",
               "PIPELINE_API_PORT": str(args.port), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        service = None
        try:
            subprocess.run([sys.executable, "flows/main.py", "--students", "1000", "--seed", "0", "--algorithms",
                            "linear"], cwd=ROOT, env=env, check=True, capture_output=True)
            service = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
            url = f"http://127.0.0.1:{args.port}"
            wait_ready(url, service)
            record = generate_batch(1, seed=950, labeled=False).records
            honest = httpx.Client(base_url=url, timeout=30)
            for _ in range(20):
                honest.post("/predict", json={"records": record})  # warm
            time.sleep(1)
            idle = rss_mb(service.pid)
            peak, latencies, statuses, stop = [idle], [], {}, threading.Event()

            def watch():
                while not stop.is_set():
                    peak.append(rss_mb(service.pid))
                    time.sleep(0.05)

            def ask():
                while not stop.is_set():
                    started = time.monotonic()
                    answer = honest.post("/predict", json={"records": record})
                    latencies.append((time.monotonic() - started, answer.status_code))
                    time.sleep(0.1)

            def attack():
                for size in (1_048_576, 30_000):  # over the header limit, then just under it (checked as keys)
                    key = "spk_000000000000_" + "x" * size
                    for _ in range(args.keys):
                        line = send(args.port, f"GET /models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                                               f"{key}\r\n\r\n".encode())
                        statuses[f"{size // 1000} KB keys: {line}"] = statuses.get(f"{size // 1000} KB keys: {line}",
                                                                                   0) + 1
                form = args.form_mb * 1_048_576
                line = send(args.port, (b"POST /dashboard/sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                        b"application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        ), form)
                statuses["form: " + line] = 1

            threads = [threading.Thread(target=target, daemon=True) for target in (watch, ask)]
            for thread in threads:
                thread.start()
            started = time.monotonic()
            attack()
            attack_s = time.monotonic() - started
            time.sleep(1)
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        finally:
            if service is not None:
                service.terminate()
                service.wait(timeout=30)
            stop_server(folder)
    waits = sorted(seconds for seconds, _ in latencies)
    print(f"attack: {args.keys} wrong keys of 1 MB, {args.keys} of 30 KB, then a {args.form_mb} MB sign-in form "
          f"(chunked), {attack_s:.1f} s")
    print(f"answers to the attacker: {statuses}")
    print(f"service memory: idle {idle:.0f} MB, peak {max(peak):.0f} MB, +{max(peak) - idle:.0f} MB (target <= 100)")
    print(f"honest one-record requests meanwhile: {len(waits)}, all 200: "
          f"{all(code == 200 for _, code in latencies)}, p50 {1000 * waits[len(waits) // 2]:.0f} ms, "
          f"max {1000 * waits[-1]:.0f} ms (target <= 1000)")


if __name__ == "__main__":
    main()
