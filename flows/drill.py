"""The monitoring drill: measure the drift check and the label-free estimate against what the generator injected.

Each scenario (no drift; grade inflation of three sizes; a shift in the mix of majors; an age shift; missing
values; concept drift) runs on several seeded batches in a throwaway database on the configured server: features
through the pipeline's own aggregation, the champion's predictions, the real drift check and the real estimate,
then the batch's labels. The scorecard says per scenario how often the check flagged it, which features it named,
and how far the estimate was from the realised accuracy. The pipeline's own data, alerts and events are untouched.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if __name__ == "__main__":  # options parsed and --help answered before Prefect and the stages load
        from flows.cli import parse_or_exit
        from tasks.monitoring.params import DrillParams as _Options

        parse_or_exit(_Options, __doc__.splitlines()[0])

from prefect import flow

from flows.summary import drill_summary, render_drill
from infra.artifacts import publish_markdown, publish_table
from tasks.data.tasks import check_store
from tasks.monitoring.drill import scorecard, scorecard_markdown
from tasks.monitoring.drill_tasks import (
    drill_database_name,
    drop_drill_database,
    drop_leftover_drill_databases,
    run_drill_scenario,
    train_drill_champion,
)
from tasks.monitoring.params import DrillParams


@flow(name="student-pipeline-drill", log_prints=True)
def drill_flow(params: DrillParams | None = None) -> dict:
    """Run every chosen scenario on ``seeds`` batches through the real monitors and publish the scorecard."""
    params = params or DrillParams()
    start = time.perf_counter()
    check_store()
    drop_leftover_drill_databases()
    database = drill_database_name()
    seeds = [params.first_seed + k for k in range(1, params.seeds + 1)]  # the same students in every scenario
    try:
        champion = train_drill_champion(database, params)
        runs = [run for name in params.scenarios for run in run_drill_scenario(database, name, seeds, params, champion)]
    finally:
        drop_drill_database(database)
    rows = scorecard(runs)
    settings = {**params.drift_check.model_dump(), "estimate_level": params.estimate.estimate_level}
    described = f"{champion.algorithm} (test accuracy {champion.test_accuracy:.4f}, calibration " \
                f"{champion.describe()['calibration']})"
    publish_table("drill-scorecard", [{k: v for k, v in row.as_row().items() if k != "knobs"} for row in rows],
                  f"Monitoring drill: {len(seeds)} seeds x {len(rows)} scenarios, {params.students} students each")
    publish_markdown("drill-report", scorecard_markdown(rows, described, settings), "Monitoring drill scorecard")
    return drill_summary(champion.describe(), rows, runs, params, database, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """The command line: options from DrillParams."""
    from flows.cli import run_cli

    return run_cli(drill_flow, DrillParams, render_drill, description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
