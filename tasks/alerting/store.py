"""Alerts in MongoDB (one open alert per condition: a re-run refreshes it), announced as a Prefect event that an
automation can turn into a webhook notification."""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict
from datetime import UTC, datetime

from pymongo import ReturnDocument

from infra.collections import ALERTS
from infra.storage import Db
from tasks.alerting.alerts import Alert

ALERT_EVENT = "student-pipeline.alert.raised"
logger = logging.getLogger(__name__)


def raise_alert(db: Db, alert: Alert) -> dict:
    """Store the alert (or refresh the open one for the same condition) and announce it as a Prefect event."""
    now = datetime.now(UTC)
    key = {"kind": alert.kind, "batch_id": alert.batch_id, "model": alert.model, "version": alert.version,
           "acknowledged": False}
    document = db[ALERTS].find_one_and_update(
        key, {"$set": {**asdict(alert), "at": now}, "$inc": {"occurrences": 1},
              "$setOnInsert": {"alert_id": uuid.uuid4().hex[:12], "raised_at": now}},
        upsert=True, return_document=ReturnDocument.AFTER, projection={"_id": 0})
    announce(document)
    return document


def announce(document: dict) -> None:
    """Emit the alert event when a Prefect API is there to receive it (always inside a flow run)."""
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.settings import PREFECT_API_URL

    if FlowRunContext.get() is None and TaskRunContext.get() is None and not PREFECT_API_URL.value():
        logger.info("alert %s stored; no Prefect API configured, so no event", document["alert_id"])
        return
    from prefect.events import emit_event

    emit_event(event=ALERT_EVENT, resource={"prefect.resource.id": f"student-pipeline.alert.{document['alert_id']}",
                                            "prefect.resource.name": document["kind"]},
               payload={key: for_chat(document[key]) for key in ("alert_id", "kind", "severity", "message", "batch_id",
                                                                 "model", "version", "numbers", "occurrences")})


def for_chat(value):
    """A value as the webhook's chat message may carry it: text from data or a client (an A/B test's name, a batch
    id from a file name) has ``&``, ``<`` and ``>`` escaped, so a receiver that reads markup (Slack's ``<!channel>``,
    links, HTML) shows it as text; numbers stay numbers, containers are escaped inside."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(value, dict):
        return {for_chat(key): for_chat(item) for key, item in value.items()}
    if isinstance(value, list):
        return [for_chat(item) for item in value]
    return value


def open_alerts(db: Db, limit: int = 100) -> list[dict]:
    """Alerts not acknowledged yet, newest first."""
    return list(db[ALERTS].find({"acknowledged": False}, {"_id": 0}).sort("at", -1).limit(limit))


def acknowledge(db: Db, alert_id: str, by: str) -> dict | None:
    """Mark an alert seen; returns it (None if there is no such open alert)."""
    return db[ALERTS].find_one_and_update(
        {"alert_id": alert_id, "acknowledged": False},
        {"$set": {"acknowledged": True, "acknowledged_at": datetime.now(UTC), "acknowledged_by": by}},
        projection={"_id": 0}, return_document=ReturnDocument.AFTER)
