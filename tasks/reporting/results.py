"""What the reporting task hands back to a flow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunReport:
    """Where a run's findings can be read: its dashboard page and its HTML file."""

    run_id: str
    dashboard: str
    html: str
