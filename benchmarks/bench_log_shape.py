"""The prediction log's shape, measured on the local server (issue 34): a document per
prediction (three indexes) against the bucket pattern (one document per request or per scored part, the predictions
in an array, a multikey index on the students), and a time-series collection where the server accepts one.

The same content in every shape: ``--scored`` students of one batch scored together (today's fields) and
``--served`` predictions answered by the service one record per request (its fields: request, who asked,
provenance). Reported per shape: bytes per prediction (``collStats``: data + indexes), the server's CPU to log
them (read from /proc for the server process: robust to a busy machine), and the reads every reader of the log
makes: one student's predictions, one batch's, the served ones of a day.

    python benchmarks/bench_log_shape.py [--scored 2000] [--served 2000] [--bucket 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymongo import ASCENDING, IndexModel, MongoClient  # noqa: E402

from infra import prediction_log  # noqa: E402
from infra.collections import PREDICTIONS  # noqa: E402
from infra.local_server import ensure_server, read_state, stop_server  # noqa: E402

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SERVED_FIELDS = {"source": "api", "asked_by": "key_3f9a1c2e", "counted": False, "provenance": "unofficial"}


def scored_documents(students: int) -> list[dict]:
    """Today's documents of a scored batch: one per student."""
    return [{"student_id": 1_000_001 + i, "batch_id": "gen-s1-n2000-U", "model": "high_performer", "version": 3,
             "prediction": i % 2, "probability": 0.5 + (i % 97) / 200, "arm": None, "scored_at": AT}
            for i in range(students)]


def served_documents(requests: int) -> list[dict]:
    """Today's documents of single-record requests: one per request."""
    return [{"student_id": 2_000_001 + i, "batch_id": f"api:req-{i:08d}", "model": "high_performer", "version": 3,
             "prediction": i % 2, "probability": 0.5 + (i % 89) / 200, "arm": None,
             "scored_at": AT + timedelta(seconds=i), "request_id": f"req-{i:08d}", **SERVED_FIELDS}
            for i in range(requests)]


# what may vary per prediction (kept in its entry, whatever the values): the student, the answer, and for a served
# one its request, time, caller and provenance; the rest (batch, model, version, arm, source) is the bucket's
ENTRY = {"student_id": "s", "prediction": "y", "probability": "pr", "request_id": "r", "scored_at": "t",
         "asked_by": "a", "counted": "c", "provenance": "why"}


def buckets(documents: list[dict], size: int, key: str) -> list[dict]:
    """The bucket pattern: consecutive predictions of one ``key`` (a batch, or a worker's turn of requests) share a
    document of at most ``size``; each prediction keeps what varies (student, answer, its request if served)."""
    out: list[dict] = []
    for doc in documents:
        head = {k: v for k, v in doc.items() if k not in ENTRY and k != "batch_id"}
        group = doc[key] if key == "batch_id" else "api"
        last = out[-1] if out else None
        if last is None or last["group"] != group or len(last["p"]) >= size or last["head"] != head:
            last = {"group": group, "head": head, "p": [], "students": [], "first_at": doc["scored_at"]}
            out.append(last)
        entry = {short: doc[name] for name, short in ENTRY.items() if name in doc}
        if entry["t"] == last["first_at"]:
            del entry["t"]  # the bucket's time
        last["p"].append(entry)
        last["students"].append(doc["student_id"])
    return [{"_id": f"{b['group']}|{b['head']['model']}|{b['head']['version']}|{i}", "batch_id": b["group"],
             **b["head"], "scored_at": b["first_at"], "n": len(b["p"]), "students": b["students"], "p": b["p"]}
            for i, b in enumerate(out)]


def _numbered(found: list[dict], call: int | str) -> list[dict]:
    """Buckets of one call, their ids made unique across calls."""
    return [{**bucket, "_id": f"{bucket['_id']}|{call}"} for bucket in found]


# the log before buckets: a document per prediction, one per student, batch, model and version, read by batch and test
DOCUMENT_INDEXES = [
    IndexModel([("student_id", ASCENDING), ("batch_id", ASCENDING), ("model", ASCENDING), ("version", ASCENDING)],
               unique=True, name="prediction_unique"),
    IndexModel([("batch_id", ASCENDING)], name="batch"),
    IndexModel([("ab_test", ASCENDING), ("arm", ASCENDING)], name="ab_test_arm",
               partialFilterExpression={"ab_test": {"$exists": True}}),
]
BUCKET_INDEXES = [IndexModel([("students", ASCENDING)], name="students"),  # multikey: a student's predictions
                  IndexModel([("batch_id", ASCENDING)], name="batch"),
                  IndexModel([("ab_test", ASCENDING), ("arm", ASCENDING)], name="ab_test_arm",
                             partialFilterExpression={"ab_test": {"$exists": True}})]


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(db, pid: int, name: str, calls: list[list[dict]], indexes: list[IndexModel], predictions: int,
            reads: dict, **create) -> dict:
    """Log the documents, one ``insert_many`` per call, into a fresh collection; its bytes, the server's CPU, the
    reads."""
    db.drop_collection(name)
    db.create_collection(name, **create)
    if indexes:
        db[name].create_indexes(indexes)
    cpu, wall = server_cpu(pid), time.perf_counter()
    for call in calls:
        db[name].insert_many([dict(d) for d in call], ordered=True)
    cpu, wall = server_cpu(pid) - cpu, time.perf_counter() - wall
    stats = db.command("collStats", name)
    row = {"shape": name, "documents": stats["count"], "bytes": stats["size"] + stats["totalIndexSize"],
           "bytes/prediction": (stats["size"] + stats["totalIndexSize"]) / predictions,
           "data/prediction": stats["size"] / predictions, "server cpu ms/500": 1000 * cpu / predictions * 500,
           "wall s": wall}
    for label, query in reads.items():
        started = time.perf_counter()
        found = list(db[name].find(query))
        row[f"{label} ms"] = 1000 * (time.perf_counter() - started)
        row[f"{label} docs"] = len(found)
    return row


