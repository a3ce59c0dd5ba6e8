"""Operators' conventions: a Prometheus ``/metrics`` page. Requests and latency by route and status, answered batch
sizes and the queue, and what no model server exposes: the champion version per model, open alerts by kind and
severity, the last drift check's status and the latest label-free estimate with its interval (read from the
store at scrape time; when the store does not answer, ``student_store_up`` is 0 and those are left out)."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tasks.reporting.store import monitor_gauges
from validation.contracts import TARGETS

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
DRIFT_STATUSES = ("no_drift", "drift", "insufficient_data")


class ServiceMetrics:
    """The service's own registry (one per app, so tests can run several apps in one process)."""

    def __init__(self, state, batcher: Callable[[], object]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("student_api_requests", "HTTP requests answered, by method, route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("student_api_request_seconds", "time to answer, by method and route",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_records = Histogram("student_api_batch_records", "records per answered prediction batch",
                                       buckets=BATCH_BUCKETS, registry=self.registry)
        self.registry.register(_Monitors(state, batcher))


class _Monitors:
    """Gauges computed when scraped: the queue, the champions in memory, and the monitors' state in the store."""

    def __init__(self, state, batcher) -> None:
        self.state, self.batcher = state, batcher

    def describe(self) -> list:
        """Nothing up front: the families are built at scrape time."""
        return []

    def collect(self):
        """Every gauge, fresh."""
        queue = GaugeMetricFamily("student_api_queue_records", "records waiting for the prediction batcher")
        batcher = self.batcher()
        queue.add_metric([], batcher.waiting_records() if batcher is not None else 0)
        yield queue
        champions = GaugeMetricFamily("student_model_champion_version", "the champion version served, per model",
                                      labels=["model"])
        for name, loaded in self.state.snapshot.champions.items():
            champions.add_metric([name], loaded.version)
        yield champions
        parity = CounterMetricFamily("student_api_feature_parity", "live feature-parity checks (in-process against "
                                     "the store's aggregation), by outcome", labels=["outcome"])
        for outcome, count in self.state.parity.counts.items():
            parity.add_metric([outcome], count)
        yield parity
        up = GaugeMetricFamily("student_store_up", "1 when the store answered this scrape")
        try:
            gauges = monitor_gauges(self.state.db(), list(TARGETS.values()))
        except Exception:  # noqa: BLE001 - the store's state is simply unknown this time
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        alerts = GaugeMetricFamily("student_alerts_open", "open (unacknowledged) alerts, by kind and severity",
                                   labels=["kind", "severity"])
        for (kind, severity), count in sorted(gauges["alerts"].items()):
            alerts.add_metric([kind, severity], count)
        yield alerts
        drift = GaugeMetricFamily("student_drift_last_status", "the last drift check per model: 1 for its status",
                                  labels=["model", "status"])
        drift_at = GaugeMetricFamily("student_drift_last_timestamp_seconds", "when the last drift check ran",
                                     labels=["model"])
        estimate = GaugeMetricFamily("student_estimate_latest", "the latest label-free estimate of the live metric "
                                     "with its interval", labels=["model", "version", "metric", "bound"])
        for name, found in gauges["models"].items():
            if found["drift"]:
                for status in DRIFT_STATUSES:
                    drift.add_metric([name, status], 1.0 if found["drift"].get("status") == status else 0.0)
                drift_at.add_metric([name], found["drift"]["at"].timestamp())
            if found["estimate"]:
                e = found["estimate"]
                for bound in ("value", "low", "high"):
                    if e.get(bound) is not None:
                        estimate.add_metric([name, str(e.get("version")), str(e.get("metric")), bound], e[bound])
        yield drift
        yield drift_at
        yield estimate
        yield from group_families(gauges["models"])


def group_families(models: dict):
    """Per model, source, group and metric, the latest per-group figures: the group's metric, the rest's, the gap
    (positive = worse) with its interval at the family's level, and whether it is material; only for groups big
    enough to be compared (a figure over a handful of students is close to their own outcomes)."""
    figures = GaugeMetricFamily("student_group_metric", "the latest per-group measurement: the group's metric "
                                "(value), the rest's (rest), how much worse (gap) with its family-wise interval "
                                "(low, high); look: this batch, or the window of labeled batches pooled",
                                labels=["model", "version", "source", "look", "field", "group", "metric", "bound"])
    material = GaugeMetricFamily("student_group_gap_material", "1 when the group's gap on the metric is material",
                                 labels=["model", "version", "source", "look", "field", "group", "metric"])
    for name, found in models.items():
        for source, doc in (found.get("groups") or {}).items():
            version = str(doc.get("version"))
            looks = [("batch", doc["segments"]), ("window", doc["segments"].get("window"))]
            for look, g in ((look, g) for look, part in looks if part for g in part.get("groups", [])):
                labels = [name, version, source, look, str(g["field"]), str(g["group"]),
                          str(g.get("metric", "accuracy"))]
                if g.get("status") != "ok":  # a group too small to compare: its students' figures stay home
                    continue
                for bound, key in (("value", "value"), ("rest", "rest"), ("gap", "shortfall"), ("low", "low"),
                                   ("high", "high")):
                    if g.get(key) is not None:
                        figures.add_metric([*labels, bound], float(g[key]))
                material.add_metric(labels, 1.0 if g.get("material") else 0.0)
    yield figures
    yield material


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request under its route's template (``/ab-tests/{test_id}``,
    never the raw path, so ids do not make new series)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; record its route, status and time when it is answered."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(time.perf_counter() - start)
