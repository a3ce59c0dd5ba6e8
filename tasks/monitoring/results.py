"""What the monitoring stage's tasks hand back to a flow: small frozen records, read by attribute."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DriftCheck:
    """A batch's drift check against the champion's reference (the full report is in drift_reports)."""

    status: str  # "drift", "no_drift" or "insufficient_data"
    drifted: list[str]
    share_drifted: float
    findings: list[str]
    prediction_drift: dict | None
    report_id: str
    reference_version: int
    plots: list[str]
    seconds: float


@dataclass(frozen=True)
class LivePerformance:
    """The champion's performance on labels that arrived for students it had scored, against registration."""

    status: str  # "ok", "insufficient_data" or "no_champion"
    rows: int = 0
    version: int | None = None
    metric: str | None = None
    live: float | None = None
    reference: float | None = None
    drop: float | None = None  # how much worse than at registration (positive = worse)