def measure_product(db, pid: int, parts: list[list[dict]], turns: list[list[dict]], predictions: int,
                    student: int, batch: str) -> dict:
    """The product's own log (``infra/prediction_log.py``) written by its own calls: each scored part as the scoring
    task logs it, each turn as the service logs it (a turn's predictions share the moment it answered)."""
    db.client.drop_database(db.name)
    prediction_log.ready(db)
    cpu, wall = server_cpu(pid), time.perf_counter()
    for part in parts:
        prediction_log.log_scored(db, [dict(d) for d in part])
    for turn in turns:
        prediction_log.log_served(db, [{**d, "scored_at": turn[0]["scored_at"]} for d in turn])
    cpu, wall = server_cpu(pid) - cpu, time.perf_counter() - wall
    stats = db.command("collStats", PREDICTIONS)
    row = {"shape": "product log", "documents": stats["count"], "bytes": stats["size"] + stats["totalIndexSize"],
           "bytes/prediction": (stats["size"] + stats["totalIndexSize"]) / predictions,
           "data/prediction": stats["size"] / predictions, "server cpu ms/500": 1000 * cpu / predictions * 500,
           "wall s": wall}
    reads = {"one student": ({"students": student}, {"student_id": student}),
             "one batch": ({"batch_id": batch}, None), "served": ({"source": "api"}, None)}
    for label, (buckets_, entries) in reads.items():
        started = time.perf_counter()
        found = prediction_log.predictions_of(db, [student]) if label == "one student" else \
            prediction_log.predictions(db, buckets_, entries)
        row[f"{label} ms"] = 1000 * (time.perf_counter() - started)
        row[f"{label} docs"] = len(found)
    return row


def main() -> None:
    """Every shape on one local server on a temporary folder, then the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scored", type=int, default=2000, help="students of one scored batch")
    parser.add_argument("--served", type=int, default=2000, help="single-record requests answered by the service")
    parser.add_argument("--bucket", type=int, default=500, help="predictions per bucket at most")
    parser.add_argument("--turn", type=int, default=20, help="requests the service logs together (a worker's turn)")
    parser.add_argument("--port", type=int, default=27141, help="loopback port of the benchmark's own server")
    args = parser.parse_args()
    scored, served = scored_documents(args.scored), served_documents(args.served)
    total = len(scored) + len(served)
    student = scored[len(scored) // 2]["student_id"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mongo"
        db = MongoClient(ensure_server(folder, args.port))["bench_log_shape"]
        pid = read_state(folder).pid
        try:
            doc_reads = {"one student": {"student_id": student}, "one batch": {"batch_id": scored[0]["batch_id"]},
                         "served": {"batch_id": {"$regex": "^api:"}}}
            bucket_reads = {"one student": {"students": student}, "one batch": {"batch_id": scored[0]["batch_id"]},
                            "served": {"batch_id": "api"}}
            # the same calls in every shape: the scored batch in parts of --bucket (as the scoring task logs), the
            # service's requests --turn at a time (as its batcher logs a worker's turn)
            parts = [scored[i:i + args.bucket] for i in range(0, len(scored), args.bucket)]
            turns = [served[i:i + args.turn] for i in range(0, len(served), args.turn)]
            today = parts + turns
            rows = [measure(db, pid, "document", today, DOCUMENT_INDEXES, total, doc_reads)]
            scored_buckets = [_numbered(buckets(part, args.bucket, "batch_id"), f"part{p}")
                              for p, part in enumerate(parts)]
            rows.append(measure(db, pid, "bucket", scored_buckets + [
                _numbered(buckets(turn, args.bucket, "api"), t) for t, turn in enumerate(turns)],
                BUCKET_INDEXES, total, bucket_reads))
            # a bucket per request: what bucketing gives single-record requests that are logged one by one
            rows.append(measure(db, pid, "bucket per request", scored_buckets + [
                _numbered(buckets([doc], 1, "api"), r) for r, doc in enumerate(served)],
                BUCKET_INDEXES, total, bucket_reads))
            rows.append(measure_product(db.client["bench_log_shape_product"], pid, parts, turns, total, student,
                                        scored[0]["batch_id"]))
            rows.append(measure(db, pid, "time-series", today, [], total, doc_reads,
                                timeseries={"timeField": "scored_at", "metaField": "model"}))
        finally:
            stop_server(folder)
    columns = ["shape", "documents", "bytes/prediction", "data/prediction", "server cpu ms/500", "wall s",
               "one student ms", "one student docs", "one batch ms", "served ms"]
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in columns))
    base = rows[0]
    for row in rows[1:]:
        print(f"{row['shape']}: {row['bytes/prediction'] / base['bytes/prediction']:.2f}x the bytes, "
              f"{row['server cpu ms/500'] / base['server cpu ms/500']:.2f}x the server CPU of a document a prediction")
    print(f"\n{args.scored} scored + {args.served} served predictions; buckets of at most {args.bucket}, the "
          f"service's requests logged {args.turn} at a time. Target (issue 34): bytes per prediction halved.")


if __name__ == "__main__":
    main()
