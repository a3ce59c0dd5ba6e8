"""Serve the deployments of ../prefect.yaml from this one process: schedules and the drift trigger on a
laptop, with no work pool or worker. At most ``--limit`` runs at once (default 4).

    python deployments/serve.py [--limit N]      # then open the Prefect UI
"""

from __future__ import annotations

import importlib
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_spec(path: Path = ROOT / "prefect.yaml") -> list[dict[str, Any]]:
    """The deployments declared in prefect.yaml (YAML anchors resolved)."""
    return yaml.safe_load(path.read_text())["deployments"]


def load_flow(entrypoint: str):
    """The flow object an entrypoint (``flows/main.py:main_flow``) names."""
    module, name = entrypoint.split(":")
    return getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)


def to_schedule(raw: dict[str, Any]):
    """A prefect.yaml schedule entry (cron or interval seconds, timezone, anchor date) as a Schedule."""
    from prefect.schedules import Schedule

    kwargs: dict[str, Any] = {"timezone": raw.get("timezone"), "active": raw.get("active", True)}
    if "cron" in raw:
        kwargs["cron"] = raw["cron"]
    if "interval" in raw:
        kwargs["interval"] = timedelta(seconds=raw["interval"])
    if "anchor_date" in raw:
        kwargs["anchor_date"] = datetime.fromisoformat(raw["anchor_date"])
    return Schedule(**kwargs)


def runner_deployments(spec: list[dict[str, Any]]) -> list:
    """Turn prefect.yaml's deployments into runner deployments with the same schedules, parameters, triggers and
    concurrency limits."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    deployments = []
    for item in spec:
        schedules = [to_schedule(raw) for raw in item.get("schedules", [])]
        triggers = [DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"})
                    for t in item.get("triggers", [])]
        limit = item.get("concurrency_limit")
        deployments.append(load_flow(item["entrypoint"]).to_deployment(
            name=item["name"], description=item.get("description"), tags=item.get("tags"),
            version=item.get("version"), parameters=item.get("parameters"), schedules=schedules,
            triggers=triggers or None,
            concurrency_limit=ConcurrencyLimitConfig(limit=limit["limit"], collision_strategy=ConcurrencyLimitStrategy(
                limit.get("collision_strategy", "ENQUEUE"))) if limit else None))
    return deployments


def main(argv: list[str] | None = None) -> None:
    """Serve every deployment of prefect.yaml until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(description="Serve prefect.yaml's deployments from this process.")
    parser.add_argument("--limit", type=int, default=4, help="most flow runs at once (default 4)")
    limit = parser.parse_args(argv).limit
    if limit < 1:
        parser.error("--limit must be at least 1")
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("PREFECT_LOCAL_STORAGE_PATH", str(ROOT / "artifacts" / "results"))
    from prefect import serve

    from infra.settings import get_settings

    settings = get_settings()
    if settings.alert_webhook_url.get_secret_value():  # alerts delivered to the webhook, as setup_alerts.py does
        from deployments.setup_alerts import setup

        setup(settings.alert_webhook_url.get_secret_value(), settings.dashboard_base)

    serve(*runner_deployments(load_spec()), limit=limit)


if __name__ == "__main__":
    main()
