"""What the promotion stage's tasks hand back to a flow: small frozen records, read by attribute."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FirstChampion:
    """The main flow's first-champion decision, and whether the pointer was written."""

    promote: bool
    version: int | None
    reason: str
    applied: bool
    numbers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GateOutcome:
    """The promotion gate's verdict on one challenger, and what happened to the champion pointer."""

    promote: bool
    applied: bool
    reason: str
    numbers: dict
    champion_before: int
    challenger: int
    champion_after: int


@dataclass(frozen=True)
class RolledBack:
    """A rollback: whether it was applied, the champion now, and the one it replaced."""

    model: str
    rolled_back: bool
    champion: int
    from_version: int
