"""The monitoring stage's Prefect tasks: the label-free estimate of the champion's performance on a scored batch,
the drift check against the champion's reference (stored, published, and an event when drift is material), and
the champion's live performance once labels arrive (beside what the estimate said)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from prefect import task

from infra.artifacts import publish_markdown, publish_table
from infra.collections import (
    DRIFT_REPORTS,
    MODELS,
    PERFORMANCE,
    PREDICTIONS,
    STUDENTS_FEATURES,
    ensure_indexes,
    find_in,
)
from infra.progress import run_logger
from infra.retry import DB_TASK, stopwatch
from infra.settings import get_settings
from infra.storage import get_database
from tasks.monitoring.alerts import drift_alert, estimated_performance_alert, performance_alert
from tasks.monitoring.drift import detect_drift
from tasks.monitoring.estimate import expected_accuracy
from tasks.monitoring.live import check_predictions, live_performance, realised_by_batch
from tasks.monitoring.params import DriftParams, EstimateParams, LiveParams
from tasks.monitoring.report import drift_markdown, drift_rows, estimate_caveat, histogram_data
from tasks.monitoring.results import DriftCheck, LivePerformance, PerformanceEstimate
from tasks.monitoring.store import raise_alert, record_performance
from tasks.registry.store import CHAMPION, ModelNotFoundError, get_alias, load_reference
from validation.contracts import BOOLEAN, CATEGORICAL, NUMERIC, problem_spec
from validation.features import features_frame

DRIFT_EVENT = "student-pipeline.drift.detected"


@task(name="estimate-performance", **DB_TASK)
def estimate_performance(batch_id: str, name: str, settings: EstimateParams) -> PerformanceEstimate:
    """The champion's expected accuracy on the batch it just scored, from its logged (calibrated) probabilities;
    kept in ``performance`` (source "estimate") and an estimated drop past the threshold raises an alert."""
    db = get_database()
    champion = get_alias(db, name, CHAMPION)
    if champion is None:
        raise ModelNotFoundError(f"model {name!r} has no champion, so there is nothing to estimate")
    model = db[MODELS].find_one({"name": name, "version": champion["version"]})
    if not problem_spec(model["problem"]).classifies:
        return PerformanceEstimate("unsupported", model["version"], reason="regression models give no predictive "
                                   "distribution to estimate their error from (see tasks/monitoring/estimate.py)")
    logged = list(db[PREDICTIONS].find({"batch_id": batch_id, "model": name, "version": model["version"],
                                        "probability": {"$ne": None}}, {"_id": 0, "prediction": 1, "probability": 1}))
    if not logged:
        return PerformanceEstimate("no_predictions", model["version"], reason=f"no logged predictions of {batch_id}")
    frame = pd.DataFrame(logged)
    found = expected_accuracy(frame["prediction"], frame["probability"], model.get("calibration"),
                              settings.estimate_level)
    reference = model["metrics"]["test"]["accuracy"]
    estimate = PerformanceEstimate("ok", model["version"], found.metric, found.value, found.low, found.high,
                                   found.rows, found.calibration, reference, reference - found.value)
    record_performance(db, name, model["version"], batch_id, "estimate", found.metric, found.value, found.rows,
                       low=found.low, high=found.high, calibration=found.calibration, reference=reference)
    if estimate.drop > settings.max_estimated_drop:
        raise_alert(db, estimated_performance_alert(batch_id, name, model["version"], estimate,
                                                    settings.max_estimated_drop))
    run_logger(__name__).info("estimated %s of %s v%d on %s: %.4f [%.4f, %.4f] (registration %.4f)", found.metric,
                              name, model["version"], batch_id, found.value, found.low, found.high, reference)
    return estimate


@task(name="check-drift", **DB_TASK)
def check_drift(batch_id: str, name: str, settings: DriftParams, estimate: PerformanceEstimate | None = None,
                announce: bool = True) -> DriftCheck:
    """Compare the batch's features (and the champion's predictions on it) with the champion's reference; the
    label-free estimate, when there is one, is kept with the check. Material drift raises an alert and, when
    ``announce``, emits the drift event (with the batch id) that starts a retraining run on its labels."""
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
        if report.status == "drift" and estimate is not None and estimate.status == "ok":
            report.findings.append(estimate_caveat(estimate.value, report.drifted + report.missing.drifted))
        predicted = [p["prediction"] for p in db[PREDICTIONS].find(
            {"batch_id": batch_id, "model": name, "version": version}, {"prediction": 1})]
        problem = db[MODELS].find_one({"name": name, "version": version})["problem"]
        predictions = check_predictions(reference["prediction"], predicted, problem, report.status, settings)
        histograms = histogram_data(reference, current, NUMERIC, BOOLEAN + CATEGORICAL)
        doc = {"batch_id": batch_id, "model": name, "reference_version": version, "at": datetime.now(UTC),
               **report.as_dict(), "prediction_drift": predictions, "histograms": histograms,
               "estimate": estimate.as_dict() if estimate is not None and estimate.status == "ok" else None}
        report_id = str(db[DRIFT_REPORTS].insert_one(doc).inserted_id)
        if report.status == "drift":
            raise_alert(db, drift_alert(batch_id, name, version, report))
    rows = drift_rows(report)
    if rows:
        publish_table("drift-report", rows, f"Drift of batch {batch_id} against {name} v{version}")
    page = f"{get_settings().dashboard_base}/drift/{report_id}"
    publish_markdown("drift-decision", drift_markdown(batch_id, name, version, report, predictions, page),
                     f"Drift decision for batch {batch_id}")
    if report.status == "drift" and announce:
        from prefect.events import emit_event

        emit_event(event=DRIFT_EVENT, resource={"prefect.resource.id": f"student-pipeline.model.{name}"},
                   payload={"batch_id": batch_id, "drifted": report.drifted,
                            "missing_drifted": report.missing.drifted, "report_id": report_id})
    run_logger(__name__).info("drift of %s vs %s v%d: %s %s", batch_id, name, version, report.status, report.drifted)
    return DriftCheck(report.status, report.drifted, report.share_drifted, report.findings, predictions, report_id,
                      version, timing["seconds"], report.missing.drifted)


@task(name="live-performance", **DB_TASK)
def measure_live_performance(batch_id: str, name: str, settings: LiveParams, level: float) -> LivePerformance:
    """Labels that just arrived vs the champion's earlier predictions for the same students; the measurement is
    kept (``performance``), each earlier estimate is checked against its interval at ``level`` (the level it was
    made at), and a drop past ``max_live_drop`` raises an alert."""
    min_rows, max_drop = settings.min_live_rows, settings.max_live_drop
    db = get_database()
    champion = get_alias(db, name, CHAMPION)
    if champion is None:
        return LivePerformance("no_champion")
    model = db[MODELS].find_one({"name": name, "version": champion["version"]})
    documents = db[STUDENTS_FEATURES].find({"batch_id": batch_id, name: {"$ne": None}}, {"_id": 0, "student_id": 1,
                                                                                           name: 1})
    labels = features_frame(list(documents))[["student_id", name]]
    predictions = pd.DataFrame(list(find_in(db[PREDICTIONS], "student_id", labels["student_id"].tolist(),
                                            {"_id": 0, "student_id": 1, "prediction": 1, "probability": 1,
                                             "batch_id": 1},
                                            {"model": name, "version": champion["version"]})),
                               columns=["student_id", "prediction", "probability", "batch_id"])
    live = live_performance(labels, predictions, name, model, min_rows, level)
    if live.status == "ok":
        record_performance(db, name, live.version, batch_id, "labels", live.metric, live.live, live.rows,
                           reference=live.reference, estimated=live.estimated, estimate_error=live.estimate_error)
        for scored in realised_by_batch(labels, predictions, name, model, level):  # each estimate's error, now known
            db[PERFORMANCE].update_one({"model": name, "version": live.version, "batch_id": scored["batch_id"],
                                        "source": "estimate"},
                                       {"$set": {"realised": scored["realised"], "realised_rows": scored["rows"],
                                                 "estimated_same_rows": scored["estimated"],
                                                 "error": scored["error"], "inside_interval": scored["inside"],
                                                 "labels_batch": batch_id}})
        if live.drop > max_drop:
            raise_alert(db, performance_alert(batch_id, name, live.version, live.metric, live.live, live.reference,
                                              live.drop, max_drop, live.rows))
    return live
