"""The main pipeline: generate or load -> ingest -> validate -> aggregate -> validate -> export -> train -> register.

Run ``python flows/main.py --help`` for the options; every run adds (or re-finds) one batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow
from pydantic import Field

from flows.batch import BatchParams, batch_summary, bring_in_batch
from flows.params import TrainingParams
from tasks.dataset import load_training_data
from tasks.evaluate import evaluate_models
from tasks.export import export_features
from tasks.registry import promote_first_champion, register_models
from tasks.report import baseline_score, publish_training_report, training_summary
from tasks.summary import count_collections, render_summary
from tasks.train import train_model


class MainParams(BatchParams):
    """Parameters of the main flow (also its command-line options and its deployment parameters)."""

    export: bool = Field(True, description="export the features to Parquet and CSV")
    train: bool = Field(True, description="train and register models after a labeled batch")
    training: TrainingParams = Field(default_factory=TrainingParams, description="training settings")


@flow(name="student-pipeline-main", log_prints=True, persist_result=True)
def main_flow(params: MainParams | None = None) -> dict:
    """Bring one batch in, export its features, and (labeled batches) train and register models."""
    params = params or MainParams()
    stages = bring_in_batch(params, labeled_by_default=True)
    batch_id = stages["ingested"]["batch_id"]
    exported = export_features(batch_id) if params.export else {}
    trained = train_and_register(params.training) if params.train and stages["ingested"]["labeled"] else None
    stored = count_collections()
    summary = batch_summary(stages)
    return {
        **summary, "store": stored["store"], "counts": stored["counts"],
        "exports": {k: exported[k] for k in ("parquet", "csv", "schema") if k in exported},
        "training": trained or {"skipped": "training disabled or unlabeled batch"},
        "seconds": {**summary["seconds"], **({"export": exported["seconds"]} if exported else {})},
    }


@flow(name="train-and-register")
def train_and_register(training: TrainingParams) -> dict:
    """Train every model on the labeled features, evaluate, register versions, name the first champion."""
    data = load_training_data(training.problem, training.split_seed, training.val_size, training.test_size,
                              training.min_rows, training.window_batches)
    if data is None:
        return {"skipped": f"fewer than {training.min_rows} labeled students"}
    trained = train_candidates(data, training)
    evaluation = evaluate_models(trained, data, training.split_seed)
    registered = register_models(trained, evaluation, data, training.split_seed)
    decision = promote_first_champion(data.target, registered, baseline_score(evaluation, training.problem),
                                      training.problem)
    report = publish_training_report(trained, evaluation, registered, decision, data)
    return training_summary(report, registered, decision)


def train_candidates(data, training: TrainingParams) -> list:
    """The baseline and every chosen algorithm, trained in parallel on the task runner's threads."""
    futures = [train_model.submit(name, data, training.split_seed, training.tune, training.trees)
               for name in ["baseline", *training.algorithms]]
    return [future.result() for future in futures]


def main(argv: list[str] | None = None) -> int:
    from flows.cli import run_cli

    return run_cli(main_flow, MainParams, render_summary, description=__doc__.splitlines()[0], argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
