"""What the training stage's tasks hand back to a flow: small frozen records, read by attribute."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Evaluation:
    """Every model's validation and test metrics (rows by algorithm, with importance and, for a classifier, its
    ``skill`` against the base rate), the oracle's (``all``: on every labeled row, when cross-validated), and the
    base rate (a classifier's: what calling everyone the majority class scores)."""

    models: list[dict]
    oracle: dict | None
    base: dict | None = None


@dataclass(frozen=True)
class RegisteredModel:
    """A model version in the registry, new or (same identity) already there."""

    name: str
    version: int
    algorithm: str
    score: float  # the score that chooses: the primary metric on validation, or cross-validated on small data
    sha256: str
    path: str
    existing: bool = False
    basis: str = "validation"  # how ``score`` was measured: "validation" or "cross-validated"
    interval: tuple[float, float] | None = None  # cross-validated: the 95% interval on ``score``


@dataclass(frozen=True)
class TrainingReport:
    """Where a training run's report went, and what it says."""

    folder: str
    best: str
    oracle_gap_test: float | None
    leaderboard: list[dict]
    plots: dict[str, str]
    small_data: str | None = None  # on small data: how the numbers were made and what they cannot tell apart
    page: str = ""  # the report on the dashboard (kept in the store, shown by any machine's service)
    metric: str = ""  # the metric that chose the best model
    base_rate: str | None = None  # a classifier's: the best model's accuracy beside the base rate, in words
    warning: str | None = None  # when the best model does not clearly beat the base rate
