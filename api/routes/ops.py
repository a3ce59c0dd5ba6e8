"""Is the service alive, ready, and what models does it know: /health, /ready, /models."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.auth import require
from infra.storage import describe_store
from tasks.registry.store import aliases_by_version, list_versions
from validation.contracts import DEFAULT_PROBLEM, TARGETS, Problem
from validation.schema import record_schema

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(require("read"))])
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: requests and latency by route and status, batch sizes, the queue, champion versions,
    open alerts, the last drift status and the latest label-free estimate per model."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return PlainTextResponse(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/record-schema", dependencies=[Depends(require("read"))])
def record_json_schema(request: Request, problem: Problem = DEFAULT_PROBLEM) -> dict:
    """The raw record a prediction request carries, as JSON Schema, with the champion's declared extra fields
    (generated from the same rules the 422 answers apply)."""
    return record_schema(request.app.state.serving.snapshot.contract(TARGETS[problem]))


@router.get("/health")
def health() -> dict:
    """The process is alive (says nothing about the store or the models)."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "no verified champion loaded, or the store unreachable"}})
def ready(request: Request) -> JSONResponse:
    """Ready when the store answers and the classification champion is loaded and its SHA-256 verified."""
    state = request.app.state.serving
    champions = {name: {"version": m.version, "algorithm": m.algorithm, "sha256": m.sha256,
                        "loaded_at": m.loaded_at.isoformat()} for name, m in state.snapshot.champions.items()}
    try:
        state.db().command("ping")
        store, reachable = describe_store(state.settings), True
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        store, reachable = f"unreachable: {type(exc).__name__}", False
    body = {"store": store, "champions": champions, "last_error": state.last_error,
            "refreshed_at": state.refreshed_at.isoformat() if state.refreshed_at else None}
    if not reachable:
        return JSONResponse({"status": "not ready", "detail": "the store does not answer", **body}, status_code=503)
    if "high_performer" not in champions:
        return JSONResponse({"status": "not ready", "detail": "no champion yet: run python flows/main.py on a "
                                                              "labeled batch", **body}, status_code=503)
    return JSONResponse({"status": "ready", **body})


@router.get("/models", dependencies=[Depends(require("read"))])
def models(request: Request) -> list[dict]:
    """Every registered version: algorithm, problem, metrics, the aliases pointing at it, lineage."""
    db = request.app.state.serving.db()
    aliases = aliases_by_version(db)
    return [{**model.describe(), "aliases": aliases.get((model.name, model.version), [])}
            for model in list_versions(db)]
