"""The reporting task: what a scoring or retraining run found becomes its dashboard page (``run_reports``), a
self-contained HTML report under artifacts/reports/ for people without the service, and two link artifacts in
Prefect (the page and the file)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime

from prefect import task

from infra.artifacts import publish_link
from infra.collections import RUN_REPORTS, ensure_indexes
from infra.files import write_text_atomically
from infra.retry import DB_TASK
from infra.settings import get_settings
from infra.storage import describe_store, get_database
from tasks.data.results import BatchStages
from tasks.monitoring.results import DriftCheck, LivePerformance
from tasks.promotion.decisions import RetrainDecision
from tasks.promotion.results import GateOutcome
from tasks.registry.tasks import flow_run_id
from tasks.reporting.pages import run_page
from tasks.reporting.results import RunReport
from tasks.reporting.store import drift_report
from tasks.scoring.results import Scored


def run_document(kind: str, model: str, stages: BatchStages, drift: DriftCheck | None, scored: Scored | None = None,
                 live: LivePerformance | None = None, decision: RetrainDecision | None = None,
                 outcome: GateOutcome | None = None, estimate: dict | None = None) -> dict:
    """A run's findings as one plain document (what its page and its report show)."""
    ingested = stages.ingested
    return {"kind": kind, "model": model, "batch_id": ingested.batch_id, "input": ingested.input,
            "accepted": ingested.accepted, "rejected": ingested.rejected,
            "drift": drift and {"report_id": drift.report_id, "status": drift.status, "drifted": drift.drifted,
                                "missing_drifted": drift.missing_drifted},
            "scoring": scored and asdict(scored), "live": live and asdict(live),
            "retrain": decision and asdict(decision), "promotion": outcome and asdict(outcome), "estimate": estimate}


@task(name="publish-run-report", **DB_TASK)
def publish_run_report(kind: str, model: str, stages: BatchStages, drift: DriftCheck | None,
                       scored: Scored | None = None, live: LivePerformance | None = None,
                       decision: RetrainDecision | None = None, outcome: GateOutcome | None = None,
                       estimate: dict | None = None) -> RunReport:
    """Store the run's page, write its HTML report, and link both from the Prefect UI."""
    document = run_document(kind, model, stages, drift, scored, live, decision, outcome, estimate)
    settings = get_settings()
    db = get_database()
    ensure_indexes(db, [RUN_REPORTS])
    run_id = flow_run_id() or uuid.uuid4().hex
    run = {**document, "run_id": run_id, "at": datetime.now(UTC)}
    db[RUN_REPORTS].replace_one({"run_id": run_id}, run, upsert=True)
    page = f"{settings.dashboard_base}/runs/{run_id}"
    report = drift_report(db, run["drift"]["report_id"]) if run.get("drift") else None
    html = run_page(run, report, settings.dashboard_base, describe_store(settings), static=True, live_url=page)
    path = write_text_atomically(
        settings.artifacts_path / "reports" / f"{run['kind']}-{run['batch_id']}-{run_id[:8]}.html", html)
    publish_link("run-dashboard", page, f"{run['kind']} run on the dashboard", f"The {run['kind']} run's page")
    publish_link("run-report", path.as_uri(), f"{run['kind']} run report (HTML file)",
                 "Self-contained report of the run, readable without the service")
    return RunReport(run_id, page, str(path))
