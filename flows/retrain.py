"""Drift-gated retraining: retrain and promote only when drift, a performance drop or --force says so.

Brings in a labeled batch (or, with ``--labels-for BATCH_ID``, the labels of a batch scored earlier: what the
drift event's trigger does with the drifted batch), checks drift and live performance against the champion, and
only then trains challengers on the recent window and puts the best through the promotion gate.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if __name__ == "__main__":  # options parsed and --help answered before Prefect and the stages load
        from flows.cli import parse_or_exit
        from flows.params import RetrainParams as _Options

        parse_or_exit(_Options, __doc__.splitlines()[0])

from prefect import flow

from flows.params import RetrainParams
from flows.shared import bring_in_batch, on_training_runner, train_candidates
from flows.summary import render_retrain, retrain_summary
from tasks.data.tasks import count_collections
from tasks.monitoring.tasks import check_drift, measure_live_performance
from tasks.promotion.decisions import best_challenger
from tasks.promotion.results import GateOutcome
from tasks.promotion.tasks import decide_retraining, promotion_gate
from tasks.registry.tasks import register_models, verify_champion
from tasks.reporting.tasks import publish_run_report
from tasks.training.evaluation import chosen_metric
from tasks.training.tasks import evaluate_models, load_window
from validation.contracts import FeatureContract, LabelRule, problem_spec


@flow(name="student-pipeline-retrain", log_prints=True, persist_result=True)
def retrain_flow(params: RetrainParams | None = None) -> dict:
    """New labels in; retrain and promote only when drift, a live-performance drop or a parameter says so."""
    params = params or RetrainParams()
    name = problem_spec(params.training.problem).target
    verify_champion(name)  # a missing or tampered champion stops the run before the batch is stored
    stages = bring_in_batch(params, name, labeled_by_default=True, labels_for=params.labels_for)
    batch_id = stages.ingested.batch_id
    # the check decides this run; it does not announce drift (the event would only start another retraining run)
    drift = check_drift(batch_id, name, params.drift_check, announce=False)
    live = measure_live_performance(batch_id, name, params.live, params.estimate.estimate_level, params.segments)
    decision = decide_retraining(drift.status, live, params.force, params.live.max_live_drop)
    outcome = on_training_runner(challenge, params.training)(
        batch_id, params, stages.ingested.label_rule, stages.ingested.contract) if decision.retrain else None
    report = publish_run_report("retraining", name, stages, drift, live=live, decision=decision, outcome=outcome)
    return retrain_summary(stages, count_collections(), drift, live, decision, outcome, report)


@flow(name="train-challengers")
def challenge(batch_id: str, params: RetrainParams, label_rule: LabelRule, contract: FeatureContract) -> GateOutcome:
    """Train challengers on the recent window of batches labeled by ``label_rule`` (of the dataset whose features
    ``contract`` declares) and put the best through the promotion gate."""
    training = params.training
    data = load_window(batch_id, training, params.holdout, label_rule, contract)
    trained = train_candidates(data, training)
    evaluation = evaluate_models(trained, data, training)
    # the challenger's reference is the recent holdout: if it is promoted, drift is measured from today's world
    registered = register_models(trained, evaluation, data, training.split_seed, reference_parts=("test",),
                                 metric=training.choose_by)
    challenger = best_challenger(registered, higher_is_better=chosen_metric(training.problem, training.choose_by)[1])
    return promotion_gate(data.target, challenger.version, data, params.gate, batch_id, by=f"retrain:{batch_id}")


def main(argv: list[str] | None = None) -> int:
    """The command line: options from RetrainParams."""
    from flows.cli import run_cli

    return run_cli(retrain_flow, RetrainParams, render_retrain, description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
