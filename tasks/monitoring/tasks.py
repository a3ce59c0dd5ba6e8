"""The monitoring stage's Prefect tasks: the label-free estimate of the champion's performance on a scored batch,
the drift check against the champion's reference (stored, published, and an event when drift is material), and
the champion's live performance once labels arrive (beside what the estimate said). Each reads (store), decides
(the pure cores), writes (store), then publishes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd
from prefect import task

from infra.artifacts import publish_markdown, publish_table
from infra.progress import run_logger
from infra.retry import DB_TASK, stopwatch
from infra.settings import get_settings
from infra.storage import get_database
from tasks.alerting.store import raise_alert
from tasks.data.store import batch_contract
from tasks.monitoring import store
from tasks.monitoring.alerts import drift_alert, estimated_performance_alert, performance_alert, segment_alert
from tasks.monitoring.drift import detect_drift, with_predicted_classes
from tasks.monitoring.estimate import expected_accuracy, expected_mae, expected_rates
from tasks.monitoring.findings import DriftReport
from tasks.monitoring.live import latest_per_student, live_performance, realised_by_batch
from tasks.monitoring.params import DriftParams, EstimateParams, LiveParams, SegmentParams
from tasks.monitoring.report import drift_markdown, drift_rows, estimate_caveat, histogram_data
from tasks.monitoring.results import DriftCheck, LivePerformance, PerformanceEstimate
from tasks.monitoring.segments import SegmentReport, segment_gaps, two_looks, with_outcomes
from tasks.registry.calibration import apply_calibration, correct_probabilities
from tasks.registry.loss import predicted_errors
from tasks.registry.results import ModelVersion
from tasks.registry.store import ReferenceNotFoundError, find_champion, get_champion, load_binary, load_reference
from validation.features import FeatureContractError, features_frame

DRIFT_EVENT = "student-pipeline.drift.detected"


def registration_outcomes(db, model: ModelVersion) -> pd.DataFrame | None:
    """The champion's held-out reference rows with each student's outcome at registration (``correct``, or
    ``abs_error``) and the segment fields: what a group's gap is compared with."""
    try:
        reference = load_reference(db, model.name, model.version)
    except ReferenceNotFoundError:  # context only: a version stored without a reference has none
        return None
    if "prediction" not in reference or model.name not in reference:
        return None
    return with_outcomes(reference, model.name, model.spec.classifies)  # the held-out rows (those predicted)


def check_segments(db, batch_id: str, model: ModelVersion, frame: pd.DataFrame, source: str,
                   settings: SegmentParams, earlier: list[pd.DataFrame] | None = None,
                   batches: list[str] | None = None) -> SegmentReport:
    """Each group's gap against the rest (``frame``: one row per student with the segment fields and the outcomes:
    ``with_outcomes``' on labels, ``chance`` for the estimate; ``earlier``: the outcomes of the champion's earlier
    labeled batches ``batches``, the window's second look); a material gap raises an alert."""
    classifies = model.spec.classifies
    reference = registration_outcomes(db, model)
    if source == "estimate":
        if reference is not None:
            reference = reference.rename(columns={"correct": "chance"})
        report = segment_gaps(frame, model.contract.segments, settings, source, classifies, reference)
        report.batches = [batch_id]
    else:
        report = two_looks(frame, earlier or [], model.contract.segments, settings, classifies, reference,
                           [*(batches or []), batch_id])
    if report.material:
        raise_alert(db, segment_alert(batch_id, model.name, model.version, report))
    return report


def labeled_outcomes(db, batch_id: str, model: ModelVersion) -> pd.DataFrame:
    """One labeled batch's students with the champion's latest counted prediction of each and its outcomes, and the
    segment fields (empty when the batch's features are gone)."""
    name = model.name
    documents = store.batch_labels(db, batch_id, name, tuple(model.contract.segments))
    if not documents:  # its features are gone (retention, erasure): nothing of it to pool
        return pd.DataFrame()
    labelled = features_frame(documents, model.contract)
    predictions = pd.DataFrame(store.predictions_of_students(db, labelled["student_id"].tolist(), name,
                                                             model.version),
                               columns=["student_id", "prediction", "probability", "batch_id", "scored_at"])
    return with_outcomes(labelled.merge(latest_per_student(predictions), on="student_id"), name,
                         model.spec.classifies)


