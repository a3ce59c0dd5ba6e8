"""Performance per group of students (pure): does the model work as well for first-generation students, for
students with a job, for each major, and for each group of a field a dataset declares a segment?

Each group of each segment field is compared with the rest of the batch's students: the group's *shortfall*
(how much worse it is: the rest's accuracy minus the group's, or the group's MAE minus the rest's) with a
two-sided interval at ``1 - segment_alpha``, and a one-sided test that the group is worse (z on the difference of
two independent means). All groups of all fields form one multiple-testing family (Bonferroni). A group's gap is
*material* when the test is significant after correction and the shortfall is at least ``max_segment_gap``: the
same rule as drift's. A group (or its rest) with fewer than ``min_segment_rows`` students is "insufficient data",
never "no gap".

Two sources, one arithmetic: on labels, each student's outcome (right or wrong; the absolute error); without
labels, each student's chance of being right from the calibrated probability (the label-free estimate per group,
whose variance is its Bernoulli variance). Beside each group: its shortfall at registration, measured the same
way on the champion's held-out reference, so a gap the model always had is told apart from one that opened.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from tasks.monitoring.params import SegmentParams

MISSING = "(missing)"


@dataclass
class GroupGap:
    """One group of one segment field against the rest of the batch."""

    field: str
    group: str
    rows: int
    value: float | None  # the group's metric (accuracy, expected accuracy, MAE)
    rest: float | None  # the rest's
    rest_rows: int
    status: str  # "ok" or "insufficient_data"
    shortfall: float | None = None  # how much worse than the rest (positive = worse)
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    significant: bool = False
    material: bool = False
    at_registration: float | None = None  # the same shortfall on the champion's reference

    @property
    def name(self) -> str:
        """``first_generation=yes``"""
        return f"{self.field}={self.group}"


@dataclass
class SegmentReport:
    """Every group's gap on one batch, from labels or from the estimate."""

    source: str  # "labels" or "estimate"
    metric: str
    groups: list[GroupGap] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def material(self) -> list[GroupGap]:
        """The groups whose gap is material."""
        return [g for g in self.groups if g.material]

    def as_dict(self) -> dict:
        """As stored with the performance record (plain values)."""
        return {"source": self.source, "metric": self.metric, "settings": self.settings,
                "groups": [asdict(g) for g in self.groups], "material": [g.name for g in self.material]}


def with_outcomes(frame: pd.DataFrame, target: str, classifies: bool) -> pd.DataFrame:
    """The rows with a prediction and a label, each with its outcome: ``correct`` (1/0) for a classifier,
    ``abs_error`` for a regressor (what ``segment_gaps`` compares, on a batch's labels or a reference)."""
    rows = frame.dropna(subset=["prediction", target])
    if classifies:
        return rows.assign(correct=(rows["prediction"].astype(int) == rows[target].astype(int)).astype(float))
    return rows.assign(abs_error=(rows["prediction"] - rows[target]).abs())


def group_labels(values: pd.Series) -> pd.Series:
    """A segment field's values as group names: yes/no for booleans, text otherwise, ``(missing)`` for gaps."""
    def name(value) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return MISSING
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        return str(value)
    return values.map(name)


def _summary(outcome: np.ndarray, chance: bool) -> tuple[float, float]:
    """Mean and the variance of the mean: Bernoulli variances when ``chance`` (each row's chance of being
    right), else the sample variance."""
    n = len(outcome)
    if chance:
        return float(outcome.mean()), float((outcome * (1 - outcome)).sum() / n**2)
    return float(outcome.mean()), float(outcome.var(ddof=1) / n) if n > 1 else float("inf")


def segment_gaps(frame: pd.DataFrame, fields: list[str], outcome: str, higher_is_better: bool, chance: bool,
                 settings: SegmentParams, source: str, metric: str,
                 reference: pd.DataFrame | None = None) -> SegmentReport:
    """Each group's shortfall against the rest (``frame[outcome]``: per student, 1/0 right, an absolute error, or
    the chance of being right when ``chance``), tested as one family; ``reference`` (the same columns, on the
    champion's reference) gives each group's shortfall at registration."""
    report = SegmentReport(source, metric, settings=settings.model_dump())
    values = frame[outcome].to_numpy(dtype=float)
    z = stats.norm.isf(settings.segment_alpha / 2)
    for name in (f for f in fields if f in frame.columns):
        groups = group_labels(frame[name])
        then = _shortfalls(reference, name, outcome, higher_is_better, chance) if reference is not None else {}
        for group in sorted(groups.unique()):
            inside = (groups == group).to_numpy()
            n, rest_n = int(inside.sum()), int((~inside).sum())
            if n < settings.min_segment_rows or rest_n < settings.min_segment_rows:
                report.groups.append(GroupGap(name, group, n, _mean(values[inside]), _mean(values[~inside]), rest_n,
                                              "insufficient_data", at_registration=then.get(group)))
                continue
            (mine, var_mine), (rest, var_rest) = _summary(values[inside], chance), _summary(values[~inside], chance)
            shortfall = (rest - mine) if higher_is_better else (mine - rest)
            se = float(np.sqrt(var_mine + var_rest))
            p_value = float(stats.norm.sf(shortfall / se)) if se > 0 else float(shortfall <= 0)
            report.groups.append(GroupGap(name, group, n, mine, rest, rest_n, "ok", shortfall,
                                          float(shortfall - z * se), float(shortfall + z * se), p_value,
                                          at_registration=then.get(group)))
    tested = [g for g in report.groups if g.status == "ok"]
    for gap in tested:
        gap.p_adjusted = min(gap.p_value * len(tested), 1.0)
        gap.significant = gap.p_adjusted < settings.segment_alpha
        gap.material = gap.significant and gap.shortfall >= settings.max_segment_gap
    return report


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _shortfalls(reference: pd.DataFrame, name: str, outcome: str, higher_is_better: bool,
                chance: bool) -> dict[str, float]:
    """Each group's shortfall against the rest on the champion's reference (no test: context)."""
    if name not in reference.columns or outcome not in reference.columns:
        return {}
    groups = group_labels(reference[name])
    values = reference[outcome].to_numpy(dtype=float)
    out = {}
    for group in groups.unique():
        inside = (groups == group).to_numpy()
        if inside.all() or not inside.any():
            continue
        mine, rest = values[inside].mean(), values[~inside].mean()
        out[group] = float((rest - mine) if higher_is_better else (mine - rest))
    return out


def describe_gaps(report: SegmentReport) -> str:
    """The material gaps in words: ``first_generation=yes 0.112 worse (0.731 vs 0.843)``."""
    return "; ".join(f"{g.name} {g.shortfall:.3f} worse ({report.metric} {g.value:.3f} against {g.rest:.3f} for the "
                     f"rest, {g.rows} students)" for g in report.material) or "none"
