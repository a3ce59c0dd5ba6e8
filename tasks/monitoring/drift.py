"""Drift statistics (pure): per-feature tests, multiple-testing correction, effect sizes, the dataset decision.

The design (docs/statistics.md): KS for numbers, two-sample chi-square for categories (rare categories
merged into "other", categories unseen in the reference reported apart), Bonferroni over the features tested
(Benjamini-Hochberg optional), and a feature's drift is *material* only when it is significant after
correction and its effect size (normalised Wasserstein / Jensen-Shannon distance) is at least ``min_effect``.
The thresholds come from ``DriftParams``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from tasks.monitoring.params import DriftParams


@dataclass
class FeatureDrift:
    """One feature's test: statistic, raw and corrected p-value, effect size, and the verdicts."""

    feature: str
    kind: Literal["numeric", "categorical"]
    test: str
    statistic: float
    p_value: float
    effect_size: float
    effect_measure: str
    p_adjusted: float = float("nan")
    significant: bool = False
    material: bool = False
    unseen_categories: list = field(default_factory=list)


@dataclass
class DriftReport:
    """A batch's drift check: every feature's test and the dataset's decision."""

    status: Literal["drift", "no_drift", "insufficient_data"]
    reference_rows: int
    current_rows: int
    features: list[FeatureDrift]
    drifted: list[str]
    share_drifted: float
    findings: list[str]
    settings: dict

    def as_dict(self) -> dict:
        """As stored in drift_reports."""
        return asdict(self)


def numeric_drift(name: str, reference, current) -> FeatureDrift:
    """Two-sample KS test (asymptotic p-value); effect: Wasserstein-1 distance / the reference's sd.

    Both come from the same two empirical CDFs, so each side is sorted once (200k rows in milliseconds).
    """
    ref = np.sort(np.asarray(pd.to_numeric(pd.Series(reference), errors="coerce").dropna(), dtype=float))
    cur = np.sort(np.asarray(pd.to_numeric(pd.Series(current), errors="coerce").dropna(), dtype=float))
    if len(ref) == 0 or len(cur) == 0:
        return FeatureDrift(name, "numeric", "ks", float("nan"), float("nan"), float("nan"), "wasserstein_norm")
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
    return FeatureDrift(name, "numeric", "ks", statistic, p_value, effect, "wasserstein_norm")


def categorical_drift(name: str, reference, current, min_expected: float) -> FeatureDrift:
    """Chi-square on the 2 x k table over the union of categories, rare ones merged; effect: JS distance."""
    ref = pd.Series(reference).dropna().astype(str)
    cur = pd.Series(current).dropna().astype(str)
    unseen = sorted(set(cur.unique()) - set(ref.unique()))
    table = pd.DataFrame({"reference": ref.value_counts(), "current": cur.value_counts()}).fillna(0)
    if table.empty or ref.empty or cur.empty:
        return FeatureDrift(name, "categorical", "chi2", float("nan"), float("nan"), float("nan"), "jensen_shannon",
                            unseen_categories=unseen)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.to_numpy().sum()
    rare = (expected < min_expected).any(axis=1)
    if rare.any():
        table = pd.concat([table[~rare], table[rare].sum().to_frame("other").T])
        if table.loc["other"].sum() == 0:
            table = table.drop(index="other")
    effect = float(jensenshannon(table["reference"] / table["reference"].sum(),
                                 table["current"] / table["current"].sum(), base=2))
    if len(table) < 2:
        return FeatureDrift(name, "categorical", "chi2", 0.0, 1.0, effect, "jensen_shannon", unseen_categories=unseen)
    chi2, p_value, _, _ = stats.chi2_contingency(table.T.to_numpy(), correction=False)
    return FeatureDrift(name, "categorical", "chi2", float(chi2), float(p_value), effect, "jensen_shannon",
                        unseen_categories=unseen)


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


def detect_drift(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str],
                 settings: DriftParams) -> DriftReport:
    """Test every feature, correct for the number tested, and decide: drift if any feature drifted materially."""
    if len(current) < settings.min_drift_rows or len(reference) < settings.min_reference_rows:
        return DriftReport("insufficient_data", len(reference), len(current), [], [], 0.0,
                           [f"need at least {settings.min_drift_rows} current rows and {settings.min_reference_rows} "
                            f"reference rows to say anything about drift (have {len(current)} and {len(reference)})"],
                           settings.model_dump())
    features = [numeric_drift(name, reference[name], current[name]) for name in numeric]
    features += [categorical_drift(name, reference[name], current[name], settings.min_expected_count)
                 for name in categorical]
    for feature, p_adjusted in zip(features, adjust([f.p_value for f in features], settings.correction),
                                   strict=True):
        feature.p_adjusted = p_adjusted
        feature.significant = bool(p_adjusted < settings.drift_alpha)
        feature.material = bool(feature.significant and feature.effect_size >= settings.min_effect)
    drifted = [f.feature for f in features if f.material]
    findings = [f"{f.feature}: categories never seen in the reference: {f.unseen_categories}"
                for f in features if f.unseen_categories]
    return DriftReport("drift" if drifted else "no_drift", len(reference), len(current), features, drifted,
                       len(drifted) / len(features) if features else 0.0, findings, settings.model_dump())


def prediction_drift(reference_classes, current_classes, settings: DriftParams) -> dict:
    """Chi-square on the predicted classes' counts: has the champion started predicting differently?"""
    result = categorical_drift("prediction", reference_classes, current_classes, settings.min_expected_count)
    return {"statistic": result.statistic, "p_value": result.p_value, "effect_size": result.effect_size,
            "drifted": bool(result.p_value < settings.drift_alpha)}
