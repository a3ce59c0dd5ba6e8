"""Time ingest, aggregation and export on the local MongoDB server at several sizes, against pandas computing
the same features and against the server's own limit: a bare ``insert_many`` of the same raw documents.

One local server (started through the project's own code, on a temporary folder) serves every size; each size
gets a fresh database. Printed per size: the bare insert_many, ingest (record checks + raw + truth + batch),
the in-database pipeline (read only) and pipeline + ``$merge``, export; pandas on records in memory (compute
only) and pandas from the store (read the batch, compute, write back). The scaling columns compare each size
with the previous one (time for 2x the students; target <= 2.2x). Read-only steps are best of 2-3 runs; the
steps that write are timed once.

    python benchmarks/bench_data_path.py [--sizes 5000 10000 20000 40000]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.disable(logging.INFO)

from infra.collections import BATCHES, INDEXES, STUDENTS_RAW  # noqa: E402
from infra.local_server import ensure_server, stop_server  # noqa: E402
from infra.storage import get_database  # noqa: E402
from infra.writes import insert_new  # noqa: E402
from tasks.data.features import feature_pipeline  # noqa: E402
from tasks.data.ingest import BatchInput, raw_documents  # noqa: E402
from tasks.data.params import BatchParams  # noqa: E402
from tasks.data.synthetic import generate_batch  # noqa: E402
from tasks.data.tasks import aggregate_features, export_features, ingest_batch  # noqa: E402
from validation.pandas_twin import pandas_features  # noqa: E402


def timed(fn, *args, repeat: int = 1):
    """Best of ``repeat`` runs (repeat only what leaves the store unchanged)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def run_size(n: int, root: Path) -> dict:
    """Every measurement at one size, on a fresh database."""
    os.environ["MONGO_DB"] = f"bench_{n}"
    os.environ["PIPELINE_DATA_DIR"] = str(root / f"data-{n}")
    batch = generate_batch(n, seed=n)
    db = get_database()
    db[STUDENTS_RAW + "_bare"].create_indexes(INDEXES[STUDENTS_RAW])
    bare_docs = raw_documents(list(enumerate(batch.records)), batch.batch_id, datetime.now(UTC))
    t_bare, _ = timed(lambda: db[STUDENTS_RAW + "_bare"].insert_many(bare_docs, ordered=False))
    t_ingest, _ = timed(ingest_batch.fn, BatchInput(batch.batch_id, True, batch.records, {"type": "bench"},
                                                    batch.truth), BatchParams().truth_bucket)
    seq = db[BATCHES].find_one({"batch_id": batch.batch_id})["seq"]
    pipeline = feature_pipeline(batch.batch_id, seq, labeled=True)
    t_pipeline, _ = timed(lambda: list(db[STUDENTS_RAW].aggregate(pipeline)), repeat=2)
    t_aggregate, _ = timed(aggregate_features.fn, batch.batch_id)
    t_export, _ = timed(export_features.fn, batch.batch_id)
    t_pandas, _ = timed(pandas_features, batch.records, batch.batch_id, seq, True, repeat=3)

    def pandas_from_store():
        records = list(db[STUDENTS_RAW].find({"batch_id": batch.batch_id}, {"_id": 0, "_ingest": 0}))
        frame = pandas_features(records, batch.batch_id, seq, True)
        rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        db["features_pandas"].create_index("student_id", unique=True)
        insert_new(db["features_pandas"], rows)

    t_pandas_store, _ = timed(pandas_from_store)
    db.client.drop_database(db.name)
    return {"n": n, "bare": t_bare, "ingest": t_ingest, "pipeline": t_pipeline, "aggregate": t_aggregate,
            "export": t_export, "pandas": t_pandas, "pandas_store": t_pandas_store}


def report(rows: list[dict]) -> None:
    """Print the table, with ratios and scaling."""
    header = (f"{'students':>8} {'bare ins s':>10} {'ingest s':>9} {'ingest/bare':>11} {'pipeline s':>10} "
              f"{'aggr+merge s':>12} {'export s':>9} {'pandas s':>9} {'pandas+io s':>11} {'pipe/pandas':>11} "
              f"{'aggr/pandas+io':>14} {'scale ingest':>12} {'scale aggr':>10} {'scale export':>12}")
    print(header)
    print("-" * len(header))
    previous = None
    for row in rows:
        scale = ("", "", "")
        if previous:
            factor = row["n"] / previous["n"] / 2
            scale = tuple(f"{row[k] / previous[k] / factor:.2f}x" for k in ("ingest", "aggregate", "export"))
        print(f"{row['n']:>8} {row['bare']:>10.2f} {row['ingest']:>9.2f} {row['ingest'] / row['bare']:>10.2f}x "
              f"{row['pipeline']:>10.2f} {row['aggregate']:>12.2f} {row['export']:>9.2f} {row['pandas']:>9.2f} "
              f"{row['pandas_store']:>11.2f} {row['pipeline'] / row['pandas']:>10.1f}x "
              f"{row['aggregate'] / row['pandas_store']:>13.2f}x {scale[0]:>12} {scale[1]:>10} {scale[2]:>12}")
        previous = row
    print("\nbare ins: one unordered insert_many of the same raw documents into a collection with the same indexes"
          "\n  (the server's own limit); ingest/bare: target <= 1.5x;"
          "\nscale columns: time for 2x the students relative to the previous size (target <= 2.2x);"
          "\npipe/pandas: in-database pipeline vs pandas on records already in memory;"
          "\naggr/pandas+io: pipeline + $merge vs pandas reading the batch from the store, computing, writing back.")


def main() -> None:
    """Run every size on one local server on a temporary folder, then print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000, 40000])
    parser.add_argument("--port", type=int, default=27127, help="loopback port of the benchmark's own server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mongo"
        os.environ["MONGO_URI"] = ensure_server(folder, args.port)
        try:
            rows = [run_size(n, Path(tmp)) for n in args.sizes]
        finally:
            stop_server(folder)
    report(rows)


if __name__ == "__main__":
    main()
