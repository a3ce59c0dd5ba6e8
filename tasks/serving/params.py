"""An A/B test's parameters and their only defaults (the request body of ``POST /ab-tests``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from validation.contracts import DEFAULT_PROBLEM, Problem


class ABTestParams(BaseModel):
    """A test of version B against version A (the champion unless given), planned before it starts."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="what the test is called")
    problem: Problem = Field(DEFAULT_PROBLEM, description="which model (high_performer or final_score)")
    version_a: int | None = Field(None, ge=1, description="version A; empty = the champion")
    version_b: int = Field(ge=1, description="version B, the candidate")
    split: float = Field(0.5, gt=0, lt=1, description="share of students routed to B")
    mde: float = Field(0.03, gt=0, description="smallest difference worth detecting (accuracy, or MAE points)")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="two-sided significance level at the horizon")
    power: float = Field(0.9, ge=0.5, lt=1, description="chance of detecting a true difference of mde")
    margin: float = Field(0.01, ge=0, description="smallest win by which B replaces the champion")
