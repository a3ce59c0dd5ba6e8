"""Where a batch comes from and how strict its quality gate is: the data stage's parameters (and their only
defaults); every flow that brings a batch in extends this model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tasks.data.sources import BatchKind
from tasks.data.synthetic import DriftKnobs
from validation.contracts import DEFAULT_LABEL_RULE, LabelRule, RuleText


class BatchParams(BaseModel):
    """Where a batch comes from and how strict its quality gate is."""

    model_config = ConfigDict(extra="forbid")

    students: int = Field(2000, ge=1, le=999_999, description="students to generate")
    seed: int | None = Field(None, ge=0, description="generator seed; empty = one past the last generated batch")
    source: str | None = Field(None, description="a file of students instead of the generator: JSON / JSON Lines in "
                                                 "our record's shape, or a CSV / Parquet / JSON export with --mapping")
    mapping: str | None = Field(None, description="a YAML mapping from the source's columns to our record "
                                                  "(docs/your-data.md)")
    kind: BatchKind = Field("auto", description="batch kind; auto = the flow's default for the generator, "
                                                "detected for a file")
    drift: DriftKnobs = Field(default_factory=DriftKnobs, description="drift and data-quality knobs")
    max_rejected_share: float = Field(0.05, ge=0, le=1, description="fail the run above this share of rejected records")
    truth_bucket: int = Field(1000, ge=1, le=100_000, description="students per document of the generator's truth")
    label_rule: RuleText | None = Field(None, description="the classification label as a rule on final_score: '> 70', "
                                                     "'pass: >= 50', 'at risk: < 50'; empty = a mapped source's, "
                                                     "else the champion's, else the generator's "
                                                     f"'{DEFAULT_LABEL_RULE.text}'")

    def given_rule(self) -> LabelRule | None:
        """The label rule given for this run, if one was."""
        return None if self.label_rule is None else LabelRule.parse(self.label_rule)
