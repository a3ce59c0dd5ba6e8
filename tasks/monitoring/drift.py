"""Drift statistics (pure): per-feature tests, multiple-testing correction, effect sizes, the dataset decision.

The design (docs/statistics.md): KS for numbers, two-sample chi-square for categories (rare categories
merged into "other", categories unseen in the reference reported apart), Bonferroni over the features tested
(Benjamini-Hochberg optional), and a feature's drift is *material* only when it is significant after
correction and its effect size (normalised Wasserstein / Jensen-Shannon distance) is at least ``min_effect``.
The tests above see only the values present, so each feature's share of missing values is tested too (two
proportions: z-test, or Fisher's exact test when a cell is small; effect: Cohen's h), in the same family and
with the same correction and the same rule for *material*. The thresholds come from ``DriftParams``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from tasks.monitoring.findings import DriftReport, Finding
from tasks.monitoring.params import DriftParams


def numeric_drift(name: str, reference, current) -> Finding:
    """Two-sample KS test (asymptotic p-value); effect: Wasserstein-1 distance / the reference's sd.

    Both come from the same two empirical CDFs, so each side is sorted once (200k rows in milliseconds).
    """
    ref = np.sort(np.asarray(pd.to_numeric(pd.Series(reference), errors="coerce").dropna(), dtype=float))
    cur = np.sort(np.asarray(pd.to_numeric(pd.Series(current), errors="coerce").dropna(), dtype=float))
    if len(ref) == 0 or len(cur) == 0:
        return Finding("distribution", name, "ks", float("nan"), float("nan"), float("nan"), "wasserstein_norm")
    points = np.concatenate([ref, cur])
    points.sort(kind="mergesort")
    gap = np.abs(np.searchsorted(ref, points, side="right") / len(ref)
                 - np.searchsorted(cur, points, side="right") / len(cur))
    statistic = float(gap.max())
    effective_n = len(ref) * len(cur) / (len(ref) + len(cur))
    # scipy's asymptotic p-value; past 10k effective rows its limit (Kolmogorov) is the same and far faster
    p_value = float(stats.kstwo.sf(statistic, np.round(effective_n)) if effective_n <= 10_000
                    else stats.kstwobign.sf(statistic * np.sqrt(effective_n)))
    scale = ref.std() or 1.0
    effect = float((gap[:-1] * np.diff(points)).sum() / scale)
    return Finding("distribution", name, "ks", statistic, p_value, effect, "wasserstein_norm")


def categorical_drift(name: str, reference, current, min_expected: float, kind: str = "distribution") -> Finding:
    """Chi-square on the 2 x k table over the union of categories, rare ones merged; effect: JS distance."""
    ref = pd.Series(reference).dropna().astype(str)
    cur = pd.Series(current).dropna().astype(str)
    unseen = sorted(set(cur.unique()) - set(ref.unique()))
    numbers = {"unseen_categories": unseen} if unseen else {}
    table = pd.DataFrame({"reference": ref.value_counts(), "current": cur.value_counts()}).fillna(0)
    if table.empty or ref.empty or cur.empty:
        return Finding(kind, name, "chi2", float("nan"), float("nan"), float("nan"), "jensen_shannon", numbers=numbers)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.to_numpy().sum()
    rare = (expected < min_expected).any(axis=1)
    if rare.any():
        table = pd.concat([table[~rare], table[rare].sum().to_frame("other").T])
        if table.loc["other"].sum() == 0:
            table = table.drop(index="other")
    effect = float(jensenshannon(table["reference"] / table["reference"].sum(),
                                 table["current"] / table["current"].sum(), base=2))
    if len(table) < 2:
        return Finding(kind, name, "chi2", 0.0, 1.0, effect, "jensen_shannon", numbers=numbers)
    chi2, p_value, _, _ = stats.chi2_contingency(table.T.to_numpy(), correction=False)
    return Finding(kind, name, "chi2", float(chi2), float(p_value), effect, "jensen_shannon", numbers=numbers)


def missing_drift(name: str, reference, current) -> Finding | None:
    """Has the share of missing values changed? None when neither side has any (nothing to test).

    Two-proportion z-test (the 2 x 2 chi-square without continuity correction) when every expected cell count is
    at least 5, else Fisher's exact test; the effect is Cohen's h = |2 asin sqrt(p1) - 2 asin sqrt(p2)|, a
    distance on proportions that, unlike the raw difference, counts 0% -> 2% as more than 40% -> 42%."""
    ref_missing, ref_n = int(pd.isna(reference).sum()), len(reference)
    cur_missing, cur_n = int(pd.isna(current).sum()), len(current)
    if ref_missing + cur_missing == 0 or ref_n == 0 or cur_n == 0:
        return None
    table = np.array([[ref_missing, ref_n - ref_missing], [cur_missing, cur_n - cur_missing]])
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    p_ref, p_cur = ref_missing / ref_n, cur_missing / cur_n
    if (expected < 5).any():
        test, (statistic, p_value) = "fisher_exact", stats.fisher_exact(table)
    else:
        chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
        test, statistic = "two_proportion_z", float(np.sign(p_cur - p_ref) * np.sqrt(chi2))
    effect = abs(2 * np.arcsin(np.sqrt(p_cur)) - 2 * np.arcsin(np.sqrt(p_ref)))
    return Finding("missing", name, test, float(statistic), float(p_value), float(effect), "cohen_h",
                   numbers={"reference_share": p_ref, "current_share": p_cur})


def adjust(p_values: list[float], method: str) -> list[float]:
    """Bonferroni or Benjamini-Hochberg adjusted p-values (NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, dtype=float)
    ok = ~np.isnan(p)
    out = np.full_like(p, np.nan)
    if not ok.any():
        return out.tolist()
    if method == "bonferroni":
        out[ok] = np.minimum(p[ok] * ok.sum(), 1.0)
    elif method == "bh":
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    else:
        raise ValueError(f"unknown correction {method!r}: use 'bonferroni' or 'bh'")
    return out.tolist()


