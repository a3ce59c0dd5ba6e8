"""The promotion gate's parameters and their only defaults (the statistical design: docs/statistics.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GateParams(BaseModel):
    """Promote only when the challenger is significantly better (one-sided, paired) AND by at least the margin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gate_alpha: float = Field(0.05, gt=0, lt=1, description="one-sided significance level of the promotion test")
    margin: float = Field(0.01, ge=0, description="smallest improvement that may promote (accuracy or MAE)")
    bootstrap_samples: int = Field(2000, ge=100, le=100_000, description="regression: paired bootstrap resamples")
    bootstrap_seed: int = Field(0, ge=0, description="regression: seed of the paired bootstrap")
