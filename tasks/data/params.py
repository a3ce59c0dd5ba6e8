"""Where a batch comes from and how strict its quality gate is: the data stage's parameters (and their only
defaults); every flow that brings a batch in extends this model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tasks.data.sources import BatchKind
from tasks.data.synthetic import DriftKnobs


class BatchParams(BaseModel):
    """Where a batch comes from and how strict its quality gate is."""

    model_config = ConfigDict(extra="forbid")

    students: int = Field(2000, ge=1, le=999_999, description="students to generate")
    seed: int | None = Field(None, ge=0, description="generator seed; empty = one past the last generated batch")
    source: str | None = Field(None, description="a JSON / JSON Lines file of raw records instead of the generator")
    kind: BatchKind = Field("auto", description="batch kind; auto = the flow's default for the generator, "
                                                "detected for a file")
    drift: DriftKnobs = Field(default_factory=DriftKnobs, description="drift and data-quality knobs")
    max_rejected_share: float = Field(0.05, ge=0, le=1, description="fail the run above this share of rejected records")
    truth_bucket: int = Field(1000, ge=1, le=100_000, description="students per document of the generator's truth")
