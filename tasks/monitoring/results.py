"""What the monitoring stage's tasks hand back to a flow: small frozen records, read by attribute."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DriftCheck:
    """A batch's drift check against the champion's reference (every finding is in drift_reports)."""

    status: str  # "drift", "no_drift" or "insufficient_data"
    drifted: dict[str, list[str]]  # per kind of check, the features whose test was material
    flagged: list[str]  # the features a deciding kind found material, each once
    share_drifted: float
    notes: list[str]
    report_id: str
    reference_version: int
    seconds: float


@dataclass(frozen=True)
class PerformanceEstimate:
    """The champion's expected performance on a scored batch, without labels (see estimate.py)."""

    status: str  # "ok", or "unsupported" (regression: see estimate.py) / "no_predictions"
    version: int | None = None
    metric: str | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    rows: int = 0
    calibration: str | None = None
    reference: float | None = None  # the same metric at registration (test part)
    drop: float | None = None  # reference - value (positive = worse)
    reason: str | None = None
    rates: dict | None = None  # the positive class's expected precision and recall: {value, low, high, rows}
    segments: dict | None = None  # expected accuracy per group of students (segments.py: SegmentReport.as_dict)

    def as_dict(self) -> dict:
        """As stored with a drift check and shown on its page."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class LivePerformance:
    """The champion's performance on labels that arrived for students it had scored, against registration."""

    status: str  # "ok", "insufficient_data", "no_champion" or "label_rule_differs" (labels answer another question)
    rows: int = 0
    version: int | None = None
    metric: str | None = None
    live: float | None = None
    reference: float | None = None
    drop: float | None = None  # how much worse than at registration (positive = worse)
    estimated: float | None = None  # the label-free estimate over the same rows, from the logged probabilities
    estimate_error: float | None = None  # live - estimated (negative = the estimate was optimistic)
    rates: dict | None = None  # the positive class's precision and recall on the labels ({value, rows})
    segments: dict | None = None  # performance per group of students (segments.py: SegmentReport.as_dict)
    needed: int | None = None  # insufficient data: the fewest scored-then-labelled students it takes
