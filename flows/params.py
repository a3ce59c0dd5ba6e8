"""Parameter models shared by more than one flow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasks.train import ALGORITHMS


class TrainingParams(BaseModel):
    """How models are trained and compared."""

    model_config = ConfigDict(extra="forbid")

    problem: Literal["classification", "regression"] = Field(
        "classification", description="classification of high_performer, or regression of final_score")
    algorithms: list[str] = Field(default_factory=lambda: [a for a in ALGORITHMS if a != "baseline"],
                                  description="models to train (the baseline is always evaluated)")
    split_seed: int = Field(42, ge=0, description="seed of the train/validation/test split and the models")
    val_size: float = Field(0.2, gt=0, lt=0.5, description="share of students for validation")
    test_size: float = Field(0.2, gt=0, lt=0.5, description="share of students for the test set")
    tune: bool = Field(False, description="small grid search with 3-fold cross-validation")
    trees: int = Field(200, ge=10, le=2000, description="random forest size (grown 10 trees at a time)")
    min_rows: int = Field(200, ge=20, description="fewest labeled students to train on")
    window_batches: int | Literal["all"] = Field(
        3, description="train on the features of this many recent labeled batches, or 'all'")

    @field_validator("window_batches")
    @classmethod
    def positive_window(cls, value: int | str) -> int | str:
        if value != "all" and value < 1:
            raise ValueError("must be at least 1, or 'all'")
        return value

    @field_validator("algorithms")
    @classmethod
    def known_algorithms(cls, value: list[str]) -> list[str]:
        names = [name for item in value for name in item.split(",") if name]
        unknown = sorted(set(names) - set(ALGORITHMS))
        if unknown or not names:
            raise ValueError(f"unknown algorithm(s) {unknown}; choose from {', '.join(ALGORITHMS)}")
        return [name for name in ALGORITHMS if name in names and name != "baseline"] or ["linear"]


class DriftParams(BaseModel):
    """Drift-test settings (defaults: ../shared/STATS.md)."""

    model_config = ConfigDict(extra="forbid")

    drift_alpha: float = Field(0.05, gt=0, lt=1, description="family-wise significance level of the drift tests")
    correction: Literal["bonferroni", "bh"] = Field("bonferroni", description="multiple-testing correction")
    min_effect: float = Field(0.1, ge=0, description="smallest effect size that counts as material drift")
    min_drift_rows: int = Field(500, ge=1, description="below this many current rows: insufficient data")

    def settings(self):
        from tasks.drift_stats import DriftSettings

        return DriftSettings(alpha=self.drift_alpha, correction=self.correction, min_effect=self.min_effect,
                             min_rows=self.min_drift_rows)


class GateParams(BaseModel):
    """Promotion-gate settings (defaults: ../shared/STATS.md)."""

    model_config = ConfigDict(extra="forbid")

    gate_alpha: float = Field(0.05, gt=0, lt=1, description="one-sided significance level of the promotion test")
    margin: float = Field(0.01, ge=0, description="smallest improvement that may promote (accuracy or MAE)")

    def settings(self):
        from tasks.promotion import GateSettings

        return GateSettings(alpha=self.gate_alpha, margin=self.margin)
