"""The prediction service's application: routes, the in-memory view of the registry, and the guards that
turn bad requests into clear 4xx answers (never a 500): a JSON content type, a body size limit, malformed or
too deeply nested JSON."""

from __future__ import annotations

import html
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi_offline import FastAPIOffline
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from api.answering import answer_jobs
from api.auth import KeyCache, loopback_address, startup_check
from api.batching import Batcher
from api.guards import RETRY_AFTER_S, JsonBodyGuard
from api.metrics import RequestMetrics, ServiceMetrics
from api.routes import ab_tests, alerts, dashboard, feedback, ops, predict, privacy
from api.state import ServingState
from infra.errors import StorageError
from infra.settings import Settings, get_settings


class SafeJSONResponse(JSONResponse):
    """JSON through orjson, which writes NaN and infinities as null (a model's ROC AUC on a one-class split, an
    arm with no labels yet). FastAPI's own ``ORJSONResponse`` does the same but is deprecated from 0.13x on."""

    def render(self, content: Any) -> bytes:
        """Encode, with non-finite numbers as null. A route's ``response_model`` has already made its answer plain
        JSON values, which orjson writes as they are (FastAPI's ``jsonable_encoder`` walking the same 500-prediction
        body again took ~11% of the service's CPU); anything orjson does not know (a model object, a set, a
        ``Decimal``) goes through ``jsonable_encoder`` first, as before."""
        try:
            return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:
            from fastapi.encoders import jsonable_encoder

            return orjson.dumps(jsonable_encoder(content), option=orjson.OPT_SERIALIZE_NUMPY)


def allowed_hosts(settings: Settings) -> list[str]:
    """The Host headers answered: loopback names, the bound address, and the configured public names (a request for
    any other host, as a DNS-rebinding page sends, is refused with 400)."""
    configured = [h.strip() for h in settings.api_allowed_hosts.split(",") if h.strip()]
    return sorted({"127.0.0.1", "localhost", "[::1]", settings.api_host, *configured})


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service for ``settings`` (from the environment by default): ``uvicorn --factory api.app:create_app``."""
    settings = settings or get_settings()
    state = ServingState(settings)

    def answer(jobs: list) -> Callable[[], None]:
        app.state.metrics.batch_records.observe(sum(len(job.records) for job in jobs))
        return answer_jobs(state, jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from tasks.serving.store import active_keys

        startup_check(settings.api_host, active_keys(state.db()) if not loopback_address(settings.api_host) else 0,
                      settings.api_allowed_hosts)
        state.start()
        app.state.batcher = Batcher(answer, settings.api_max_records, workers=settings.api_batch_workers,
                                    chunk_weight=settings.api_chunk_weight)
        yield
        app.state.batcher.stop()
        state.stop()

    app = FastAPIOffline(title="student-pipeline prediction service", version="0.1.0", lifespan=lifespan,
                  default_response_class=SafeJSONResponse,
                  description="Predictions for raw student records with the registry's champion (features by the "
                              "feature contract, checked live against the batch pipeline's own aggregation), A/B "
                              "tests between versions, and feedback.")
    app.state.serving = state
    app.state.keys = KeyCache(settings.api_max_key_failures)
    app.state.metrics = ServiceMetrics(state, lambda: getattr(app.state, "batcher", None))
    app.add_middleware(JsonBodyGuard, max_bytes=settings.api_max_body_bytes, max_form_bytes=settings.api_max_form_bytes)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))
    for module in (ops, predict, ab_tests, feedback, alerts, privacy, dashboard):
        app.include_router(module.router)
    app.include_router(dashboard.reader)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(error.get("type") == "json_invalid" for error in errors):
            return SafeJSONResponse({"detail": "the body is not valid JSON"}, status_code=400)
        if any(error.get("type") == "missing" and tuple(error.get("loc", ())) == ("body",) for error in errors):
            return SafeJSONResponse({"detail": "the body is empty: send a JSON object"}, status_code=400)
        return SafeJSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                                            for e in errors]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and request.method == "GET" and request.url.path.startswith("/dashboard"):
            return RedirectResponse("/dashboard/sign-in", status_code=303)  # a browser: to the sign-in form
        detail = exc.detail
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "the body could not be read as JSON (malformed, or nested too deeply)"
        return SafeJSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(StorageError)
    async def store_unavailable(request: Request, exc: StorageError) -> JSONResponse:
        return SafeJSONResponse({"detail": f"the store is not available: {exc}"}, status_code=503,
                                headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(ConnectionFailure)  # also its subclasses: AutoReconnect, server selection timeouts
    async def store_not_answering(request: Request, exc: ConnectionFailure) -> Response:
        detail = (f"the store is not answering ({type(exc).__name__}); retry in a few seconds (nothing was "
                  "predicted or changed)")
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        if request.url.path.startswith("/dashboard"):
            return HTMLResponse(f"<!doctype html><title>store not answering</title><p>{html.escape(detail)}</p>",
                                status_code=503, headers=headers)
        return SafeJSONResponse({"detail": detail}, status_code=503, headers=headers)

    return app
