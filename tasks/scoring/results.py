"""What the scoring task hands back to a flow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scored:
    """A batch scored by the champion: how many predictions were new and what they look like."""

    batch_id: str
    model: str
    version: int
    scored: int
    new_predictions: int
    already_logged: int
    distribution: dict
    seconds: float


@dataclass(frozen=True)
class RollupResult:
    """What a roll-up of the prediction log did: its passes, the predictions rolled up, the groups written, and
    how long the raw predictions are now kept."""

    passes: list[str]
    rolled_up: int
    groups: int
    retention_days: int