@task(name="estimate-performance", **DB_TASK)
def estimate_performance(batch_id: str, name: str, settings: EstimateParams,
                         segments: SegmentParams | None = None) -> PerformanceEstimate:
    """The champion's expected accuracy on the batch it just scored, from its logged (calibrated) probabilities,
    overall and per group of students; kept in ``performance`` (source "estimate"); an estimated drop past the
    threshold, or a group estimated materially worse than the rest, raises an alert."""
    db = get_database()
    model = get_champion(db, name)
    if not model.spec.classifies:
        return estimate_error(db, batch_id, model, settings)
    logged = store.batch_predictions(db, batch_id, name, model.version, with_probability=True)
    if not logged:
        return PerformanceEstimate("no_predictions", model.version, reason=f"no logged predictions of {batch_id}")
    frame = pd.DataFrame(logged)
    found = expected_accuracy(frame["prediction"], frame["probability"], model.calibration, settings.estimate_level)
    rates = {name: {"value": r.value, "low": r.low, "high": r.high, "rows": r.rows}
             for name, r in expected_rates(frame["prediction"], frame["probability"], model.calibration,
                                           settings.estimate_level).items()}
    chance = correct_probabilities(frame["prediction"], apply_calibration(model.calibration, frame["probability"]))
    groups = features_frame(store.batch_features(db, batch_id), model.contract)
    groups = groups[["student_id", *[f for f in model.contract.segments if f in groups.columns]]]
    by_group = check_segments(db, batch_id, model, frame.assign(chance=chance).merge(groups, on="student_id"),
                              "estimate", segments or SegmentParams())
    reference = model.live_reference
    estimate = PerformanceEstimate("ok", model.version, found.metric, found.value, found.low, found.high,
                                   found.rows, found.calibration, reference, reference - found.value, rates=rates,
                                   segments=by_group.as_dict())
    store.record_performance(db, name, model.version, batch_id, "estimate", found.metric, found.value, found.rows,
                             low=found.low, high=found.high, calibration=found.calibration, reference=reference,
                             rates=rates, segments=by_group.as_dict())
    if estimate.drop > settings.max_estimated_drop:
        raise_alert(db, estimated_performance_alert(batch_id, name, model.version, estimate,
                                                    settings.max_estimated_drop))
    run_logger(__name__).info("estimated %s of %s v%d on %s: %.4f [%.4f, %.4f] (registration %.4f)", found.metric,
                              name, model.version, batch_id, found.value, found.low, found.high, reference)
    return estimate


def regression_errors(db, batch_id: str, model: ModelVersion, predictions: pd.DataFrame) -> pd.DataFrame | None:
    """Each logged prediction of a regressor beside its predicted absolute error (from the version's loss model,
    over the batch's features); None for a version registered without a loss model."""
    pipeline = load_binary(db, model)
    features = features_frame(store.batch_features(db, batch_id), model.contract)
    joined = predictions.merge(features, on="student_id", suffixes=("", "_feature"))
    errors = predicted_errors(pipeline, joined, joined["prediction"])
    return None if errors is None else joined.assign(predicted_error=errors)


