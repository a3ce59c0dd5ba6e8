"""The drift checks' parameters and their only defaults (the statistical design: docs/statistics.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class DriftParams(BaseModel):
    """Drift-test settings: how significant and how large a shift must be to count, and how much data it takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drift_alpha: float = Field(0.05, gt=0, lt=1, description="family-wise significance level of the drift tests")
    correction: Literal["bonferroni", "bh"] = Field("bonferroni", description="multiple-testing correction")
    min_effect: float = Field(0.1, ge=0, description="smallest effect size that counts as material drift")
    min_drift_rows: int = Field(500, ge=1, description="below this many current rows: insufficient data")
    min_reference_rows: int = Field(100, ge=1, description="below this many reference rows: insufficient data")
    min_expected_count: float = Field(5.0, gt=0, description="chi-square: merge categories expected fewer times")
    multivariate_variance: float = Field(0.9, gt=0, lt=1, description="share of the reference's variance the "
                                         "multivariate check's principal components keep")
    small_shift: float = Field(0.2, gt=0, description="the shift (sd, Cohen's h or w) every test should catch 9 "
                               "times in 10; the report names the tests too small to")


class EstimateParams(BaseModel):
    """The label-free performance estimate: how sure its interval is, and what estimated drop raises an alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_estimated_drop: float = Field(0.05, ge=0, le=1, description="alert when the estimated accuracy is this much "
                                                                    "below the champion's at registration")
    estimate_level: float = Field(0.95, gt=0.5, lt=1, description="coverage of the estimate's sampling interval")


class LiveParams(BaseModel):
    """Live performance, once labels arrive for students the champion scored: how many it takes, what drop counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_live_drop: float = Field(0.05, ge=0, description="retrain when live performance drops by more than this")
    min_live_rows: int = Field(100, ge=1, description="fewest scored-then-labeled students to measure live performance")


class SegmentParams(BaseModel):
    """Performance per group of students (tasks/monitoring/segments.py): which metrics alert, how many students a
    group needs, what gap is the model's normal unevenness and what gap counts, at what family-wise level, over how
    many labeled batches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment_metrics: list[Literal["recall", "accuracy", "fpr", "selection_rate"]] = Field(
        default_factory=lambda: ["recall", "accuracy"],
        description="the metrics a classifier's per-group gaps alert on (recall: of the group's students in the "
                    "label's class, the share the model finds; fpr: of the others, the share it flags; "
                    "selection_rate: the share it flags); every metric is measured and shown. A regressor's is MAE")
    min_segment_rows: int = Field(100, ge=10, description="fewest students a group (and the rest) needs for a "
                                                          "metric to be compared (for recall: students in the "
                                                          "label's class); below it: insufficient data")
    segment_tolerance: float = Field(0.01, ge=0, description="a gap up to this is the model's normal unevenness "
                                                             "between groups: the test asks whether a group is worse "
                                                             "by more")
    max_segment_gap: float = Field(0.05, ge=0, description="a group worse than the rest by at least this much "
                                                           "(points of the metric, or MAE), significantly more than "
                                                           "the tolerance, is a material gap")
    segment_alpha: float = Field(0.05, gt=0, lt=1, description="family-wise level of the per-group tests")
    segment_window: int = Field(3, ge=1, le=20, description="labeled batches pooled per group (this one and the "
                                                            "champion's earlier ones): a small group needs several "
                                                            "batches of students to be measured")

    @field_validator("segment_metrics")
    @classmethod
    def some_metrics(cls, value: list[str]) -> list[str]:
        """At least one metric, each once."""
        if not value:
            raise ValueError("name at least one metric")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def gap_above_tolerance(self) -> SegmentParams:
        """The material gap is at least the tolerance."""
        if self.max_segment_gap < self.segment_tolerance:
            raise ValueError(f"the material gap (--max-segment-gap {self.max_segment_gap}) is below the tolerance "
                             f"(--segment-tolerance {self.segment_tolerance})")
        return self


class DrillParams(BaseModel):
    """The monitoring drill: which scenarios, how many seeds each, how big the batches, which model it watches."""

    model_config = ConfigDict(extra="forbid")

    scenarios: list[str] = Field(default_factory=lambda: list(_scenario_names()),
                                 description="scenarios to run (all by default)")
    seeds: int = Field(5, ge=1, le=100, description="runs per scenario, each on a batch of its own seed")
    first_seed: int = Field(9000, ge=0, le=900_000, description="seed of the reference batch; runs use the next ones")
    students: int = Field(2000, ge=100, le=100_000, description="students in each scenario batch")
    reference_students: int = Field(
        2000, ge=300, le=200_000,
        description="labeled students the drill's champion trains on and measures drift from (as main's first run)")
    algorithm: str | None = Field(None, description="the drill champion's algorithm (default: the current "
                                                    "champion's, else linear)")
    drift_check: DriftParams = Field(default_factory=DriftParams, description="drift settings")
    estimate: EstimateParams = Field(default_factory=EstimateParams, description="label-free estimate settings")
    segments: SegmentParams = Field(default_factory=SegmentParams, description="per-group performance settings")

    @field_validator("scenarios")
    @classmethod
    def known_scenarios(cls, value: list[str]) -> list[str]:
        """Only scenarios the drill knows, each once."""
        unknown = sorted(set(value) - set(_scenario_names()))
        if unknown:
            raise ValueError(f"unknown scenarios {unknown}; choose from {list(_scenario_names())}")
        if not value:
            raise ValueError("name at least one scenario")
        return list(dict.fromkeys(value))

    @field_validator("algorithm")
    @classmethod
    def known_algorithm(cls, value: str | None) -> str | None:
        """A real model (not the baseline)."""
        from tasks.training.params import ALGORITHMS

        if value is not None and value not in ALGORITHMS[1:]:
            raise ValueError(f"unknown algorithm {value!r}; choose from {ALGORITHMS[1:]}")
        return value


def _scenario_names() -> list[str]:
    from tasks.monitoring.drill import SCENARIOS

    return list(SCENARIOS)
