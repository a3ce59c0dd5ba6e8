"""Alerts people see: material drift, a live-performance drop, an invalid A/B split, a failed quality gate.

What each alert says is built here (pure); ``store.py`` keeps it in ``alerts`` (shown on the dashboard until
acknowledged) and announces it as the Prefect event ``student-pipeline.alert.raised``, which an automation
(``deployments/setup_alerts.py``) turns into a webhook notification. An alert holds the numbers behind it and
never a credential: messages are built from batch ids, model versions and statistics only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["drift", "performance", "estimated_performance", "ab_test_invalid", "quality_gate"]


@dataclass(frozen=True)
class Alert:
    """Something a person should look at, with the numbers behind it."""

    kind: Kind
    severity: Literal["warning", "critical"]
    message: str
    numbers: dict = field(default_factory=dict)
    batch_id: str | None = None
    model: str | None = None
    version: int | None = None


def drift_alert(batch_id: str, model: str, version: int, report) -> Alert:
    """Material drift of a batch (distributions or missing values) against the champion's reference."""
    numbers = {"drifted": report.drifted, "share_drifted": round(report.share_drifted, 4),
               "effects": {f.feature: round(f.effect_size, 4) for f in report.features if f.material}}
    parts = [", ".join(report.drifted)] if report.drifted else []
    if report.missing.drifted:
        numbers["missing"] = {m.feature: {"reference_share": round(m.reference_share, 4),
                                          "current_share": round(m.current_share, 4),
                                          "p_adjusted": float(f"{m.p_adjusted:.3g}")}
                              for m in report.missing.features if m.drifted}
        parts.append("missing values in " + ", ".join(report.missing.drifted))
    return Alert("drift", "warning", f"batch {batch_id}: material drift against {model} v{version} in "
                                     f"{'; '.join(parts)}", numbers, batch_id, model, version)


def performance_alert(batch_id: str, model: str, version: int, metric: str, live: float, reference: float,
                      drop: float, threshold: float, rows: int) -> Alert:
    """Live performance worse than at registration by more than the threshold."""
    return Alert("performance", "critical", f"{model} v{version}: live {metric} {live:.4f} on batch {batch_id}, "
                                            f"{drop:.4f} worse than at registration ({reference:.4f}; threshold "
                                            f"{threshold})",
                 {"metric": metric, "live": live, "reference": reference, "drop": drop, "threshold": threshold,
                  "rows": rows}, batch_id, model, version)


def estimated_performance_alert(batch_id: str, model: str, version: int, estimate, threshold: float) -> Alert:
    """The label-free estimate says the champion is doing worse than at registration by more than the threshold."""
    return Alert("estimated_performance", "warning",
                 f"{model} v{version}: estimated {estimate.metric} {estimate.value:.4f} on batch {batch_id} "
                 f"[{estimate.low:.4f}, {estimate.high:.4f}] without labels, {estimate.drop:.4f} below registration "
                 f"({estimate.reference:.4f}; threshold {threshold})",
                 {"metric": estimate.metric, "estimate": estimate.value, "low": estimate.low, "high": estimate.high,
                  "reference": estimate.reference, "drop": estimate.drop, "threshold": threshold,
                  "rows": estimate.rows, "calibration": estimate.calibration}, batch_id, model, version)


def quality_alert(batch_id: str, gate: str, message: str, numbers: dict) -> Alert:
    """A batch stopped by a data-quality gate."""
    return Alert("quality_gate", "critical", f"batch {batch_id}: {gate} gate failed: {message}", numbers, batch_id)


def ab_invalid_alert(test: dict, ratio: dict) -> Alert:
    """An A/B test whose arms do not match its split."""
    return Alert("ab_test_invalid", "critical", f"A/B test {test['test_id']} ({test['name']}) is invalid: its arms do "
                                                f"not match the {test['split']:.0%} split (sample-ratio p = "
                                                f"{ratio['p_value']:.2g}); it stopped routing and cannot promote",
                 {"test_id": test["test_id"], **ratio}, None, test["model"], test["arms"]["B"]["version"])
