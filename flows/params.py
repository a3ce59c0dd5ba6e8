"""Each flow's parameter model: its command-line options and its deployment parameters. They compose the
stages' own models (``tasks/*/params.py``), which hold every default once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tasks.data.params import BatchParams
from tasks.monitoring.params import DriftParams, EstimateParams, LiveParams, SegmentParams
from tasks.promotion.params import GateParams
from tasks.training.params import HoldoutParams, TrainingParams
from validation.contracts import DEFAULT_PROBLEM, Problem


class MainParams(BatchParams):
    """Parameters of the main flow."""

    export: bool = Field(True, description="export the batch's features to Parquet and CSV")
    train: bool = Field(True, description="train and register models after a labeled batch")
    training: TrainingParams = Field(default_factory=TrainingParams, description="training settings")


class ScoreParams(BatchParams):
    """Parameters of the scoring flow."""

    problem: Problem = Field(DEFAULT_PROBLEM, description="which model scores")
    explain: bool = Field(False, description="log each prediction with its reasons (the inputs that moved it most); "
                                             "the dashboard's student page shows them")
    drift_check: DriftParams = Field(default_factory=DriftParams, description="drift settings")
    estimate: EstimateParams = Field(default_factory=EstimateParams, description="label-free estimate settings")
    segments: SegmentParams = Field(default_factory=SegmentParams, description="per-group performance settings")


class RetrainParams(BatchParams):
    """Parameters of the retraining flow."""

    training: TrainingParams = Field(default_factory=TrainingParams, description="challenger training settings")
    drift_check: DriftParams = Field(default_factory=DriftParams, description="drift settings")
    gate: GateParams = Field(default_factory=GateParams, description="promotion-gate settings")
    holdout: HoldoutParams = Field(default_factory=HoldoutParams, description="the promotion gate's holdout")
    live: LiveParams = Field(default_factory=LiveParams, description="live-performance settings")
    estimate: EstimateParams = Field(default_factory=EstimateParams, description="label-free estimate settings (the "
                                                                                 "interval live performance checks)")
    labels_for: str | None = Field(None, description="bring in the labels of this scored batch (the generator's "
                                                     "labeled twin, or outcomes posted as feedback) instead of a new "
                                                     "batch; the drift event's trigger passes the drifted batch")
    segments: SegmentParams = Field(default_factory=SegmentParams, description="per-group performance settings")
    force: bool = Field(False, description="retrain even without drift or a performance drop")


class RollbackParams(BaseModel):
    """Which model's champion to roll back."""

    model_config = ConfigDict(extra="forbid")

    problem: Problem = Field(DEFAULT_PROBLEM, description="which model")
