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
