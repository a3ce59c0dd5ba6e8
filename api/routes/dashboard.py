"""The monitoring dashboard: server-rendered pages (inline SVG charts and CSS: no script, no CDN, works offline)
and acknowledging alerts from the page."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from infra.storage import describe_store
from tasks.alerting.store import acknowledge
from tasks.reporting import pages, store

router = APIRouter(prefix="/dashboard", tags=["dashboard"])
BASE = "/dashboard"


def _context(request: Request) -> tuple:
    state = request.app.state.serving
    return state.db(), describe_store(state.settings)


@router.get("", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    """Each model's champion, history and versions; performance across batches; latest drift; open alerts."""
    db, where = _context(request)
    return HTMLResponse(pages.overview_page(store.overview_data(db), BASE, where))


@router.get("/quality", response_class=HTMLResponse)
def quality(request: Request) -> HTMLResponse:
    """Data quality per batch: accepted, rejected and why."""
    db, where = _context(request)
    return HTMLResponse(pages.quality_page(store.quality_rows(db), BASE, where))


@router.get("/drift", response_class=HTMLResponse)
def drift_list(request: Request) -> HTMLResponse:
    """Every drift check, newest first."""
    db, where = _context(request)
    return HTMLResponse(pages.drift_list_page(store.drift_reports(db), BASE, where))


@router.get("/drift/{report_id}", response_class=HTMLResponse)
def drift(report_id: str, request: Request) -> HTMLResponse:
    """One drift check: every feature's statistic, corrected p-value, effect size and histograms."""
    db, where = _context(request)
    report = store.drift_report(db, report_id)
    if report is None:
        raise HTTPException(404, f"no drift check {report_id!r}")
    return HTMLResponse(pages.drift_page(report, BASE, where))


@router.get("/ab-tests", response_class=HTMLResponse)
def ab_tests(request: Request) -> HTMLResponse:
    """The A/B tests, their arms and numbers."""
    db, where = _context(request)
    return HTMLResponse(pages.ab_tests_page(store.ab_tests(db), BASE, where))


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request) -> HTMLResponse:
    """Every alert, the open ones first, each acknowledgeable."""
    db, where = _context(request)
    return HTMLResponse(pages.alerts_page(store.alerts(db), BASE, where))


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(alert_id: str, request: Request) -> RedirectResponse:
    """Mark an alert seen (from the page's button), then back to the alerts."""
    db, _ = _context(request)
    if acknowledge(db, alert_id, by=f"dashboard ({request.client.host if request.client else 'unknown'})") is None:
        raise HTTPException(404, f"no open alert {alert_id!r}")
    return RedirectResponse(f"{BASE}/alerts", status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run(run_id: str, request: Request) -> HTMLResponse:
    """What a scoring or retraining run found (the same page its HTML report holds)."""
    db, where = _context(request)
    found, report = store.run_report(db, run_id)
    if found is None:
        raise HTTPException(404, f"no run {run_id!r}")
    return HTMLResponse(pages.run_page(found, report, BASE, where))
