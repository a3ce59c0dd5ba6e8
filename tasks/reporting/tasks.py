"""The reporting tasks, last in the stage graph (they read every stage's results, no stage reads theirs): what a
scoring or retraining run found becomes its dashboard page (``run_reports``), a self-contained HTML report under
artifacts/reports/ for people without the service, and two link artifacts in Prefect (the page and the file); a
main run's training report (leaderboard, plots, the champion decision) becomes a folder and two artifacts."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import UTC, datetime

from prefect import task

from infra.artifacts import publish_link, publish_markdown, publish_table
from infra.files import new_folder, write_text_atomically
from infra.report_files import save_file
from infra.retry import DB_TASK
from infra.settings import get_settings
from infra.storage import describe_store, get_database
from tasks.data.results import BatchStages
from tasks.monitoring.results import DriftCheck, LivePerformance
from tasks.promotion.decisions import RetrainDecision
from tasks.promotion.results import FirstChampion, GateOutcome
from tasks.registry.tasks import flow_run_id
from tasks.reporting.pages import run_page
from tasks.reporting.results import RunReport
from tasks.reporting.store import drift_report, save_run_report
from tasks.scoring.results import Scored
from tasks.training.dataset import TrainingData
from tasks.training.evaluation import best_and_gap, chosen_metric, leaderboard, skill_warning, small_data_note
from tasks.training.models import TrainedModel
from tasks.training.report import make_plots, training_markdown
from tasks.training.results import Evaluation, RegisteredModel, TrainingReport


def run_document(kind: str, model: str, stages: BatchStages, drift: DriftCheck | None, scored: Scored | None = None,
                 live: LivePerformance | None = None, decision: RetrainDecision | None = None,
                 outcome: GateOutcome | None = None, estimate: dict | None = None) -> dict:
    """A run's findings as one plain document (what its page and its report show)."""
    ingested = stages.ingested
    return {"kind": kind, "model": model, "batch_id": ingested.batch_id, "input": ingested.input,
            "stages": stage_rows(stages, drift, scored, live),
            "accepted": ingested.accepted, "rejected": ingested.rejected,
            "drift": drift and {"report_id": drift.report_id, "status": drift.status, "drifted": drift.drifted,
                                "flagged": drift.flagged},
            "scoring": scored and asdict(scored), "live": live and asdict(live),
            "retrain": decision and asdict(decision), "promotion": outcome and asdict(outcome), "estimate": estimate}


def stage_rows(stages: BatchStages, drift: DriftCheck | None, scored: Scored | None,
               live: LivePerformance | None) -> list[dict]:
    """Each stage the run went through, in order: how long it took and what it found, in words."""
    ingested, raw, features, checked = stages.ingested, stages.raw_quality, stages.features, stages.feature_quality

    def quality(q) -> str:
        return (f"{'passed' if q.success else 'failed'}: {q.evaluated - len(q.failed)} of {q.evaluated} expectations "
                f"on {q.rows:,} rows")

    rows = [{"stage": f"source ({stages.source_stage})", "seconds": stages.prepare_seconds,
             "result": f"{ingested.input:,} records"},
            {"stage": "ingest", "seconds": ingested.seconds,
             "result": f"{ingested.accepted:,} accepted, {ingested.rejected:,} rejected; "
                       f"{ingested.raw_inserted:,} new"},
            {"stage": "raw quality", "seconds": raw.seconds, "result": quality(raw)},
            {"stage": "features", "seconds": features.seconds,
             "result": f"{features.inserted:,} new feature documents, {features.unchanged:,} unchanged"},
            {"stage": "feature quality", "seconds": checked.seconds, "result": quality(checked)}]
    if scored is not None:
        rows.append({"stage": "scoring", "seconds": scored.seconds,
                     "result": f"{scored.scored:,} scored by v{scored.version}; {scored.new_predictions:,} new"})
    if drift is not None:
        rows.append({"stage": "drift check", "seconds": drift.seconds, "result": drift.status.replace("_", " ")})
    if live is not None:
        rows.append({"stage": "live performance", "seconds": None,
                     "result": f"{live.metric} {live.live:.4f} on {live.rows:,} students" if live.status == "ok"
                     else live.status.replace("_", " ")})
    return rows


