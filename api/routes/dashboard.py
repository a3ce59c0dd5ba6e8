"""The monitoring dashboard: server-rendered pages (inline SVG charts and CSS: no script, no CDN, works offline),
signing in with a key (a session cookie after that) and acknowledging alerts from the page (scope ``operate``,
a CSRF token in every form)."""

from __future__ import annotations

import hmac
import html
import secrets
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import ANONYMOUS, Operator, caller_of, require, verify
from api.sessions import COOKIE, LIFETIME, SIGN_IN_COOKIE, check_csrf, end_session, start_session
from infra.report_files import read_file
from infra.storage import describe_store
from tasks.alerting.store import acknowledge
from tasks.reporting import pages, store

router = APIRouter(prefix="/dashboard", tags=["dashboard"])
reader = APIRouter(prefix="/dashboard", tags=["dashboard"], dependencies=[Depends(require("read"))])
BASE = "/dashboard"


def _context(request: Request) -> tuple:
    state = request.app.state.serving
    return state.db(), describe_store(state.settings)


def _page(request: Request, text: str) -> HTMLResponse:
    """A page with who is viewing it in its header: signed in (and a sign-out button), or a sign-in link."""
    session = getattr(request.state, "session", None)
    if session:
        viewer = (f'<span class="muted small">{html.escape(session.get("name") or "")} ({session["key_id"]}) '
                  f'<form class="inline" method="post" action="{BASE}/sign-out"><input type="hidden" name="csrf" '
                  f'value="{html.escape(session["csrf"])}"><button type="submit">sign out</button></form></span>')
    else:
        viewer = f'<a class="small" href="{BASE}/sign-in" style="color:#93c5fd">sign in</a>'
    return HTMLResponse(text.replace("<!--viewer-->", viewer, 1))


async def _form(request: Request) -> dict[str, str]:
    """A posted form's fields (application/x-www-form-urlencoded), first value of each."""
    body = (await request.body()).decode("utf-8", errors="replace")  # bounded by the guard (api_max_form_bytes)
    return {key: values[0] for key, values in parse_qs(body).items()}


