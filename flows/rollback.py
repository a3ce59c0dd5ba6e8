"""Roll the champion back to the previous champion (one compare-and-set, recorded in the alias history).

    python flows/rollback.py [--problem regression]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if __name__ == "__main__":  # options parsed and --help answered before Prefect and the stages load
        from flows.cli import parse_or_exit
        from flows.params import RollbackParams as _Options

        parse_or_exit(_Options, __doc__.splitlines()[0])

from prefect import flow

from flows.params import RollbackParams
from flows.summary import render_rollback, rollback_summary
from tasks.promotion.tasks import rollback_champion
from validation.contracts import TARGETS


@flow(name="student-pipeline-rollback", persist_result=True)
def rollback_flow(params: RollbackParams | None = None) -> dict:
    """Move the champion pointer back to the previous champion."""
    params = params or RollbackParams()
    return rollback_summary(rollback_champion(TARGETS[params.problem]))


def main(argv: list[str] | None = None) -> int:
    """The command line: options from RollbackParams."""
    from flows.cli import run_cli

    return run_cli(rollback_flow, RollbackParams, render_rollback, description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
