"""The monitoring stage's Prefect tasks: the drift check against the champion's reference (stored, published,
and an event when drift is material), and the champion's live performance."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.artifacts import publish_markdown, publish_table
from infra.collections import DRIFT_REPORTS, MODELS, PREDICTIONS, STUDENTS_FEATURES, ensure_indexes, find_in
from infra.progress import run_logger
from infra.retry import DB_RETRIES, retry_on_transient, stopwatch
from infra.settings import get_settings
from infra.storage import get_database
from tasks.monitoring.drift import detect_drift
from tasks.monitoring.live import check_predictions, live_performance
from tasks.monitoring.params import DriftParams
from tasks.monitoring.report import drift_markdown, drift_rows, plot_histograms
from tasks.monitoring.results import DriftCheck, LivePerformance
from tasks.registry.store import CHAMPION, ModelNotFoundError, get_alias, load_reference
from validation.contracts import BOOLEAN, CATEGORICAL, NUMERIC
from validation.features import features_frame

DRIFT_EVENT = "student-pipeline.drift.detected"
DB_TASK = {"retry_condition_fn": retry_on_transient, "cache_policy": NO_CACHE, **DB_RETRIES}


@task(name="check-drift", **DB_TASK)
def check_drift(batch_id: str, name: str, settings: DriftParams) -> DriftCheck:
    """Compare the batch's features (and the champion's predictions on it) with the champion's reference."""
    with stopwatch() as timing:
        db = get_database()
        ensure_indexes(db, [DRIFT_REPORTS])
        champion = get_alias(db, name, CHAMPION)
        if champion is None:
            raise ModelNotFoundError(f"model {name!r} has no champion, so there is no reference to compare with")
        version = champion["version"]
        reference = load_reference(db, name, version)
        current = features_frame(list(db[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0})))
        report = detect_drift(reference, current, NUMERIC, BOOLEAN + CATEGORICAL, settings)
        predicted = [p["prediction"] for p in db[PREDICTIONS].find(
            {"batch_id": batch_id, "model": name, "version": version}, {"prediction": 1})]
        problem = db[MODELS].find_one({"name": name, "version": version})["problem"]
        predictions = check_predictions(reference["prediction"], predicted, problem, report.status, settings)
        now = datetime.now(UTC)
        folder = get_settings().artifacts_path / "drift" / batch_id / now.strftime("%Y%m%dT%H%M%S%fZ")
        plots = plot_histograms(reference, current, report.drifted, folder) if report.drifted else []
        doc = {"batch_id": batch_id, "model": name, "reference_version": version, "at": now,
               **report.as_dict(), "prediction_drift": predictions, "plots": plots}
        report_id = str(db[DRIFT_REPORTS].insert_one(doc).inserted_id)
    rows = drift_rows(report)
    if rows:
        publish_table("drift-report", rows, f"Drift of batch {batch_id} against {name} v{version}")
    publish_markdown("drift-decision", drift_markdown(batch_id, name, version, report, predictions, plots),
                     f"Drift decision for batch {batch_id}")
    if report.status == "drift":
        from prefect.events import emit_event

        emit_event(event=DRIFT_EVENT, resource={"prefect.resource.id": f"student-pipeline.model.{name}"},
                   payload={"batch_id": batch_id, "drifted": report.drifted, "report_id": report_id})
    run_logger(__name__).info("drift of %s vs %s v%d: %s %s", batch_id, name, version, report.status, report.drifted)
    return DriftCheck(report.status, report.drifted, report.share_drifted, report.findings, predictions, report_id,
                      version, plots, timing["seconds"])


@task(name="live-performance", **DB_TASK)
def measure_live_performance(batch_id: str, name: str, min_rows: int) -> LivePerformance:
    """Labels that just arrived vs the champion's earlier predictions for the same students."""
    db = get_database()
    champion = get_alias(db, name, CHAMPION)
    if champion is None:
        return LivePerformance("no_champion")
    model = db[MODELS].find_one({"name": name, "version": champion["version"]})
    documents = db[STUDENTS_FEATURES].find({"batch_id": batch_id, name: {"$ne": None}}, {"_id": 0, "student_id": 1,
                                                                                           name: 1})
    labels = features_frame(list(documents))[["student_id", name]]
    predictions = pd.DataFrame(list(find_in(db[PREDICTIONS], "student_id", labels["student_id"].tolist(),
                                            {"_id": 0, "student_id": 1, "prediction": 1},
                                            {"model": name, "version": champion["version"]})),
                               columns=["student_id", "prediction"])
    return live_performance(labels, predictions, name, model, min_rows)
