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


class EstimateParams(BaseModel):
    """The label-free performance estimate: how sure its interval is, and what estimated drop raises an alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_estimated_drop: float = Field(0.05, ge=0, le=1, description="alert when the estimated accuracy is this much "
                                                                    "below the champion's at registration")
    estimate_level: float = Field(0.95, gt=0.5, lt=1, description="coverage of the estimate's sampling interval")
