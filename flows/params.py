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

    @field_validator("algorithms")
    @classmethod
    def known_algorithms(cls, value: list[str]) -> list[str]:
        names = [name for item in value for name in item.split(",") if name]
        unknown = sorted(set(names) - set(ALGORITHMS))
        if unknown or not names:
            raise ValueError(f"unknown algorithm(s) {unknown}; choose from {', '.join(ALGORITHMS)}")
        return [name for name in ALGORITHMS if name in names and name != "baseline"] or ["linear"]
