"""Alerts as JSON: the open ones, and acknowledging one (the dashboard does the same from its page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request

from api.auth import Operator, require
from tasks.alerting.store import acknowledge, open_alerts

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", dependencies=[Depends(require("read"))])
def index(request: Request) -> list[dict]:
    """Alerts not acknowledged yet, newest first."""
    return open_alerts(request.app.state.serving.db())


@router.post("/{alert_id}/acknowledge", responses={404: {"description": "no such open alert"}})
def acknowledge_alert(alert_id: str, request: Request, caller: Operator) -> dict:
    """Mark an alert seen (scope ``operate``; recorded with who did)."""
    found = acknowledge(request.app.state.serving.db(), alert_id, by=f"api, {caller.who}")
    if found is None:
        raise HTTPException(404, f"no open alert {alert_id!r}")
    return found
