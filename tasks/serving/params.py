"""An A/B test's parameters and their only defaults (the request body of ``POST /ab-tests``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    mode: Literal["split", "shadow"] = Field(
        "split", description="split: each student answered by one arm (when the answer changes what happens to the "
                             "student); shadow: every student answered by A and scored by B, compared pairwise "
                             "(several times fewer labelled students; only when B's answer would not have changed "
                             "the outcome)")
    disagreement: float | None = Field(None, gt=0, le=1, description="shadow: the share of students the arms "
                                       "disagree on, for planning; empty = measured on A's held-out rows")

    @model_validator(mode="after")
    def shadow_has_no_split(self) -> ABTestParams:
        """A shadow test scores every student with both arms: a split means nothing there."""
        if self.mode == "shadow" and self.split != 0.5:
            raise ValueError("a shadow test scores every student with both arms: leave split out")
        if self.mode == "split" and self.disagreement is not None:
            raise ValueError("disagreement plans a shadow test (mode: shadow)")
        return self
