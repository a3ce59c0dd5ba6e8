"""Drift statistics (pure): per-feature tests, multiple-testing correction, effect sizes, the dataset decision.

The design (docs/statistics.md): KS for numbers, two-sample chi-square for categories (rare categories
merged into "other", categories unseen in the reference reported apart), Bonferroni over the features tested
(Benjamini-Hochberg optional), and a feature's drift is *material* only when it is significant after
correction and its effect size is at least ``min_effect``. The tests above see only the values present, so each
feature's share of missing values is tested too (two proportions: z-test, or Fisher's exact test when a cell is
small), and how the numeric features relate to each other is tested as a whole (principal components of the
reference, the reconstruction error of each row), in the same family, with the same correction and the same rule
for *material*. The thresholds come from ``DriftParams``.

One scale of "material" for every kind (Cohen's conventions): numbers move in standard deviations (the
Wasserstein distance over the reference's sd: a shift of the mean by d sd has effect d), shares in Cohen's h
(|2 asin sqrt p1 - 2 asin sqrt p2|), a category mix in Cohen's w of the current shares against the reference's
(sqrt(sum (p_cur - p_ref)^2 / p_ref): for a yes/no field it is h to within the arcsine's curvature), the joint
check in standard deviations of the reference's reconstruction error. So ``min_effect`` 0.1 means the same
size of change whatever the kind; the Jensen-Shannon distance is kept beside w as a number to read.

Each finding also says the smallest effect its test would catch 9 times in 10 at its sizes and its corrected
level (``numbers["detectable"]``), so a report can say when a batch or a reference is too small to see a shift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.spatial.distance import jensenshannon

from tasks.monitoring.findings import RELATIONS, DriftReport, Finding
from tasks.monitoring.params import DriftParams


def _empty_side(reference: int, current: int) -> str:
    """Why a test has no statistic: which side has no values."""
    sides = [name for name, rows in (("the reference", reference), ("the current batch", current)) if rows == 0]
    return "no values in " + " or ".join(sides)


def numeric_drift(name: str, reference, current) -> Finding:
    """Two-sample KS test (asymptotic p-value); effect: Wasserstein-1 distance / the reference's sd.

    Both come from the same two empirical CDFs, so each side is sorted once (200k rows in milliseconds).
    """
    ref = np.sort(np.asarray(pd.to_numeric(pd.Series(reference), errors="coerce").dropna(), dtype=float))
    cur = np.sort(np.asarray(pd.to_numeric(pd.Series(current), errors="coerce").dropna(), dtype=float))
    if len(ref) == 0 or len(cur) == 0:
        return Finding("distribution", name, "ks", float("nan"), float("nan"), float("nan"), "wasserstein_norm",
                       numbers={"not_measurable": _empty_side(len(ref), len(cur))})
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
    return Finding("distribution", name, "ks", statistic, p_value, effect, "wasserstein_norm",
                   numbers=_sizes(len(ref), len(cur)))


def _sizes(reference: int, current: int, **more) -> dict:
    return {"reference_rows": int(reference), "current_rows": int(current), **more}


def cohen_w(reference_counts, current_counts) -> float:
    """Cohen's w of the current shares against the reference's over the same categories (reference shares > 0)."""
    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    p_ref, p_cur = ref / ref.sum(), cur / cur.sum()
    seen = p_ref > 0
    return float(np.sqrt(((p_cur[seen] - p_ref[seen]) ** 2 / p_ref[seen]).sum()))


def categorical_drift(name: str, reference, current, min_expected: float, kind: str = "distribution") -> Finding:
    """Chi-square on the 2 x k table over the union of categories, rare ones merged; effect: Cohen's w of the
    current shares against the reference's (the Jensen-Shannon distance beside it, in ``numbers``)."""
    ref = pd.Series(reference).dropna().astype(str)
    cur = pd.Series(current).dropna().astype(str)
    unseen = sorted(set(cur.unique()) - set(ref.unique()))
    numbers = {"unseen_categories": unseen} if unseen else {}
    table = pd.DataFrame({"reference": ref.value_counts(), "current": cur.value_counts()}).fillna(0)
    if table.empty or ref.empty or cur.empty:
        return Finding(kind, name, "chi2", float("nan"), float("nan"), float("nan"), "cohen_w",
                       numbers={**numbers, "not_measurable": _empty_side(len(ref), len(cur))})
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.to_numpy().sum()
    rare = (expected < min_expected).any(axis=1)
    if rare.any():
        table = pd.concat([table[~rare], table[rare].sum().to_frame("other").T])
        if table.loc["other"].sum() == 0:
            table = table.drop(index="other")
    numbers.update(_sizes(len(ref), len(cur), levels=len(table), jensen_shannon=float(
        jensenshannon(table["reference"] / table["reference"].sum(), table["current"] / table["current"].sum(),
                      base=2))))
    effect = cohen_w(table["reference"], table["current"])
    if len(table) < 2:
        return Finding(kind, name, "chi2", 0.0, 1.0, effect, "cohen_w", numbers=numbers)
    chi2, p_value, _, _ = stats.chi2_contingency(table.T.to_numpy(), correction=False)
    return Finding(kind, name, "chi2", float(chi2), float(p_value), effect, "cohen_w", numbers=numbers)


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
                   numbers={"reference_share": p_ref, "current_share": p_cur, **_sizes(ref_n, cur_n)})