def estimate_error(db, batch_id: str, model: ModelVersion, settings: EstimateParams) -> PerformanceEstimate:
    """A regressor's expected MAE on the batch it just scored, by direct loss estimation (its loss model, fitted
    at registration); kept like the accuracy estimate, and an estimated MAE more than ``max_estimated_drop`` (as
    a share) above registration raises an alert."""
    logged = pd.DataFrame(store.batch_predictions(db, batch_id, model.name, model.version))
    if logged.empty:
        return PerformanceEstimate("no_predictions", model.version, reason=f"no logged predictions of {batch_id}")
    joined = regression_errors(db, batch_id, model, logged)
    if joined is None:
        return PerformanceEstimate("unsupported", model.version, reason=f"{model.name} v{model.version} was "
                                   "registered before regressors had a loss model; the next one will have one")
    found = expected_mae(joined["predicted_error"], model.calibration, settings.estimate_level)
    reference = model.live_reference
    estimate = PerformanceEstimate("ok", model.version, found.metric, found.value, found.low, found.high, found.rows,
                                   found.calibration, reference, found.value - reference)
    store.record_performance(db, model.name, model.version, batch_id, "estimate", found.metric, found.value,
                             found.rows, low=found.low, high=found.high, calibration=found.calibration,
                             reference=reference)
    if reference and estimate.drop / reference > settings.max_estimated_drop:  # an error in points: as a share
        raise_alert(db, estimated_performance_alert(batch_id, model.name, model.version, estimate,
                                                    settings.max_estimated_drop))
    run_logger(__name__).info("estimated MAE of %s v%d on %s: %.3f [%.3f, %.3f] (registration %.3f)", model.name,
                              model.version, batch_id, found.value, found.low, found.high, reference)
    return estimate


@task(name="check-drift", **DB_TASK)
def check_drift(batch_id: str, name: str, settings: DriftParams, estimate: PerformanceEstimate | None = None,
                announce: bool = True) -> DriftCheck:
    """Compare the batch's features (and the champion's predictions on it) with the champion's reference; the
    label-free estimate, when there is one, is kept with the check. Material drift raises an alert and, when
    ``announce``, emits the drift event (with the batch id) that starts a retraining run on its labels."""
    with stopwatch() as timing:
        db = get_database()
        model = get_champion(db, name)  # read
        mismatch = model.inputs_missing_from(batch_contract(db, batch_id))
        if mismatch:
            raise FeatureContractError(f"batch {batch_id} cannot be checked for drift: {mismatch}")
        reference = load_reference(db, name, model.version)
        contract = model.contract  # the champion's inputs: ours and its dataset's extras
        current = with_predicted_classes(features_frame(store.batch_features(db, batch_id), contract),
                                         store.batch_predictions(db, batch_id, name, model.version),
                                         model.spec.classifies)
        # the reference holds the version's own inputs (one trained before a feature existed lacks it)
        numeric = [name for name in contract.numeric if name in reference.columns]
        categorical = [name for name in contract.boolean + contract.categorical if name in reference.columns]
        report = detect_drift(reference, current, numeric, categorical, settings)  # decide
        if report.status == "drift" and estimate is not None and estimate.status == "ok":
            report.notes.append(estimate_caveat(estimate.value, report.flagged))
        document = {"batch_id": batch_id, "model": name, "reference_version": model.version, "at": datetime.now(UTC),
                    **report.as_dict(), "histograms": histogram_data(reference, current, numeric, categorical),
                    "estimate": estimate.as_dict() if estimate is not None and estimate.status == "ok" else None}
        report_id = store.save_drift_check(db, document)  # write
        if report.status == "drift":
            alert = drift_alert(batch_id, name, model.version, report)
            raise_alert(db, replace(alert, numbers={**alert.numbers, "report_id": report_id}))  # one click away
    publish_drift(batch_id, name, model.version, report, report_id, announce)  # publish
    return DriftCheck(report.status, report.drifted, report.flagged, report.share_drifted, report.notes, report_id,
                      model.version, timing["seconds"])


def publish_drift(batch_id: str, name: str, version: int, report: DriftReport, report_id: str,
                  announce: bool) -> None:
    """The drift table and decision as artifacts; on material drift, the event that starts retraining."""
    rows = drift_rows(report)
    if rows:
        publish_table("drift-report", rows, f"Drift of batch {batch_id} against {name} v{version}")
    page = f"{get_settings().dashboard_base}/drift/{report_id}"
    publish_markdown("drift-decision", drift_markdown(batch_id, name, version, report, page),
                     f"Drift decision for batch {batch_id}")
    if report.status == "drift" and announce:
        from prefect.events import emit_event

        emit_event(event=DRIFT_EVENT, resource={"prefect.resource.id": f"student-pipeline.model.{name}"},
                   payload={"batch_id": batch_id, "drifted": report.drifted, "flagged": report.flagged,
                            "report_id": report_id})
    run_logger(__name__).info("drift of %s vs %s v%d: %s %s", batch_id, name, version, report.status,
                              report.drifted)