@task(name="publish-run-report", **DB_TASK)
def publish_run_report(kind: str, model: str, stages: BatchStages, drift: DriftCheck | None,
                       scored: Scored | None = None, live: LivePerformance | None = None,
                       decision: RetrainDecision | None = None, outcome: GateOutcome | None = None,
                       estimate: dict | None = None) -> RunReport:
    """Store the run's page, write its HTML report, and link both from the Prefect UI."""
    document = run_document(kind, model, stages, drift, scored, live, decision, outcome, estimate)
    settings = get_settings()
    db = get_database()
    run_id = flow_run_id() or uuid.uuid4().hex
    run = {**document, "run_id": run_id, "at": datetime.now(UTC)}
    save_run_report(db, run)
    page = f"{settings.dashboard_base}/runs/{run_id}"
    report = drift_report(db, run["drift"]["report_id"]) if run.get("drift") else None
    html = run_page(run, report, settings.dashboard_base, describe_store(settings), static=True, live_url=page)
    name = f"{run['kind']}-{run['batch_id']}-{run_id[:8]}.html"
    path = write_text_atomically(settings.artifacts_path / "reports" / name, html)  # a copy on this machine
    kept = save_file(db, f"reports/{name}", html.encode("utf-8"), "text/html; charset=utf-8", run_id=run_id,
                     kind="run-report")
    publish_link("run-dashboard", page, f"{run['kind']} run on the dashboard", f"The {run['kind']} run's page")
    publish_link("run-report", settings.dashboard_link(f"files/{kept}"), f"{run['kind']} run report (HTML)",
                 "Self-contained report of the run (kept in the store; save it to read it without the service)")
    return RunReport(run_id, page, str(path))


@task(name="publish-training-report", **DB_TASK)
def publish_training_report(trained: list[TrainedModel], evaluation: Evaluation, registered: list[RegisteredModel],
                            decision: FirstChampion, data: TrainingData, metric: str | None = None) -> TrainingReport:
    """Keep the plots and metrics.json in the store (and a copy in a new local folder per run), and publish the
    leaderboard (best first by ``metric``: the problem's primary one unless the school chose another), the report
    (its plots as images from the service) and a link to its dashboard page."""
    metric, _ = chosen_metric(data.problem, metric)
    rows = leaderboard(evaluation, registered, data.problem, metric)
    best, gap = best_and_gap(rows, data.problem, metric)
    rule = data.lineage.get("label_rule") or {}
    warning = skill_warning(evaluation, best, rule.get("name") or data.target)
    settings = get_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = settings.artifacts_path / "training" / stamp
    pictures = make_plots(trained, best, data, evaluation)
    plots = {name: str(folder / file) for name, (file, _) in pictures.items()}
    links = {name: settings.dashboard_link(f"files/training/{stamp}/{file}") for name, (file, _) in pictures.items()}
    metrics = {"problem": data.problem, "metric": metric, "best": best, "leaderboard": rows, "oracle_gap_test": gap,
               "champion_decision": {"reason": decision.reason, "version": decision.version,
                                     "applied": decision.applied, "numbers": decision.numbers},
               "lineage": data.lineage, "plots": plots,
               "small_data": small_data_note(evaluation, data.problem, metric),
               "base_rate": evaluation.base, "skill": _best_skill(evaluation, best), "warning": warning,
               "target": data.target, "stamp": stamp,
               "plot_files": {name: file for name, (file, _) in pictures.items()}}
    document = json.dumps(metrics, indent=2, default=str)
    db = get_database()  # the store keeps the report (any machine's service shows it); the folder is a local copy
    for file, png in pictures.values():
        save_file(db, f"training/{stamp}/{file}", png, "image/png", kind="training-plot")
    save_file(db, f"training/{stamp}/metrics.json", document.encode("utf-8"), "application/json", kind="training")
    with new_folder(folder) as tmp:  # a new folder per run, never overwritten
        for file, png in pictures.values():
            (tmp / file).write_bytes(png)
        (tmp / "metrics.json").write_text(document)
    page = settings.dashboard_link(f"training/{stamp}")
    publish_table("model-leaderboard", rows, f"{data.target}: models, baseline and oracle")
    publish_markdown("training-report", training_markdown(data, rows, best, gap, decision.reason, decision.applied,
                                                          links, page, metrics["small_data"], metric,
                                                          base_rate_words(evaluation, best, rule), warning),
                     f"Training report for {data.target}")
    publish_link("training-page", page, "training report on the dashboard", f"Training report for {data.target}")
    return TrainingReport(str(folder), best, gap, rows, plots, metrics["small_data"], page, metric,
                          base_rate_words(evaluation, best, rule), warning)


def _best_skill(evaluation: Evaluation, best: str) -> dict | None:
    return next((row.get("skill") for row in evaluation.models if row["algorithm"] == best), None)


def base_rate_words(evaluation: Evaluation, best: str, rule: dict) -> str | None:
    """The best model's accuracy beside the base rate, in one line (a classifier's; None for a regressor)."""
    found, base = _best_skill(evaluation, best), evaluation.base
    if not found or not base:
        return None
    name = rule.get("name") or "positive"
    interval = ""
    row = next(r for r in evaluation.models if r["algorithm"] == best)
    if row.get("cv"):
        accuracy = row["cv"]["metrics"]["accuracy"]
        interval = f" [{accuracy['ci_low']:.4f}, {accuracy['ci_high']:.4f}]"
    return (f"{best} {found['accuracy']:.4f}{interval} ({found['basis']}) against the base rate "
            f"{base['accuracy']:.4f} (calling {'everyone' if base['majority'] else 'nobody'} '{name}'; "
            f"{base['positive_share']:.1%} are): {found['verdict']}, MCC {found['mcc']}")
