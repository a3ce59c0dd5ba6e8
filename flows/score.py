"""Score a batch with the champion: bring it in, predict in bulk, log every prediction, check drift.

With no ``--source`` an unlabeled batch is generated (``--seed`` picks the students; the same seed later with
``python flows/retrain.py`` brings their labels, so the champion's live performance can be measured).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import Literal

from prefect import flow
from pydantic import Field

from flows.batch import BatchParams, batch_summary, bring_in_batch
from flows.params import DriftParams
from tasks.dataset import TARGETS
from tasks.drift import check_drift
from tasks.registry import verify_champion
from tasks.score import score_batch
from tasks.summary import count_collections


class ScoreParams(BatchParams):
    """Parameters of the scoring flow."""

    problem: Literal["classification", "regression"] = Field("classification", description="which model scores")
    drift_check: DriftParams = Field(default_factory=DriftParams, description="drift settings")


@flow(name="student-pipeline-score", log_prints=True, persist_result=True)
def score_flow(params: ScoreParams | None = None) -> dict:
    """Bring an (unlabeled) batch in, score it with the champion, log predictions, compare with the reference."""
    params = params or ScoreParams()
    name = TARGETS[params.problem]
    verify_champion(name)  # a missing or tampered champion stops the run before the batch is stored
    stages = bring_in_batch(params, labeled_by_default=False)
    scored = score_batch(stages["ingested"]["batch_id"], name)
    drift = check_drift(stages["ingested"]["batch_id"], name, params.drift_check.settings())
    stored = count_collections()
    summary = batch_summary(stages)
    return {**summary, "store": stored["store"], "counts": stored["counts"], "scoring": scored, "drift": drift,
            "seconds": {**summary["seconds"], "score": scored["seconds"], "drift": drift["seconds"]}}


def render(summary: dict) -> str:
    from tasks.summary import render_summary

    scored, drift = summary["scoring"], summary["drift"]
    return "\n".join([
        render_summary(summary),
        f"scored     {scored['scored']} students with {scored['model']} v{scored['version']} "
        f"({scored['new_predictions']} new predictions, {scored['already_logged']} already logged); "
        f"predicted {scored['distribution']}",
        f"drift      {drift['status']} vs v{drift['reference_version']}: drifted {drift['drifted'] or 'none'}"
        + (f"; prediction drift p={drift['prediction_drift']['p_value']:.3g}" if drift["prediction_drift"] else ""),
    ])


def main(argv: list[str] | None = None) -> int:
    from flows.cli import run_cli

    return run_cli(score_flow, ScoreParams, render, description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
