"""The drift checks' parameters and their only defaults (the statistical design: docs/statistics.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DriftParams(BaseModel):
    """Drift-test settings: how significant and how large a shift must be to count, and how much data it takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drift_alpha: float = Field(0.05, gt=0, lt=1, description="family-wise significance level of the drift tests")
    correction: Literal["bonferroni", "bh"] = Field("bonferroni", description="multiple-testing correction")
    min_effect: float = Field(0.1, ge=0, description="smallest effect size that counts as material drift")
    min_drift_rows: int = Field(500, ge=1, description="below this many current rows: insufficient data")
    min_reference_rows: int = Field(100, ge=1, description="below this many reference rows: insufficient data")
    min_expected_count: float = Field(5.0, gt=0, description="chi-square: merge categories expected fewer times")