def _sign_in_form(request: Request, problem: str | None = None, status_code: int = 200) -> HTMLResponse:
    """The sign-in form with a fresh sign-in token, in the form and in a SameSite=Strict cookie: a form posted from
    another site carries no cookie, so it cannot sign a browser in to the attacker's session (login CSRF)."""
    token = secrets.token_urlsafe(24)
    where = describe_store(request.app.state.serving.settings)
    response = _page(request, pages.sign_in_page(BASE, where, problem, token))
    response.status_code = status_code
    response.set_cookie(SIGN_IN_COOKIE, token, max_age=600, path=BASE, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    """The sign-in form (open: a viewer from another machine has no session yet)."""
    return _sign_in_form(request)


@router.post("/sign-in")
async def sign_in(request: Request):
    """Check the key once; on success a session cookie (HttpOnly, SameSite=Strict, /dashboard only). The form must
    carry the sign-in token its own page set (403 otherwise)."""
    form = await _form(request)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, form.get("signin", "")):
        return _sign_in_form(request, "this sign-in form did not come from this dashboard (or it expired): sign in "
                                      "again here", 403)
    key = form.get("key", "").strip()
    caller = verify(request, key) if key else None
    if caller is None:
        return _sign_in_form(request, "that key is not valid (unknown, revoked or mistyped)", 401)
    if "read" not in caller.scopes:
        return _sign_in_form(request, f"the key {caller.key_id} has no 'read' scope", 403)
    session, _ = start_session(request, caller)
    response = RedirectResponse(BASE, status_code=303)
    response.delete_cookie(SIGN_IN_COOKIE, path=BASE)
    response.set_cookie(COOKIE, session, max_age=int(LIFETIME.total_seconds()), path=BASE, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/sign-out")
async def sign_out(request: Request):
    """End the session (its CSRF token required: a page elsewhere cannot sign a viewer out)."""
    caller_of(request)  # finds the session
    check_csrf(request, (await _form(request)).get("csrf"))
    end_session(request)
    response = RedirectResponse(f"{BASE}/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path=BASE)
    return response


@reader.get("", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    """Each model's champion, history and versions; performance across batches; latest drift; open alerts."""
    db, where = _context(request)
    return _page(request, pages.overview_page(store.overview_data(db), BASE, where))


@reader.get("/quality", response_class=HTMLResponse)
def quality(request: Request) -> HTMLResponse:
    """Data quality per batch: accepted, rejected and why."""
    db, where = _context(request)
    return _page(request, pages.quality_page(store.quality_rows(db), BASE, where))


@reader.get("/drift", response_class=HTMLResponse)
def drift_list(request: Request) -> HTMLResponse:
    """Every drift check, newest first."""
    db, where = _context(request)
    return _page(request, pages.drift_list_page(store.drift_reports(db), BASE, where, store.drift_trend(db)))


@reader.get("/groups", response_class=HTMLResponse)
def groups(request: Request) -> HTMLResponse:
    """Each group of students against the rest, over batches: on labels and estimated at scoring."""
    db, where = _context(request)
    return _page(request, pages.groups_page(store.segment_history(db), BASE, where))


@reader.get("/drift/{report_id}", response_class=HTMLResponse)
def drift(report_id: str, request: Request) -> HTMLResponse:
    """One drift check: every feature's statistic, corrected p-value, effect size and histograms."""
    db, where = _context(request)
    report = store.drift_report(db, report_id)
    if report is None:
        raise HTTPException(404, f"no drift check {report_id!r}")
    return _page(request, pages.drift_page(report, BASE, where))


@reader.get("/ab-tests", response_class=HTMLResponse)
def ab_tests(request: Request) -> HTMLResponse:
    """The A/B tests, their arms and numbers: a test still running is measured now (reading changes nothing), a
    concluded one shows its standing at conclusion."""
    from datetime import UTC, datetime

    from api.routes.ab_tests import public, standing

    db, where = _context(request)
    tests = [public(test) for test in store.ab_tests(db)]
    for test in tests:
        if test["state"] == "running":
            test["standing"], test["standing_at"] = standing(db, test), datetime.now(UTC)
    return _page(request, pages.ab_tests_page(tests, BASE, where))


@reader.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request) -> HTMLResponse:
    """Every alert, the open ones first, each acknowledgeable."""
    db, where = _context(request)
    session = getattr(request.state, "session", None)
    csrf = session["csrf"] if session and "operate" in session["scopes"] else None
    return _page(request, pages.alerts_page(store.alerts(db), BASE, where, csrf))


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(alert_id: str, request: Request, caller: Operator) -> RedirectResponse:
    """Mark an alert seen (from the page's button: a session with ``operate`` and the form's CSRF token; or a key
    in the header), then back to the alerts."""
    if getattr(request.state, "session", None) is not None:
        check_csrf(request, (await _form(request)).get("csrf"))
    db, _ = _context(request)
    if acknowledge(db, alert_id, by=f"dashboard, {caller.who}") is None:
        raise HTTPException(404, f"no open alert {alert_id!r}")
    return RedirectResponse(f"{BASE}/alerts", status_code=303)


@reader.get("/students", response_class=HTMLResponse)
def find_student(request: Request, student_id: str = "") -> RedirectResponse:
    """The student form's target: to that student's page (a student id is a whole number)."""
    if not student_id.strip().isdigit():
        raise HTTPException(422, "student_id: a student id is a whole number (digits only)")
    return RedirectResponse(f"{BASE}/students/{int(student_id)}", status_code=303)


@reader.get("/students/{student_id}", response_class=HTMLResponse)
def student(student_id: int, request: Request) -> HTMLResponse:
    """One student: their terms, every prediction logged for them, and the reasons behind the newest one (stored
    when the batch was scored with --explain, else computed now from the champion, reading nothing new)."""
    from tasks.privacy import audit
    from tasks.scoring.predict import predict_frame
    from tasks.scoring.reasons import contributions, top_reasons
    from validation.features import FeatureContractError, features_frame

    db, where = _context(request)
    state = request.app.state.serving
    data = store.student(db, student_id)
    caller = caller_of(request) or ANONYMOUS  # a read of one student's data: recorded (the one write a GET makes)
    audit.record(db, f"dashboard, {caller.who}", "student page", student_id, "GET /dashboard/students")
    explained = None
    stored = next((p for p in data["predictions"] if p.get("explanation")), None)
    newest = data["features"][0] if data["features"] else None
    if stored is not None and newest is not None and stored["batch_id"] == newest["batch_id"]:
        explained = {**stored, "stored": True}
    elif newest is not None:
        for name, loaded in state.snapshot.champions.items():
            try:
                frame = features_frame([newest], loaded.contract)
            except FeatureContractError:  # a term of another dataset: this champion cannot explain it
                continue
            found = top_reasons(contributions(loaded.model, frame), frame, top=8)[0]
            answer = predict_frame(loaded.model, frame, loaded.problem).iloc[0]
            probability = None if answer["probability"] != answer["probability"] else float(answer["probability"])
            prediction = answer["prediction"].item() if hasattr(answer["prediction"], "item") else answer["prediction"]
            if probability is not None:  # a class: a whole number, as the prediction log has it
                prediction = int(prediction)
            explained = {"model": name, "version": loaded.version, "batch_id": newest["batch_id"],
                         "prediction": prediction, "probability": probability, "explanation": found, "stored": False}
            break
    return _page(request, pages.student_page(data, explained, BASE, where))


@reader.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
def version(name: str, version: int, request: Request) -> HTMLResponse:
    """One model version: its registration numbers, lineage, parameters, performance since, champion history."""
    db, where = _context(request)
    found = store.version_detail(db, name, version)
    if found is None:
        raise HTTPException(404, "no such model version")
    return _page(request, pages.version_page(found, BASE, where))


@reader.get("/training/{stamp}", response_class=HTMLResponse)
def training(stamp: str, request: Request) -> HTMLResponse:
    """A training run's report: leaderboard, champion decision, plots."""
    db, where = _context(request)
    report = store.training_report(db, stamp)
    if report is None:
        raise HTTPException(404, "no training report with that id")
    return _page(request, pages.training_page(report, BASE, where))


@reader.get("/files/{path:path}")
def kept_file(path: str, request: Request) -> Response:
    """A kept report file (a run's HTML report, a training plot, a Data Docs page), from the store. An HTML file
    is served sandboxed (no script runs, it cannot reach the dashboard's cookies): it is a report, not a page of
    the service."""
    db, _ = _context(request)
    found = read_file(db, path)
    if found is None:
        raise HTTPException(404, "no such file")
    data, content_type = found
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=60"}
    if content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return Response(data, media_type=content_type, headers=headers)


@reader.get("/runs/{run_id}", response_class=HTMLResponse)
def run(run_id: str, request: Request) -> HTMLResponse:
    """What a scoring or retraining run found (the same page its HTML report holds)."""
    db, where = _context(request)
    found, report = store.run_report(db, run_id)
    if found is None:
        raise HTTPException(404, f"no run {run_id!r}")
    return _page(request, pages.run_page(found, report, BASE, where))
