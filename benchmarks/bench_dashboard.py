"""How fast the dashboard's pages answer on a store with history: 50 batches, 100,000 predictions, 50 drift
checks, a champion history, performance points, alerts and an A/B test. Prints each page's median and slowest of
5 requests (target: under 1 s each).

The store is built from one real batch, model and drift check (the project's own tasks), copied to make the
history; the service runs as its own process, as in production.

    python benchmarks/bench_dashboard.py
"""

from __future__ import annotations

import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.local_server import ensure_server, stop_server  # noqa: E402

PAGES = ["/dashboard", "/dashboard/quality", "/dashboard/drift", "/dashboard/drift/{report}", "/dashboard/ab-tests",
         "/dashboard/alerts", "/dashboard/runs/{run}"]


def build_history(db) -> dict:
    """One real batch, model, scoring run and drift check, copied into 50 batches and 100k predictions."""
    from bson import ObjectId

    from infra import prediction_log
    from infra.collections import (
        AB_TESTS,
        ALERTS,
        ALIAS_HISTORY,
        BATCHES,
        DRIFT_REPORTS,
        PERFORMANCE,
        RUN_REPORTS,
    )
    from tasks.data.ingest import BatchInput
    from tasks.data.synthetic import generate_batch
    from tasks.data.tasks import aggregate_features, ingest_batch
    from tasks.monitoring.params import DriftParams
    from tasks.monitoring.tasks import check_drift
    from tasks.promotion.tasks import promote_first_champion
    from tasks.registry.tasks import register_models
    from tasks.scoring.tasks import score_batch
    from tasks.training.evaluation import baseline_score
    from tasks.training.params import TrainingParams
    from tasks.training.tasks import evaluate_models, load_training_data, train_model
    from validation.contracts import DEFAULT_LABEL_RULE

    for seed, labeled in ((0, True), (1, False)):
        batch = generate_batch(2000, seed, labeled)
        ingest_batch.fn(BatchInput(batch.batch_id, labeled, batch.records, {"type": "bench"}, batch.truth), 1000)
        aggregate_features.fn(batch.batch_id)
    training = TrainingParams(algorithms=["linear"])
    data = load_training_data.fn(training, DEFAULT_LABEL_RULE)
    trained = [train_model.fn(name, data, training) for name in ("baseline", "linear")]
    evaluation = evaluate_models.fn(trained, data, training)
    registered = register_models.fn(trained, evaluation, data, 42, ("val", "test"))
    promote_first_champion.fn("high_performer", registered, baseline_score(evaluation, "classification"),
                              "classification")
    score_batch.fn("gen-s1-n2000-U", "high_performer")
    drift = check_drift.fn("gen-s1-n2000-U", "high_performer", DriftParams())

    now = datetime.now(UTC)
    template_batch = db[BATCHES].find_one({"batch_id": "gen-s1-n2000-U"}, {"_id": 0})
    db[BATCHES].insert_many([{**copy.deepcopy(template_batch), "batch_id": f"history-{i}", "seq": 10 + i}
                             for i in range(48)])
    prediction = prediction_log.predictions(db, {})[0]
    for chunk in range(10):
        prediction_log.log_scored(db, [{**prediction, "student_id": 50_000_000 + chunk * 10_000 + i,
                                        "batch_id": f"history-{(chunk * 10_000 + i) % 48}"} for i in range(10_000)])
    report = db[DRIFT_REPORTS].find_one({"_id": ObjectId(drift.report_id)}, {"_id": 0})
    db[DRIFT_REPORTS].insert_many([{**copy.deepcopy(report), "batch_id": f"history-{i}", "at": now - timedelta(hours=i)}
                                   for i in range(49)])
    db[PERFORMANCE].insert_many([{"model": "high_performer", "version": 1 + i // 25, "batch_id": f"history-{i}",
                                  "source": source, "metric": "accuracy", "value": 0.85 - 0.001 * i, "rows": 1000,
                                  "batch_seq": 10 + i, "at": now}
                                 for i in range(48) for source in ("labels", "estimate")])
    db[ALIAS_HISTORY].insert_many([{"name": "high_performer", "alias": "champion", "from_version": 1, "to_version": 1,
                                    "at": now - timedelta(days=i), "by": "bench", "reason": "history",
                                    "numbers": {"p_value": 0.01}} for i in range(30)])
    db[ALERTS].insert_many([{"alert_id": f"bench{i}", "kind": "drift", "severity": "warning", "message": f"alert {i}",
                             "numbers": {"share": 0.1}, "batch_id": f"history-{i}", "model": "high_performer",
                             "version": 1, "at": now, "raised_at": now, "occurrences": 1, "acknowledged": i % 2 == 0}
                            for i in range(40)])
    db[AB_TESTS].insert_one({"test_id": "bench", "name": "bench", "model": "high_performer",
                             "problem": "classification", "metric": "accuracy",
                             "arms": {"A": {"version": 1}, "B": {"version": 1}}, "split": 0.5,
                             "salt": "s", "mde": 0.03, "alpha": 0.05, "power": 0.9, "margin": 0.01, "baseline": 0.8,
                             "n_per_arm": 3519, "state": "concluded", "created_at": now, "result": None})
    run = {"run_id": "bench-run", "kind": "scoring", "model": "high_performer", "batch_id": "gen-s1-n2000-U",
           "input": 2000, "accepted": 2000, "rejected": 0, "at": now,
           "drift": {"report_id": drift.report_id, "status": drift.status, "drifted": drift.drifted,
                     "flagged": drift.flagged}}
    db[RUN_REPORTS].insert_one(run)
    return {"report": drift.report_id, "run": "bench-run",
            "counts": {**{name: db[name].estimated_document_count() for name in (BATCHES, DRIFT_REPORTS)},
                       "predictions": prediction_log.count(db)}}


def main() -> None:
    """Build the history, start the service, time each page."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mongo"
        env = {"MONGO_URI": ensure_server(folder, 27139), "MONGO_DB": "bench_dashboard",
               "PIPELINE_DATA_DIR": f"{tmp}/data", "PIPELINE_ARTIFACTS_DIR": f"{tmp}/artifacts",
               "PIPELINE_API_PORT": "8139"}
        os.environ.update(env)
        service = None
        try:
            from infra.storage import get_database

            ids = build_history(get_database())
            service = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=os.environ.copy(),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = "http://127.0.0.1:8139"
            for _ in range(120):
                try:
                    if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            rows = []
            with httpx.Client(base_url=url, timeout=30) as http:
                for page in PAGES:
                    path = page.format(**ids)
                    times, status, size = [], None, 0
                    for _ in range(5):
                        start = time.perf_counter()
                        response = http.get(path)
                        times.append(time.perf_counter() - start)
                        status, size = response.status_code, len(response.content)
                    rows.append((page, status, size, statistics.median(times), max(times)))
        finally:
            if service is not None:
                service.terminate()
                service.wait(timeout=30)
            stop_server(folder)
    print(f"store: {ids['counts']}\n")
    print(f"{'page':<28}{'status':>7}{'KB':>8}{'median ms':>11}{'slowest ms':>12}")
    for page, status, size, median, slowest in rows:
        print(f"{page:<28}{status:>7}{size / 1024:>8.0f}{median * 1000:>11.1f}{slowest * 1000:>12.1f}")
    print("\ntarget: every page under 1 s")


if __name__ == "__main__":
    main()
