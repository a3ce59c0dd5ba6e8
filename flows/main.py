"""The main pipeline: generate or load -> ingest -> validate -> aggregate -> validate -> export -> train -> register.

Run ``python flows/main.py --help`` for the options; every run adds (or re-finds) one batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if __name__ == "__main__":  # options parsed and --help answered before Prefect and the stages load
        from flows.cli import parse_or_exit
        from flows.params import MainParams as _Options

        parse_or_exit(_Options, __doc__.splitlines()[0])

from prefect import flow

from flows.params import MainParams
from flows.shared import TrainingRun, bring_in_batch, on_training_runner, train_candidates
from flows.summary import main_summary, render_summary
from tasks.data.tasks import count_collections, export_features
from tasks.promotion.tasks import promote_first_champion
from tasks.registry.tasks import register_models
from tasks.reporting.tasks import publish_training_report
from tasks.training.evaluation import baseline_score
from tasks.training.params import TrainingParams
from tasks.training.tasks import evaluate_models, load_training_data
from validation.contracts import FeatureContract, LabelRule, problem_spec


@flow(name="student-pipeline-main", log_prints=True, persist_result=True)
def main_flow(params: MainParams | None = None) -> dict:
    """Bring one batch in, export its features, and (labeled batches) train and register models."""
    params = params or MainParams()
    stages = bring_in_batch(params, problem_spec(params.training.problem).target, labeled_by_default=True)
    exported = export_features(stages.ingested.batch_id) if params.export else None
    labeled = stages.ingested.labeled
    trained = on_training_runner(train_and_register, params.training)(
        params.training, stages.ingested.label_rule, stages.ingested.contract) if params.train and labeled else None
    return main_summary(stages, count_collections(), exported, trained)


@flow(name="train-and-register")
def train_and_register(training: TrainingParams, label_rule: LabelRule, contract: FeatureContract) -> TrainingRun:
    """Train every model on the labeled window (batches labeled by ``label_rule``, of the dataset whose features
    ``contract`` declares), evaluate, register versions, name the first champion."""
    data = load_training_data(training, label_rule, contract)
    if data is None:
        return TrainingRun([], None, None, skipped=f"fewer than {training.min_rows} labeled students")
    trained = train_candidates(data, training)
    evaluation = evaluate_models(trained, data, training)
    metric = training.choose_by
    registered = register_models(trained, evaluation, data, training.split_seed, reference_parts=("val", "test"),
                                 feature_parts=("train", "val", "test"), metric=metric)
    decision = promote_first_champion(data.target, registered, baseline_score(evaluation, training.problem, metric),
                                      training.problem, metric)
    report = publish_training_report(trained, evaluation, registered, decision, data, metric)
    return TrainingRun(registered, report, decision)


def main(argv: list[str] | None = None) -> int:
    """The command line: options from MainParams, a readable summary, ``--json`` for the machine."""
    from flows.cli import run_cli

    return run_cli(main_flow, MainParams, render_summary, description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
