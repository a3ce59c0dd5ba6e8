"""Roll the champion back to the previous champion (one compare-and-set, recorded in the alias history).

    python flows/rollback.py [--problem regression]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import Literal

from prefect import flow, task
from pydantic import BaseModel, ConfigDict, Field

from infra.artifacts import publish_markdown
from infra.retry import DB_RETRIES, retry_on_transient
from infra.storage import get_database
from tasks.dataset import TARGETS


class RollbackParams(BaseModel):
    """Which model's champion to roll back."""

    model_config = ConfigDict(extra="forbid")

    problem: Literal["classification", "regression"] = Field("classification", description="which model")


@task(name="rollback-champion", retry_condition_fn=retry_on_transient, **DB_RETRIES)
def rollback_champion(name: str) -> dict:
    from tasks.promote import rollback

    result = rollback(get_database(), name, by="rollback")
    publish_markdown("rollback", f"# Rollback: {name}\n\nChampion v{result['from']} -> v{result['champion']} "
                     f"({'done' if result['rolled_back'] else 'not applied: the champion changed meanwhile'}).",
                     f"Rollback of {name}")
    return {"model": name, **result}


@flow(name="student-pipeline-rollback", persist_result=True)
def rollback_flow(params: RollbackParams | None = None) -> dict:
    """Move the champion pointer back to the previous champion."""
    params = params or RollbackParams()
    return rollback_champion(TARGETS[params.problem])


def render(summary: dict) -> str:
    state = "rolled back" if summary["rolled_back"] else "NOT rolled back (the champion changed meanwhile)"
    return f"champion   {summary['model']}: v{summary['from']} -> v{summary['champion']} ({state})"


def main(argv: list[str] | None = None) -> int:
    from flows.cli import run_cli

    return run_cli(rollback_flow, RollbackParams, render, description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
