"""Alerts people see (cross-cutting: any stage may raise one): material drift, a live-performance drop, an
invalid A/B split, a failed quality gate.

The record is defined here (pure); each stage builds its own alerts' words and numbers (``monitoring/alerts.py``,
``data/quality.py``, ``serving/abtest.py``), and ``store.py`` keeps them in ``alerts`` (shown on the dashboard
until acknowledged) and announces each as the Prefect event ``student-pipeline.alert.raised``, which an automation
(``deployments/setup_alerts.py``) turns into a webhook notification. An alert holds the numbers behind it and
never a credential: messages are built from batch ids, model versions and statistics only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["drift", "performance", "estimated_performance", "ab_test_invalid", "quality_gate", "segment_gap",
               "feature_parity"]


@dataclass(frozen=True)
class Alert:
    """Something a person should look at, with the numbers behind it."""

    kind: Kind
    severity: Literal["warning", "critical"]
    message: str
    numbers: dict = field(default_factory=dict)
    batch_id: str | None = None
    model: str | None = None
    version: int | None = None
