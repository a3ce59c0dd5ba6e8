"""Score a batch with the champion: predict in bulk, log every prediction, estimate accuracy, check drift.

The accuracy estimate needs no labels (the champion's calibrated probabilities); the drift check compares the
batch's features, their missing values and the predicted classes with the champion's reference.

With no ``--source`` an unlabeled batch is generated (``--seed`` picks the students; the same seed later with
``python flows/retrain.py`` brings their labels, so the champion's live performance can be measured).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if __name__ == "__main__":  # options parsed and --help answered before Prefect and the stages load
        from flows.cli import parse_or_exit
        from flows.params import ScoreParams as _Options

        parse_or_exit(_Options, __doc__.splitlines()[0])

from prefect import flow

from flows.params import ScoreParams
from flows.shared import bring_in_batch
from flows.summary import render_score, score_summary
from tasks.data.tasks import count_collections
from tasks.monitoring.tasks import check_drift, estimate_performance
from tasks.registry.tasks import verify_champion
from tasks.reporting.tasks import publish_run_report
from tasks.scoring.tasks import roll_up_predictions, score_batch
from validation.contracts import TARGETS


@flow(name="student-pipeline-score", log_prints=True, persist_result=True)
def score_flow(params: ScoreParams | None = None) -> dict:
    """Bring an (unlabeled) batch in, score it with the champion, log predictions, compare with the reference."""
    params = params or ScoreParams()
    name = TARGETS[params.problem]
    verify_champion(name)  # a missing or tampered champion stops the run before the batch is stored
    stages = bring_in_batch(params, name, labeled_by_default=False)
    scored = score_batch(stages.ingested.batch_id, name, params.explain)
    estimate = estimate_performance(stages.ingested.batch_id, name, params.estimate, params.segments)
    drift = check_drift(stages.ingested.batch_id, name, params.drift_check, estimate)
    report = publish_run_report("scoring", name, stages, drift, scored=scored,
                                estimate=estimate.as_dict() if estimate.status == "ok" else None)
    rolled = roll_up_predictions()  # hourly with the schedule: the prediction log stays bounded
    return {**score_summary(stages, count_collections(), scored, estimate, drift, report), "log": rolled}


def main(argv: list[str] | None = None) -> int:
    """The command line: options from ScoreParams."""
    from flows.cli import run_cli

    return run_cli(score_flow, ScoreParams, render_score, description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
