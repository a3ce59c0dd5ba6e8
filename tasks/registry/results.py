"""What the registry hands out: a model version as a frozen record. Nothing outside the registry reads the
``models`` document by its keys; stages ask this record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from validation.contracts import DEFAULT_LABEL_RULE, FeatureContract, LabelRule, ProblemSpec, problem_spec


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: what it is, how it scored, how to trust its probabilities, where its binary is."""

    name: str
    version: int
    problem: str
    algorithm: str
    metrics: dict  # {"val": {metric: value}, "test": {metric: value}}
    calibration: dict | None  # a classifier's probability calibration (None for regression)
    feature_schema: dict
    binary_id: Any  # the GridFS id of the binary
    sha256: str
    binary_path: str  # the copy on disk
    lineage: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    created_at: datetime | None = None
    label_rule: LabelRule = DEFAULT_LABEL_RULE  # the rule its labels followed (versions stored before: the default)
    runtime: dict = field(default_factory=dict)  # python and the model libraries' versions it was saved with

    @classmethod
    def from_document(cls, doc: dict) -> ModelVersion:
        """The record of a stored ``models`` document (the registry's own reads only)."""
        binary = doc.get("binary") or {}
        return cls(doc["name"], doc["version"], doc["problem"], doc["algorithm"], doc.get("metrics") or {},
                   doc.get("calibration"), doc.get("feature_schema") or {}, binary.get("gridfs_id"),
                   binary.get("sha256", ""), binary.get("path", ""), doc.get("lineage") or {}, doc.get("params") or {},
                   doc.get("created_at"), LabelRule.from_dict(doc.get("label_rule")), doc.get("runtime") or {})

    @property
    def spec(self) -> ProblemSpec:
        """The problem this version answers, described once (validation/contracts.py)."""
        return problem_spec(self.problem)

    @property
    def contract(self) -> FeatureContract:
        """Its inputs: our fields and the extras its dataset declared (versions stored before: ours)."""
        return FeatureContract.from_dict(self.feature_schema)

    def inputs_missing_from(self, contract: FeatureContract) -> str | None:
        """Why features made under ``contract`` cannot be given to this version (None: they can)."""
        missing = self.contract.missing_from(contract)
        return (f"{self.name} v{self.version} was trained with the extra feature(s) {missing}, which these records' "
                "dataset does not declare alike: bring them in with the same mapping (--mapping)") if missing else None

    def test_metric(self, metric: str) -> float | None:
        """The version's ``metric`` on its test split at registration."""
        return self.metrics.get("test", {}).get(metric)

    def describe(self) -> dict:
        """What the service's /models shows of a version (no binary id)."""
        return {"name": self.name, "version": self.version, "algorithm": self.algorithm, "problem": self.problem,
                "metrics": self.metrics, "lineage": self.lineage, "created_at": self.created_at,
                "binary": {"sha256": self.sha256}, "params": self.params, "label_rule": self.label_rule.as_dict(),
                "features": self.contract.as_dict(), "runtime": self.runtime}

    @property
    def live_reference(self) -> float:
        """What live performance is compared with: the live metric on the test split at registration."""
        return self.metrics["test"][self.spec.live_metric]
