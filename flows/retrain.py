"""Drift-gated retraining: retrain and promote only when drift, a performance drop or --force says so.

Brings in a labeled batch, checks drift and live performance against the champion, and only then trains
challengers on the recent window and puts the best through the promotion gate.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, task
from pydantic import Field

from flows.batch import BatchParams, batch_summary, bring_in_batch
from flows.main import train_candidates
from flows.params import DriftParams, GateParams, TrainingParams
from tasks.dataset import TARGETS, load_window
from tasks.drift import check_drift, live_performance
from tasks.evaluate import PRIMARY, evaluate_models
from tasks.promote import promotion_gate
from tasks.promotion import decide_retrain
from tasks.registry import register_models, verify_champion
from tasks.summary import count_collections


class RetrainParams(BatchParams):
    """Parameters of the retraining flow."""

    training: TrainingParams = Field(default_factory=TrainingParams, description="challenger training settings")
    drift_check: DriftParams = Field(default_factory=DriftParams, description="drift settings")
    gate: GateParams = Field(default_factory=GateParams, description="promotion-gate settings")
    holdout_share: float = Field(0.4, gt=0.05, lt=0.9, description="share of the new batch kept as the holdout")
    force: bool = Field(False, description="retrain even without drift or a performance drop")
    max_live_drop: float = Field(0.05, ge=0, description="retrain when live performance drops by more than this")


@task(name="decide-retrain")
def decide(drift_status: str, live: dict, force: bool, max_live_drop: float) -> dict:
    retrain, reasons = decide_retrain(drift_status, live, force, max_live_drop)
    return {"retrain": retrain, "reasons": reasons or ["no material drift and no performance drop"]}


def best_challenger(registered: list[dict], problem: str) -> dict:
    _, higher = PRIMARY[problem]
    return max(registered, key=lambda r: r["score"] if higher else -r["score"])


@flow(name="student-pipeline-retrain", log_prints=True, persist_result=True)
def retrain_flow(params: RetrainParams | None = None) -> dict:
    """New labels in; retrain and promote only when drift, a live-performance drop or a parameter says so."""
    params = params or RetrainParams()
    name = TARGETS[params.training.problem]
    verify_champion(name)  # a missing or tampered champion stops the run before the batch is stored
    stages = bring_in_batch(params, labeled_by_default=True)
    batch_id = stages["ingested"]["batch_id"]
    drift = check_drift(batch_id, name, params.drift_check.settings())
    live = live_performance(batch_id, name)
    decision = decide(drift["status"], live, params.force, params.max_live_drop)
    outcome = challenge(batch_id, params) if decision["retrain"] else None
    stored = count_collections()
    summary = batch_summary(stages)
    return {**summary, "store": stored["store"], "counts": stored["counts"], "drift": drift, "live": live,
            "retrain": decision, "promotion": outcome}


@flow(name="train-challengers")
def challenge(batch_id: str, params: RetrainParams) -> dict:
    """Train challengers on the recent window and put the best through the promotion gate."""
    training = params.training
    data = load_window(batch_id, training.window_batches, training.problem, training.split_seed,
                       params.holdout_share, training.val_size, training.min_rows)
    trained = train_candidates(data, training)
    evaluation = evaluate_models(trained, data, training.split_seed)
    # the challenger's reference is the recent holdout: if it is promoted, drift is measured from today's world
    registered = register_models(trained, evaluation, data, training.split_seed, reference_parts=("test",))
    challenger = best_challenger(registered, training.problem)
    return promotion_gate(data.target, challenger["version"], data, params.gate.settings(), batch_id,
                          by=f"retrain:{batch_id}")


def render(summary: dict) -> str:
    from tasks.summary import render_summary

    drift, live, decision, promotion = summary["drift"], summary["live"], summary["retrain"], summary["promotion"]
    lines = [render_summary(summary),
             f"drift      {drift['status']} vs v{drift['reference_version']}: drifted {drift['drifted'] or 'none'}",
             f"live       {live.get('status')}" + (f": {live['metric']} {live['live']:.4f} vs {live['reference']:.4f} "
                                                   f"at registration ({live['rows']} rows)" if live.get("status") == "ok"
                                                   else ""),
             f"retrain    {'yes' if decision['retrain'] else 'no'}: {'; '.join(decision['reasons'])}"]
    if promotion:
        lines.append(f"promotion  {promotion['reason']} (champion v{promotion['champion_after']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from flows.cli import run_cli

    return run_cli(retrain_flow, RetrainParams, render, description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
