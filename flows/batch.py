"""Bringing one batch in, shared by the main, score and retrain flows:
generate or load -> ingest -> validate raw -> aggregate -> validate features."""

from __future__ import annotations

from typing import Literal

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field

from tasks.aggregate import aggregate_features
from tasks.generate import choose_seed, generate_students
from tasks.ingest import ingest_batch
from tasks.load import load_source
from tasks.summary import check_store
from tasks.synthetic import DriftKnobs
from tasks.validate import validate_features, validate_raw


class BatchParams(BaseModel):
    """Where a batch comes from and how strict its quality gate is."""

    model_config = ConfigDict(extra="forbid")

    students: int = Field(2000, ge=1, le=999_999, description="students to generate")
    seed: int | None = Field(None, ge=0, description="generator seed; empty = one past the last generated batch")
    source: str | None = Field(None, description="a JSON / JSON Lines file of raw records instead of the generator")
    kind: Literal["auto", "labeled", "unlabeled"] = Field(
        "auto", description="batch kind; auto = the flow's default for the generator, detected for a file")
    drift: DriftKnobs = Field(default_factory=DriftKnobs, description="drift and data-quality knobs")
    max_rejected_share: float = Field(0.05, ge=0, le=1, description="fail the run above this share of rejected records")


@flow(name="bring-in-batch")
def bring_in_batch(params: BatchParams, labeled_by_default: bool = True) -> dict:
    """One batch from its source to validated features; returns what each stage reported."""
    check_store()
    if params.source:
        batch = load_source(params.source, params.kind)
    else:
        labeled = labeled_by_default if params.kind == "auto" else params.kind == "labeled"
        batch = generate_students(params.students, choose_seed(params.seed), labeled, params.drift)
    ingested = ingest_batch(batch)
    raw_quality = validate_raw(ingested["batch_id"], params.max_rejected_share)
    features = aggregate_features(ingested["batch_id"])
    feature_quality = validate_features(ingested["batch_id"])
    return {"ingested": ingested, "raw_quality": raw_quality, "features": features,
            "feature_quality": feature_quality, "prepare_seconds": batch.seconds,
            "source_stage": "load" if params.source else "generate"}


def batch_summary(stages: dict) -> dict:
    """The part of a run summary about the batch that came in."""
    ingested = stages["ingested"]

    def brief(quality: dict) -> dict:
        return {"evaluated": quality["evaluated"], "failed": len(quality["failed"]),
                "findings": len(quality["findings"])}

    return {
        "batch_id": ingested["batch_id"], "batch_seq": ingested["seq"],
        "kind": "labeled" if ingested["labeled"] else "unlabeled",
        "input": ingested["input"], "accepted": ingested["accepted"], "rejected": ingested["rejected"],
        "quality": {"raw": brief(stages["raw_quality"]), "features": brief(stages["feature_quality"])},
        "data_docs": stages["feature_quality"]["data_docs"],
        "seconds": {stages["source_stage"]: stages["prepare_seconds"], "ingest": ingested["seconds"],
                    "validate_raw": stages["raw_quality"]["seconds"], "aggregate": stages["features"]["seconds"],
                    "validate_features": stages["feature_quality"]["seconds"]},
    }