def multivariate_drift(reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], variance: float,
                       seed: int = 0) -> Finding | None:
    """Have the numeric features changed how they relate to each other? None when there is nothing to relate.

    The reference's principal components (of its standardised complete rows) keep ``variance`` of its variance; a
    row's reconstruction error is how far it lies from that subspace. A change in how features relate (two habits
    that went together no longer do) moves rows off the subspace though every marginal stays: the errors grow.
    The reference is split in two halves, each fitted on one and scoring the other, so the reference's errors are
    out of sample like the current batch's (each current row is scored by one half's fit, chosen at random: both
    sides are measured by the same kind of fit). Test: Mann-Whitney U on the two sets of errors (two-sided);
    effect: the difference of their means in the reference errors' sd. ``numbers`` names the features whose
    residuals grew most (where to look) and the components kept. Only features present on at least half of each
    side's rows take part, and only rows complete in them (missing values have their own check)."""
    columns = [name for name in numeric if reference[name].notna().mean() >= 0.5 and current[name].notna().mean()
               >= 0.5 and pd.to_numeric(reference[name], errors="coerce").std() > 0]
    ref = reference[columns].apply(pd.to_numeric, errors="coerce").dropna()
    cur = current[columns].apply(pd.to_numeric, errors="coerce").dropna()
    ref = ref[np.isfinite(ref.to_numpy(dtype=float)).all(axis=1)]
    cur = cur[np.isfinite(cur.to_numpy(dtype=float)).all(axis=1)]
    varies = ref.std(ddof=0) > 1e-12  # a column constant over the complete rows (a school's fixed field) says nothing
    columns = [name for name in columns if varies[name]]
    if len(columns) < 3 or len(ref) < 20 or len(cur) < 10:
        return None
    ref, cur = ref[columns].to_numpy(dtype=float), cur[columns].to_numpy(dtype=float)
    centre, scale = ref.mean(axis=0), ref.std(axis=0)
    ref, cur = (ref - centre) / scale, (cur - centre) / scale
    rng = np.random.default_rng(seed)
    halves = np.array_split(rng.permutation(len(ref)), 2)
    scored_by = rng.integers(0, 2, len(cur))
    ref_residual, cur_residual = np.empty_like(ref), np.empty_like(cur)
    kept = []
    for fit, score in ((0, 1), (1, 0)):
        basis, mean = _components(ref[halves[fit]], variance)
        kept.append(len(basis))
        ref_residual[halves[score]] = _residual(ref[halves[score]], basis, mean)
        mine = scored_by == fit
        cur_residual[mine] = _residual(cur[mine], basis, mean)
    ref_error, cur_error = np.sqrt((ref_residual ** 2).sum(axis=1)), np.sqrt((cur_residual ** 2).sum(axis=1))
    statistic, p_value = stats.mannwhitneyu(cur_error, ref_error, alternative="two-sided")
    effect = abs(cur_error.mean() - ref_error.mean()) / (ref_error.std() or 1.0)
    growth = (cur_residual ** 2).mean(axis=0) / np.maximum((ref_residual ** 2).mean(axis=0), 1e-12)
    order = np.argsort(-growth)[:3]
    return Finding("multivariate", RELATIONS, "pca_reconstruction", float(statistic), float(p_value), float(effect),
                   "error_sd", numbers=_sizes(len(ref), len(cur), components=max(kept), features=columns,
                                              reference_error=float(ref_error.mean()),
                                              current_error=float(cur_error.mean()),
                                              residual_growth={columns[i]: round(float(growth[i]), 3)
                                                               for i in order}))


def _components(rows: np.ndarray, variance: float) -> tuple[np.ndarray, np.ndarray]:
    """The principal axes that keep ``variance`` of the rows' variance (at least one, never all), and the mean."""
    mean = rows.mean(axis=0)
    _, singular, axes = np.linalg.svd(rows - mean, full_matrices=False)
    share = np.cumsum(singular ** 2) / (singular ** 2).sum()
    keep = min(int(np.searchsorted(share, variance)) + 1, rows.shape[1] - 1)
    return axes[:keep], mean


def _residual(rows: np.ndarray, basis: np.ndarray, mean: np.ndarray) -> np.ndarray:
    centred = rows - mean
    return centred - centred @ basis.T @ basis


# The smallest effect each test catches with probability POWER at its corrected level, from its sizes. Rank tests
# against a shift of a normal: the efficiency of KS relative to the t-test is 2/pi asymptotically, but at the sizes
# we run (hundreds to thousands of rows, levels 1e-3..1e-2) simulation puts it at 0.72-0.74 (tests/tasks/
# monitoring/test_drift.py checks the figure); Mann-Whitney's is 3/pi.
POWER = 0.9
_EFFICIENCY = {"ks": 0.73, "pca_reconstruction": 3 / np.pi}


