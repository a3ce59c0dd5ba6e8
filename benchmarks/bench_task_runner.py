"""Candidate training on the flow's threads against a local Dask cluster, same data, same run.

Each size trains the baseline and every algorithm (``train_candidates``, as main and retrain do) inside a flow,
once per runner, in alternating order; the Dask time includes starting its local cluster (as every run pays).
Then XGBoost alone at each size of ``--xgboost-sizes``: fitted in one process, and through ``xgboost.dask`` across
the cluster's workers (as a Dask run does from ``--dask-xgboost-rows``), with each one's test ROC AUC.
    python benchmarks/bench_task_runner.py [--sizes 5000 20000] [--repeats 2] [--dask-workers 2]
                                           [--xgboost-sizes 20000 100000]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "240")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
logging.disable(logging.INFO)

from prefect import flow  # noqa: E402

from flows.shared import on_training_runner, train_candidates  # noqa: E402
from tasks.data.synthetic import generate_batch  # noqa: E402
from tasks.training.dataset import make_training_data  # noqa: E402
from tasks.training.params import TrainingParams  # noqa: E402
from validation.pandas_twin import pandas_features  # noqa: E402


def training_data(n: int, training: TrainingParams):
    """The same labeled students for every runner."""
    batch = generate_batch(n, seed=500 + n % 997)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    return make_training_data(frame, pd.DataFrame(batch.truth), training.problem, training.split_seed,
                              training.val_size, training.test_size, training.min_rows)


@flow(name="bench-train-candidates")
def train_all(n: int, training: TrainingParams) -> float:
    """Train every candidate on ``n`` students (the data made first, not timed); the seconds training took."""
    data = training_data(n, training)
    start = time.perf_counter()
    train_candidates(data, training)
    return time.perf_counter() - start


@flow(name="bench-task-runner")
def bench(sizes: list[int], repeats: int, workers: int) -> list[dict]:
    """Both runners at each size: the training's seconds, and the subflow's (with the cluster's start)."""
    rows = []
    for n in sizes:
        times: dict[str, list[tuple[float, float]]] = {"threads": [], "dask": []}
        for repeat in range(repeats):
            for runner in (("threads", "dask") if repeat % 2 == 0 else ("dask", "threads")):
                training = TrainingParams(task_runner=runner, dask_workers=workers)
                start = time.perf_counter()
                inner = on_training_runner(train_all, training)(n, training)
                times[runner].append((inner, time.perf_counter() - start))
        row = {"students": n}
        for runner, pairs in times.items():
            row[f"{runner}_train_s"] = statistics.median(t for t, _ in pairs)
            row[f"{runner}_total_s"] = statistics.median(t for _, t in pairs)
        rows.append(row)
    return rows


def xgboost_rows(sizes: list[int], workers: int) -> list[dict]:
    """XGBoost in one process against ``xgboost.dask`` on a local cluster (started before the clock), per size."""
    from distributed import Client, LocalCluster
    from sklearn.metrics import roc_auc_score

    from tasks.training.models import fit_model

    training, rows = TrainingParams(), []
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        for n in sizes:
            data = training_data(n, training)
            row = {"students": n, "train_rows": len(data.X["train"])}
            for name, run in (("alone", lambda data=data: fit_model("xgboost", data, 7, training.models, False, 10)),
                              ("dask", lambda data=data: client.submit(fit_model, "xgboost", data, 7, training.models,
                                                                       False, 10, None, 1).result())):
                start = time.perf_counter()
                trained = run()
                row[f"{name}_s"] = time.perf_counter() - start
                row[f"{name}_auc"] = roc_auc_score(data.y["test"], trained.pipeline.predict_proba(data.X["test"])[:, 1])
            rows.append(row)
    return rows


def main() -> None:
    """Print one line per size: median seconds on each runner and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[5000, 20000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--xgboost-sizes", type=int, nargs="*", default=[20000, 100000])
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, Dask: a local cluster of {args.dask_workers} processes x 1 thread")
    print("training: the candidates' training alone; with start: the subflow, with the Dask cluster's start")
    print(f"{'students':>9} {'threads s':>10} {'dask s':>8} {'ratio':>6} {'threads+start':>14} {'dask+start':>11} "
          f"{'ratio':>6}")
    for r in bench(args.sizes, args.repeats, args.dask_workers):
        print(f"{r['students']:>9,} {r['threads_train_s']:>10.1f} {r['dask_train_s']:>8.1f} "
              f"{r['dask_train_s'] / r['threads_train_s']:>6.2f} {r['threads_total_s']:>14.1f} "
              f"{r['dask_total_s']:>11.1f} {r['dask_total_s'] / r['threads_total_s']:>6.2f}")
    if not args.xgboost_sizes:
        return
    print(f"\nXGBoost alone: one process against xgboost.dask on {args.dask_workers} workers (data sent included)")
    print(f"{'students':>9} {'train rows':>10} {'alone s':>8} {'dask s':>7} {'ratio':>6} {'alone AUC':>9} "
          f"{'dask AUC':>9}")
    for r in xgboost_rows(args.xgboost_sizes, args.dask_workers):
        print(f"{r['students']:>9,} {r['train_rows']:>10,} {r['alone_s']:>8.1f} {r['dask_s']:>7.1f} "
              f"{r['dask_s'] / r['alone_s']:>6.2f} {r['alone_auc']:>9.4f} {r['dask_auc']:>9.4f}")


if __name__ == "__main__":
    main()