def realised_errors(db, labels: pd.DataFrame, predictions: pd.DataFrame, name: str, model: ModelVersion,
                    level: float) -> list[dict]:
    """For each batch a regressor scored that the labels cover: the realised MAE beside the loss model's estimate
    over the same students, and whether it fell inside the estimate's interval at ``level``."""
    joined = labels.merge(latest_per_student(predictions), on="student_id")
    rows = []
    for scored_batch, part in joined.groupby("batch_id"):
        errors = regression_errors(db, scored_batch, model, part[["student_id", "prediction"]])
        if errors is None or errors.empty:
            continue
        estimate = expected_mae(errors["predicted_error"], model.calibration, level)
        realised = float((part["prediction"] - part[name]).abs().mean())
        rows.append({"batch_id": scored_batch, "rows": len(part), "realised": realised, "estimated": estimate.value,
                     "low": estimate.low, "high": estimate.high, "error": realised - estimate.value,
                     "inside": bool(estimate.low <= realised <= estimate.high)})
    return rows


@task(name="live-performance", **DB_TASK)
def measure_live_performance(batch_id: str, name: str, settings: LiveParams, level: float,
                             segments: SegmentParams | None = None) -> LivePerformance:
    """Labels that just arrived vs the champion's earlier predictions for the same students, overall and per group
    of students; the measurement is kept (``performance``), each earlier estimate is checked against its interval
    at ``level`` (the level it was made at), and a drop past ``max_live_drop``, or a group materially worse than
    the rest, raises an alert."""
    db = get_database()
    model = find_champion(db, name)
    if model is None:
        return LivePerformance("no_champion")
    if model.spec.classifies and store.batch_label_rule(db, batch_id) != model.label_rule:
        return LivePerformance("label_rule_differs", version=model.version)  # another question: not comparable
    fields = tuple(model.contract.segments)
    labelled = features_frame(store.batch_labels(db, batch_id, name, fields), model.contract)
    labels = labelled[["student_id", name]]
    predictions = pd.DataFrame(store.predictions_of_students(db, labels["student_id"].tolist(), name, model.version),
                               columns=["student_id", "prediction", "probability", "batch_id", "scored_at"])
    live = live_performance(labels, predictions, name, model, settings.min_live_rows, level)
    if live.status == "ok":
        per_group = segments or SegmentParams()
        joined = with_outcomes(labelled.merge(latest_per_student(predictions), on="student_id"), name,
                               model.spec.classifies)
        earlier = store.earlier_labeled_batches(db, name, model.version, batch_id, per_group.segment_window - 1)
        by_group = check_segments(db, batch_id, model, joined, "labels", per_group,
                                  [labeled_outcomes(db, earlier_batch, model) for earlier_batch in earlier], earlier)
        live = replace(live, segments=by_group.as_dict())
        store.record_performance(db, name, live.version, batch_id, "labels", live.metric, live.live, live.rows,
                                 reference=live.reference, estimated=live.estimated,
                                 estimate_error=live.estimate_error, rates=live.rates, segments=live.segments)
        for scored in realised_by_batch(labels, predictions, name, model, level):  # each estimate's error, now known
            store.record_realised(db, name, live.version, scored, batch_id)
        if not model.spec.classifies:
            for scored in realised_errors(db, labels, predictions, name, model, level):
                store.record_realised(db, name, live.version, scored, batch_id)
        if live.drop > settings.max_live_drop:
            raise_alert(db, performance_alert(batch_id, name, live.version, live.metric, live.live, live.reference,
                                              live.drop, settings.max_live_drop, live.rows))
    return live
