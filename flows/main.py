"""The main pipeline: generate or load -> ingest -> validate -> aggregate -> validate -> export -> train -> register.

Run ``python flows/main.py --help`` for the options; every run adds (or re-finds) one batch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

if __package__ in (None, ""):  # run as a script: make the project's packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field

from infra.storage import StorageError
from tasks.aggregate import aggregate_features
from tasks.export import export_features
from tasks.generate import choose_seed, generate_students
from tasks.ingest import ingest_batch
from tasks.load import SourceFileError, load_source
from tasks.summary import count_collections, render_summary
from flows.params import TrainingParams
from tasks.dataset import load_training_data
from tasks.evaluate import evaluate_models
from tasks.registry import promote_first_champion, register_models
from tasks.report import baseline_score, publish_training_report, training_summary
from tasks.synthetic import DriftKnobs
from tasks.train import train_model
from tasks.validate import validate_features, validate_raw
from validation.gate import DataQualityError


class MainParams(BaseModel):
    """Parameters of the main flow (also its command-line options and its deployment parameters)."""

    model_config = ConfigDict(extra="forbid")

    students: int = Field(2000, ge=1, le=999_999, description="students to generate")
    seed: int | None = Field(None, ge=0, description="generator seed; empty = one past the last generated batch")
    source: str | None = Field(None, description="a JSON / JSON Lines file of raw records instead of the generator")
    kind: Literal["auto", "labeled", "unlabeled"] = Field(
        "auto", description="batch kind; auto = labeled for the generator, detected for a file")
    drift: DriftKnobs = Field(default_factory=DriftKnobs, description="drift and data-quality knobs")
    max_rejected_share: float = Field(0.05, ge=0, le=1, description="fail the run above this share of rejected records")
    export: bool = Field(True, description="export the features to Parquet and CSV")
    train: bool = Field(True, description="train and register models after a labeled batch")
    training: TrainingParams = Field(default_factory=TrainingParams, description="training settings")


@flow(name="student-pipeline-main", log_prints=True)
def main_flow(params: MainParams | None = None) -> dict:
    """Bring one batch in and turn it into ML-ready features."""
    params = params or MainParams()
    if params.source:
        batch = load_source(params.source, params.kind)
    else:
        seed = choose_seed(params.seed)
        batch = generate_students(params.students, seed, params.kind != "unlabeled", params.drift)
    ingested = ingest_batch(batch)
    raw_quality = validate_raw(ingested["batch_id"], params.max_rejected_share)
    features = aggregate_features(ingested["batch_id"])
    feature_quality = validate_features(ingested["batch_id"])
    exported = export_features(ingested["batch_id"]) if params.export else {}
    trained = train_and_register(params.training) if params.train and ingested["labeled"] else None
    stored = count_collections()
    return {
        "batch_id": ingested["batch_id"], "batch_seq": ingested["seq"],
        "kind": "labeled" if ingested["labeled"] else "unlabeled",
        "input": ingested["input"], "accepted": ingested["accepted"], "rejected": ingested["rejected"],
        "store": stored["store"], "counts": stored["counts"],
        "quality": {"raw": _brief(raw_quality), "features": _brief(feature_quality)},
        "data_docs": feature_quality["data_docs"],
        "exports": {k: exported[k] for k in ("parquet", "csv", "schema") if k in exported},
        "training": trained or {"skipped": "training disabled or unlabeled batch"},
        "seconds": {"load" if params.source else "generate": batch.seconds, "ingest": ingested["seconds"],
                    "validate_raw": raw_quality["seconds"], "aggregate": features["seconds"],
                    "validate_features": feature_quality["seconds"],
                    **({"export": exported["seconds"]} if exported else {})},
    }


@flow(name="train-and-register")
def train_and_register(training: TrainingParams) -> dict:
    """Train every model on the labeled features, evaluate, register versions, name the first champion."""
    data = load_training_data(training.problem, training.split_seed, training.val_size, training.test_size,
                              training.min_rows)
    if data is None:
        return {"skipped": f"fewer than {training.min_rows} labeled students"}
    futures = [train_model.submit(name, data, training.split_seed, training.tune, training.trees)
               for name in ["baseline", *training.algorithms]]
    trained = [future.result() for future in futures]
    evaluation = evaluate_models(trained, data, training.split_seed)
    registered = register_models(trained, evaluation, data, training.split_seed)
    decision = promote_first_champion(data.target, registered, baseline_score(evaluation, training.problem),
                                      training.problem)
    report = publish_training_report(trained, evaluation, registered, decision, data)
    return training_summary(report, registered, decision)


def _brief(quality: dict) -> dict:
    return {"evaluated": quality["evaluated"], "failed": len(quality["failed"]), "findings": len(quality["findings"])}


def main(argv: list[str] | None = None) -> int:
    from flows.cli import run_cli

    return run_cli(main_flow, MainParams, render_summary, description=__doc__.splitlines()[0],
                   user_errors=(StorageError, SourceFileError, DataQualityError), argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