@dataclass(frozen=True)
class CheckKind:
    """A kind of drift check, declared once: what it tests, how people read it, whether it decides the batch.

    ``run`` takes the reference and current frames, the numeric and categorical features and the settings, and
    returns its findings (none when it has nothing to test). Kinds ``in_family`` share one multiple-testing
    correction and decide the batch's status (material: significant after correction and an effect of at least
    ``min_effect``); the others are read beside them at ``drift_alpha`` (material: significant)."""

    name: str
    label: str  # what people read: "distribution", "missing values", ...
    tag: str  # after a feature's name where the kind must be told apart: "avg_grade", "study_hours (missing)"
    phrase: str  # how an alert names the kind's features: "{features}", "missing values in {features}"
    run: Callable[[pd.DataFrame, pd.DataFrame, list[str], list[str], DriftParams], list[Finding]]
    note: Callable[[Finding], str | None]  # a sentence for the report when the finding says something
    detail: Callable[[Finding], str]  # a short cell for the dashboard's table
    in_family: bool = True


def _distributions(reference, current, numeric, categorical, settings) -> list[Finding]:
    found = [numeric_drift(name, reference[name], current[name]) for name in numeric]
    return found + [categorical_drift(name, reference[name], current[name], settings.min_expected_count)
                    for name in categorical]


def _missing_shares(reference, current, numeric, categorical, settings) -> list[Finding]:
    return [m for name in numeric + categorical if (m := missing_drift(name, reference[name], current[name]))]


def with_predicted_classes(frame: pd.DataFrame, predictions: list[dict], classifies: bool) -> pd.DataFrame:
    """The batch's features with the champion's predicted class of each student beside them (``prediction``), which
    the predicted-class check compares with the reference's; unchanged for a regressor or nothing scored yet."""
    if not classifies or not predictions:
        return frame
    predicted = pd.DataFrame(predictions)[["student_id", "prediction"]].drop_duplicates("student_id")
    return frame.merge(predicted, on="student_id", how="left")


def _predicted_classes(reference, current, numeric, categorical, settings) -> list[Finding]:
    """The champion's predicted classes against its reference's, when the current frame carries them."""
    if "prediction" not in current or "prediction" not in reference or current["prediction"].isna().all():
        return []
    return [prediction_drift(reference["prediction"], current["prediction"].dropna().tolist(), settings)]