def detectable(finding: Finding, alpha: float, power: float = POWER) -> float | None:
    """The smallest effect (in the finding's own measure) its test detects with probability ``power`` at level
    ``alpha`` (two-sided), given the rows it had; None when the test says nothing about sizes."""
    n, m = finding.numbers.get("reference_rows"), finding.numbers.get("current_rows")
    if not n or not m:
        return None
    z = stats.norm.isf(alpha / 2) + stats.norm.ppf(power)
    spread = np.sqrt(1 / n + 1 / m)
    if finding.test in _EFFICIENCY:
        return float(z * spread / np.sqrt(_EFFICIENCY[finding.test]))
    if finding.test in ("two_proportion_z", "fisher_exact"):
        return float(z * spread)  # Cohen's h: 2 asin sqrt p has variance 1/n
    if finding.test == "chi2" and finding.numbers.get("levels", 0) >= 2:
        df = finding.numbers["levels"] - 1
        critical = stats.chi2.isf(alpha, df)
        # noncentrality lambda = w^2 n m / (n + m) for w against the reference's shares
        lam = optimize.brentq(lambda x: stats.ncx2.sf(critical, df, x) - power, 1e-9, 1e4)
        return float(np.sqrt(lam / (n * m / (n + m))))
    return None


def power_at(finding: Finding, effect: float, alpha: float) -> float | None:
    """The probability the finding's test flags an effect of ``effect`` at level ``alpha`` (normal approximation;
    the chi-square's noncentral distribution for categories)."""
    n, m = finding.numbers.get("reference_rows"), finding.numbers.get("current_rows")
    if not n or not m:
        return None
    spread = np.sqrt(1 / n + 1 / m)
    if finding.test in _EFFICIENCY or finding.test in ("two_proportion_z", "fisher_exact"):
        shift = effect * np.sqrt(_EFFICIENCY.get(finding.test, 1.0)) / spread
        return float(stats.norm.cdf(shift - stats.norm.isf(alpha / 2)))
    if finding.test == "chi2" and finding.numbers.get("levels", 0) >= 2:
        df = finding.numbers["levels"] - 1
        return float(stats.ncx2.sf(stats.chi2.isf(alpha, df), df, effect ** 2 * n * m / (n + m)))
    return None


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


def _relations(reference, current, numeric, categorical, settings) -> list[Finding]:
    found = multivariate_drift(reference, current, numeric, settings.multivariate_variance)
    return [found] if found else []


def _relations_note(finding: Finding) -> str | None:
    if not finding.material:
        return None
    grew = ", ".join(f"{name} x{ratio:.2f}" for name, ratio in finding.numbers["residual_growth"].items())
    return (f"the numeric features relate differently: rows lie {finding.effect_size:.2f} sd further from the "
            f"reference's {finding.numbers['components']} principal components (corrected p = "
            f"{finding.p_adjusted:.2g}); residuals grew most in {grew}")


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
    CheckKind("multivariate", "how features relate", "together", "how the {features} relate", _relations,
              _relations_note, lambda f: "residuals grew: " + ", ".join(
                  f"{k} x{v:.2f}" for k, v in f.numbers.get("residual_growth", {}).items())),
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
    level = settings.drift_alpha / max(len([f for f in family if not np.isnan(f.p_value)]), 1)  # per test
    for finding in family:
        finding.numbers["detectable"] = detectable(finding, level)
    findings = [f for check in checks for f in found[check.name]]
    declared = {check.name: check for check in checks}
    notes = [note for f in findings if (note := declared[f.kind].note(f))]
    if (blind := power_note(family, level, settings.small_shift, len(reference), len(current))):
        notes.append(blind)
    status = "drift" if any(f.material and f.kind in deciding for f in findings) else "no_drift"
    return DriftReport(status, len(reference), len(current), findings, notes, settings.model_dump(), features,
                       deciding)


def power_note(family: list[Finding], level: float, shift: float, reference_rows: int, current_rows: int) -> str | None:
    """A sentence when the checks are too small to catch a shift of ``shift`` (on the common scale) 9 times in 10:
    which features, and how often they would catch it. None when every test would."""
    blind = [(f, power_at(f, shift, level)) for f in family
             if f.numbers.get("detectable") is not None and f.numbers["detectable"] > shift]
    if not blind:
        return None
    named = ", ".join(f"{tagged(f.kind, f.feature)} {p:.0%}" for f, p in blind[:6]) + (
        f" and {len(blind) - 6} more" if len(blind) > 6 else "")
    return (f"too small to catch a {shift:g} shift 9 times in 10 ({reference_rows} reference, {current_rows} "
            f"current rows, {len(family)} tests); chance of catching it: {named}")


def prediction_drift(reference_classes, current_classes, settings: DriftParams) -> Finding:
    """Chi-square on the predicted classes' counts: has the champion started predicting differently?"""
    finding = categorical_drift("prediction", reference_classes, current_classes, settings.min_expected_count,
                                kind="prediction")
    finding.p_adjusted = finding.p_value
    finding.significant = finding.material = bool(finding.p_value < settings.drift_alpha)
    return finding
