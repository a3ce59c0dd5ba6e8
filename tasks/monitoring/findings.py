"""The one record every drift check returns, and the report a batch's check makes of them (pure).

A check of any kind (a feature's distribution, its share of missing values, the champion's predicted classes,
and whatever kind comes next) yields ``Finding`` records with its ``kind``; the report, the alert, the summary,
the drill's scorecard and the dashboard loop over findings and never name a kind. A kind is declared once, in
``tasks/monitoring/drift.py``'s ``CHECKS``: that and the statistic it computes are all a new kind touches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

RELATIONS = "numeric features"  # what a multivariate finding names: the numeric features taken together

Status = Literal["drift", "no_drift", "insufficient_data"]


@dataclass
class Finding:
    """One test of one kind on one feature: statistic, raw and corrected p-value, effect size, and the verdicts.

    ``numbers`` holds what only this kind has (a missing share before and after, categories never seen)."""

    kind: str
    feature: str
    test: str
    statistic: float
    p_value: float
    effect_size: float
    effect_measure: str
    p_adjusted: float = float("nan")
    significant: bool = False
    material: bool = False
    numbers: dict = field(default_factory=dict)


@dataclass
class DriftReport:
    """A batch's drift check: every finding of every kind, and the batch's decision.

    ``status`` is decided by the kinds in the correction family (a feature drifts materially when significant
    after correction and its effect is at least ``min_effect``); ``notes`` are sentences a person should read."""

    status: Status
    reference_rows: int
    current_rows: int
    findings: list[Finding]
    notes: list[str]
    settings: dict
    features_tested: int = 0  # features in the data (the denominator of share_drifted)
    deciding: tuple[str, ...] = ()  # the kinds whose material findings decide the status

    def of_kind(self, kind: str) -> list[Finding]:
        """The findings of one kind, in the order they were tested."""
        return [f for f in self.findings if f.kind == kind]

    @property
    def drifted(self) -> dict[str, list[str]]:
        """Per kind, the features whose test was material (every kind that ran has a key, maybe an empty list)."""
        out: dict[str, list[str]] = {}
        for finding in self.findings:
            out.setdefault(finding.kind, [])
            if finding.material:
                out[finding.kind].append(finding.feature)
        return out

    @property
    def flagged(self) -> list[str]:
        """The features any deciding kind found material, each once, in test order."""
        return list(dict.fromkeys(f.feature for f in self.findings if f.material and f.kind in self.deciding))

    @property
    def share_drifted(self) -> float:
        """The share of the features that some deciding kind found material."""
        return len(self.flagged) / self.features_tested if self.features_tested else 0.0

    def as_dict(self) -> dict:
        """As stored in drift_reports (with the derived numbers, so readers need no code)."""
        return {**asdict(self), "deciding": list(self.deciding), "drifted": self.drifted,
                "share_drifted": self.share_drifted}


def finding_from_dict(data: dict) -> Finding:
    """A stored finding back as a record."""
    names = Finding.__dataclass_fields__
    return Finding(**{key: value for key, value in data.items() if key in names})


def upgrade_document(doc: dict) -> dict:
    """A stored drift check in today's shape: checks stored before findings had kinds (``features``,
    ``missing.features``, ``prediction_drift``) are read into findings, so old stores' pages still show them."""
    if "features" not in doc or "notes" in doc:
        return doc
    findings = [{**f, "kind": "distribution",
                 "numbers": {"unseen_categories": f["unseen_categories"]} if f.get("unseen_categories") else {}}
                for f in doc.get("features", [])]
    for m in (doc.get("missing") or {}).get("features", []):
        findings.append({**m, "kind": "missing", "material": m.get("drifted", False),
                         "numbers": {"reference_share": m.get("reference_share"),
                                     "current_share": m.get("current_share")}})
    prediction = doc.get("prediction_drift")
    if prediction:
        findings.append({"kind": "prediction", "feature": "prediction", "test": "chi2",
                         "statistic": prediction.get("statistic"), "p_value": prediction.get("p_value"),
                         "effect_size": prediction.get("effect_size"), "effect_measure": "jensen_shannon",
                         "p_adjusted": prediction.get("p_value"), "significant": prediction.get("drifted", False),
                         "material": prediction.get("drifted", False)})
    drifted: dict[str, list[str]] = {}
    for finding in findings:
        drifted.setdefault(finding["kind"], [])
        if finding.get("material"):
            drifted[finding["kind"]].append(finding["feature"])
    return {**doc, "findings": [{k: v for k, v in f.items() if k not in ("unseen_categories", "drifted",
                                                                          "reference_share", "current_share")}
                                for f in findings],
            "notes": doc.get("findings", []), "drifted": drifted, "deciding": ["distribution", "missing"]}