def _unseen_note(finding: Finding) -> str | None:
    unseen = finding.numbers.get("unseen_categories")
    return f"{finding.feature}: categories never seen in the reference: {unseen}" if unseen else None


def _missing_note(finding: Finding) -> str | None:
    if not finding.material:
        return None
    return (f"{finding.feature}: {finding.numbers['current_share']:.1%} missing against "
            f"{finding.numbers['reference_share']:.1%} in the reference (corrected p = {finding.p_adjusted:.2g}, "
            f"Cohen's h {finding.effect_size:.2f})")


def _shares(finding: Finding) -> str:
    return f"{finding.numbers['reference_share']:.1%} -> {finding.numbers['current_share']:.1%} missing"


CHECKS: tuple[CheckKind, ...] = (
    CheckKind("distribution", "distribution", "", "{features}", _distributions, _unseen_note,
              lambda f: f"unseen: {f.numbers['unseen_categories']}" if f.numbers.get("unseen_categories") else ""),
    CheckKind("missing", "missing values", "missing", "missing values in {features}", _missing_shares, _missing_note,
              _shares),
    CheckKind("prediction", "predicted classes", "predicted", "the predicted classes", _predicted_classes,
              lambda f: None, lambda f: "", in_family=False),
)
KINDS = {check.name: check for check in CHECKS}


def tagged(kind: str, feature: str) -> str:
    """A feature's name with its kind's tag: ``avg_grade``, ``study_hours (missing)``."""
    tag = KINDS[kind].tag if kind in KINDS else kind
    return f"{feature} ({tag})" if tag else feature


def describe_drifted(drifted: dict[str, list[str]]) -> str:
    """What drifted, kind by kind, in words: ``avg_grade, max_grade; missing values in study_hours``."""
    parts = [KINDS[kind].phrase.format(features=", ".join(features)) if kind in KINDS
             else f"{kind}: {', '.join(features)}" for kind, features in drifted.items() if features]
    return "; ".join(parts) or "none"


def detect_drift(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str],
                 settings: DriftParams, checks: tuple[CheckKind, ...] = CHECKS) -> DriftReport:
    """Run every kind of check, correct the family's p-values together, and decide: drift if any deciding kind
    found a feature's drift material."""
    deciding = tuple(check.name for check in checks if check.in_family)
    features = len(numeric) + len(categorical)
    if len(current) < settings.min_drift_rows or len(reference) < settings.min_reference_rows:
        return DriftReport("insufficient_data", len(reference), len(current), [],
                           [f"need at least {settings.min_drift_rows} current rows and {settings.min_reference_rows} "
                            f"reference rows to say anything about drift (have {len(current)} and {len(reference)})"],
                           settings.model_dump(), features, deciding)
    found = {check.name: check.run(reference, current, numeric, categorical, settings) for check in checks}
    family = [f for check in checks if check.in_family for f in found[check.name]]
    for finding, p_adjusted in zip(family, adjust([f.p_value for f in family], settings.correction), strict=True):
        finding.p_adjusted = p_adjusted
        finding.significant = bool(p_adjusted < settings.drift_alpha)
        finding.material = bool(finding.significant and finding.effect_size >= settings.min_effect)
    for finding in (f for check in checks if not check.in_family for f in found[check.name]):
        finding.p_adjusted = finding.p_value
        finding.significant = finding.material = bool(finding.p_value < settings.drift_alpha)
    findings = [f for check in checks for f in found[check.name]]
    declared = {check.name: check for check in checks}
    notes = [note for f in findings if (note := declared[f.kind].note(f))]
    status = "drift" if any(f.material and f.kind in deciding for f in findings) else "no_drift"
    return DriftReport(status, len(reference), len(current), findings, notes, settings.model_dump(), features,
                       deciding)


def prediction_drift(reference_classes, current_classes, settings: DriftParams) -> Finding:
    """Chi-square on the predicted classes' counts: has the champion started predicting differently?"""
    finding = categorical_drift("prediction", reference_classes, current_classes, settings.min_expected_count,
                                kind="prediction")
    finding.p_adjusted = finding.p_value
    finding.significant = finding.material = bool(finding.p_value < settings.drift_alpha)
    return finding
