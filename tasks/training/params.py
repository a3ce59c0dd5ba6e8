"""How models are trained and compared: the training stage's parameters and their only defaults (also the
command-line options of the flows that train, and their deployment parameters)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from validation.contracts import DEFAULT_PROBLEM, Problem, problem_spec

ALGORITHMS = ["baseline", "linear", "decision_tree", "random_forest", "xgboost"]


class ModelParams(BaseModel):
    """Each algorithm's hyperparameters, and the small grids ``--tune`` searches."""

    model_config = ConfigDict(extra="forbid")

    linear_c: float = Field(1.0, gt=0, description="logistic regression: inverse regularisation strength")
    linear_max_iter: int = Field(2000, ge=10, description="logistic regression: most solver iterations")
    tree_max_depth: int = Field(5, ge=1, le=50, description="decision tree: maximum depth")
    tree_min_leaf: int = Field(20, ge=1, description="decision tree: fewest students in a leaf")
    forest_step: int = Field(10, ge=1, le=500, description="random forest: trees added per step (reported as it grows)")
    forest_min_leaf: int = Field(5, ge=1, description="random forest: fewest students in a leaf")
    xgb_trees: int = Field(300, ge=1, le=5000, description="XGBoost: boosting rounds")
    xgb_learning_rate: float = Field(0.05, gt=0, le=1, description="XGBoost: learning rate")
    xgb_max_depth: int = Field(4, ge=1, le=20, description="XGBoost: maximum tree depth")
    xgb_subsample: float = Field(0.9, gt=0, le=1, description="XGBoost: share of rows per tree")
    xgb_colsample: float = Field(0.9, gt=0, le=1, description="XGBoost: share of columns per tree")
    cv_folds: int = Field(3, ge=2, le=20, description="--tune: cross-validation folds")
    grid_linear_c: list[float] = Field([0.1, 1.0, 10.0], description="--tune: logistic regression C values")
    grid_tree_depth: list[int] = Field([3, 5, 8], description="--tune: decision tree depths")
    grid_tree_leaf: list[int] = Field([5, 20], description="--tune: decision tree leaf sizes")
    grid_xgb_depth: list[int] = Field([3, 4, 6], description="--tune: XGBoost depths")
    grid_xgb_rate: list[float] = Field([0.05, 0.1], description="--tune: XGBoost learning rates")


class HoldoutParams(BaseModel):
    """The part of a retraining run's new batch that neither champion nor challenger trains on: the gate's data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holdout_share: float = Field(0.4, gt=0.05, lt=0.9, description="share of the new batch kept as the holdout")
    min_holdout_rows: int = Field(20, ge=2, description="fewest labeled students the new batch needs for a holdout")


class TrainingParams(BaseModel):
    """How models are trained and compared."""

    model_config = ConfigDict(extra="forbid")

    problem: Problem = Field(DEFAULT_PROBLEM, description="classification of high_performer, or regression of "
                                                           "final_score")
    choose_by: str | None = Field(
        None, description="the metric that chooses models and the first champion: the decision the school acts on "
                          "(classification: roc_auc, accuracy, f1, mcc, precision, recall; regression: mae, rmse, "
                          "r2); empty = roc_auc / mae")
    algorithms: list[str] = Field(default_factory=lambda: [a for a in ALGORITHMS if a != "baseline"],
                                  description="models to train (the baseline is always evaluated)")
    split_seed: int = Field(42, ge=0, description="seed of the train/validation/test split and the models")
    val_size: float = Field(0.2, gt=0, lt=0.5, description="share of students for validation")
    test_size: float = Field(0.2, gt=0, lt=0.5, description="share of students for the test set")
    tune: bool = Field(False, description="small grid search with cross-validation")
    trees: int = Field(200, ge=10, le=2000, description="random forest size")
    min_rows: int = Field(200, ge=20, description="fewest labeled students to train on")
    window_batches: int | Literal["all"] = Field(
        3, description="train on the features of this many recent labeled batches, or 'all'")
    importance_repeats: int = Field(5, ge=1, le=100, description="permutation importance: shuffles per feature")
    importance_rows: int = Field(5000, ge=100, description="permutation importance: at most this many validation "
                                                           "students (a seeded sample of a larger validation set)")
    cv_below: int = Field(2000, ge=0, description="below this many labeled students, every model is also judged by "
                                                  "repeated stratified k-fold cross-validation (0: never)")
    cv_k: int = Field(5, ge=2, le=20, description="cross-validation: folds per repeat")
    cv_repeats: int = Field(3, ge=1, le=20, description="cross-validation: repeats (each with its own shuffle)")
    models: ModelParams = Field(default_factory=ModelParams, description="hyperparameters")
    task_runner: Literal["threads", "dask"] = Field(
        "threads", description="where training runs: the flow's threads, or a Dask cluster (the one at "
                               "DASK_SCHEDULER_ADDRESS, else a local one); needs pip install '.[dask]'")
    dask_workers: int = Field(2, ge=1, le=64, description="a local Dask cluster's worker processes")
    dask_xgboost_rows: int = Field(
        200_000, ge=0, description="on a Dask cluster, XGBoost trains across its workers (xgboost.dask) from this "
                                   "many training rows (0: never)")

    @field_validator("algorithms")
    @classmethod
    def known_algorithms(cls, value: list[str]) -> list[str]:
        """Known names only (commas allowed), in the canonical order; the baseline is implied."""
        names = [name for item in value for name in item.split(",") if name]
        unknown = sorted(set(names) - set(ALGORITHMS))
        if unknown or not names:
            raise ValueError(f"unknown algorithm(s) {unknown}; choose from {', '.join(ALGORITHMS)}")
        return [name for name in ALGORITHMS if name in names and name != "baseline"] or ["linear"]

    @model_validator(mode="after")
    def known_metric(self) -> TrainingParams:
        """A metric the problem's models are measured by."""
        shown = problem_spec(self.problem).shown
        if self.choose_by is not None and self.choose_by not in shown:
            raise ValueError(f"choose_by {self.choose_by!r} is not a {self.problem} metric; choose from "
                             f"{', '.join(shown)}")
        return self

    @field_validator("window_batches")
    @classmethod
    def positive_window(cls, value: int | str) -> int | str:
        """At least one batch, or all of them."""
        if value != "all" and value < 1:
            raise ValueError("must be at least 1, or 'all'")
        return value
