"""Performance per group of students (pure): does the model work as well for first-generation students, for
students with a job, for each major, and for each group of a field a dataset declares a segment?

Each group of each segment field is compared with the rest of the students on several metrics (``METRICS``): for a
classifier accuracy, recall (of the group's students in the label's class, the share the model finds: *equal
opportunity*), the false-positive rate (of the others, the share it flags: with recall, *equalised odds*) and the
selection rate (the share it flags: *demographic parity*); for a regressor the MAE; without labels the expected
accuracy from the calibrated probabilities. Per metric, the group's *shortfall* (how much worse it is than the
rest; for the selection rate, how far it is from the rest either way) is tested for *materiality*: is the group
worse by more than ``segment_tolerance`` (the model's normal unevenness between groups, a point or two)? One-sided z
on the difference of two independent means; the metrics a school alerts on (``segment_metrics``) over every group
form one Bonferroni family. Every interval is at the family's level, so its lower end is the test: above the
tolerance exactly when significant. A gap is *material* when significant and at least ``max_segment_gap``. A group
(or its rest) with fewer than ``min_segment_rows`` students behind a metric is "insufficient data", never "no gap".
On labels there are two looks, each at half the level (``two_looks``): this batch alone, and this batch pooled with
the champion's earlier labeled batches (``segment_window``): a group of 150 students a batch needs about three
batches for a 10-point gap to stand out of its noise.

Beside each group: the same shortfall at registration, on the champion's held-out reference, with its interval
(too few students there is said, not hidden), so a gap the model always had is told apart from one that opened.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from tasks.monitoring.params import SegmentParams

MISSING = "(missing)"


@dataclass(frozen=True)
class Metric:
    """A per-group metric: the mean of ``column`` over the students ``among`` selects; ``direction`` +1 when higher
    is better, -1 when lower is, 0 when a difference either way is the gap."""

    name: str
    column: str
    among: str | None  # "positive" / "negative": only the students whose label is (not) the label's class
    direction: int
    notion: str
    chance: bool = False  # each value is a chance of being right (Bernoulli variances), not an outcome


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("recall", "flagged", "positive", 1, "equal opportunity"),
    Metric("accuracy", "correct", None, 1, "accuracy parity"),
    Metric("fpr", "flagged", "negative", -1, "equalised odds (with recall)"),
    Metric("selection_rate", "flagged", None, 0, "demographic parity"),
    Metric("mae", "abs_error", None, -1, "error parity"),
    Metric("expected accuracy", "chance", None, 1, "accuracy parity (estimated)", chance=True),
]}
CLASSIFIER_METRICS = ("recall", "accuracy", "fpr", "selection_rate")


@dataclass
class GroupGap:
    """One group of one segment field against the rest, on one metric."""

    field: str
    group: str
    rows: int  # the group's students behind the metric (for recall: those in the label's class)
    value: float | None  # the group's metric
    rest: float | None  # the rest's
    rest_rows: int
    status: str  # "ok" or "insufficient_data"
    metric: str = "accuracy"
    alerts: bool = True  # the metric is one the school alerts on (in the tested family)
    shortfall: float | None = None  # how much worse than the rest (positive = worse; selection rate: |difference|)
    low: float | None = None  # the interval at the family's level
    high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    significant: bool = False
    material: bool = False
    at_registration: float | None = None  # the same shortfall on the champion's reference
    registration_low: float | None = None
    registration_high: float | None = None
    registration_rows: int | None = None  # the group's students there (None: no reference)
    registration_rest_rows: int | None = None
    registration_status: str | None = None  # "ok" / "insufficient_data"
    standing: bool = False  # the gap was there, as large, at registration (``_standing``)

    @property
    def name(self) -> str:
        """``first_generation=yes``"""
        return f"{self.field}={self.group}"


@dataclass
class SegmentReport:
    """Every group's gap on one batch (or the window of labeled batches pooled), from labels or the estimate."""

    source: str  # "labels" or "estimate"
    metric: str  # the metrics alerted on, as words ("recall, accuracy")
    groups: list[GroupGap] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)  # every metric measured, alerted-on first
    confidence: float | None = None  # the two-sided level of every interval (the family's)
    tests: int = 0  # the family's size
    batches: list[str] = field(default_factory=list)  # the labeled batches measured (this one last)
    window: SegmentReport | None = None  # the second look: this batch pooled with the earlier labeled ones

    @property
    def material(self) -> list[GroupGap]:
        """The groups whose gap is material, in this batch or over the window."""
        return [g for g in self.groups if g.material] + (self.window.material if self.window else [])

    def as_dict(self) -> dict:
        """As stored with the performance record (plain values)."""
        return {"source": self.source, "metric": self.metric, "settings": self.settings, "metrics": self.metrics,
                "notions": {m: METRICS[m].notion for m in self.metrics}, "confidence": self.confidence,
                "tests": self.tests, "batches": self.batches, "groups": [asdict(g) for g in self.groups],
                "window": self.window.as_dict() if self.window else None,
                "material": list(dict.fromkeys(f"{g.name} ({g.metric})" for g in self.material))}


def with_outcomes(frame: pd.DataFrame, target: str, classifies: bool) -> pd.DataFrame:
    """The rows with a prediction and a label, each with its outcomes: ``correct`` (1/0), ``flagged`` (predicted
    the label's class) and ``positive`` (is in it) for a classifier, ``abs_error`` for a regressor."""
    rows = frame.dropna(subset=["prediction", target])
    if classifies:
        predicted, actual = rows["prediction"].astype(int), rows[target].astype(int)
        return rows.assign(correct=(predicted == actual).astype(float), flagged=(predicted == 1).astype(float),
                           positive=(actual == 1).astype(float))
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


def metrics_for(source: str, classifies: bool, settings: SegmentParams) -> tuple[list[str], list[str]]:
    """(every metric measured, alerted-on first; the ones alerted on)."""
    if source == "estimate":
        return ["expected accuracy"], ["expected accuracy"]
    if not classifies:
        return ["mae"], ["mae"]
    alerting = list(settings.segment_metrics)
    return alerting + [m for m in CLASSIFIER_METRICS if m not in alerting], alerting


def _summary(outcome: np.ndarray, chance: bool) -> tuple[float, float]:
    """Mean and the variance of the mean: Bernoulli variances when ``chance`` (each row's chance of being
    right), else the sample variance."""
    n = len(outcome)
    if chance:
        return float(outcome.mean()), float((outcome * (1 - outcome)).sum() / n**2)
    return float(outcome.mean()), float(outcome.var(ddof=1) / n) if n > 1 else float("inf")


def _gap(mine: np.ndarray, rest: np.ndarray, metric: Metric) -> tuple[float, float, float, float]:
    """(group's mean, rest's mean, shortfall, its standard error)."""
    (value, var_mine), (other, var_rest) = _summary(mine, metric.chance), _summary(rest, metric.chance)
    difference = value - other
    shortfall = abs(difference) if metric.direction == 0 else -metric.direction * difference
    return value, other, shortfall, float(np.sqrt(var_mine + var_rest))


def _selected(frame: pd.DataFrame, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    """(the metric's values, which rows it is measured on)."""
    values = frame[metric.column].to_numpy(dtype=float)
    if metric.among is None:
        return values, np.ones(len(frame), dtype=bool)
    positive = frame["positive"].to_numpy(dtype=float) == 1
    return values, positive if metric.among == "positive" else ~positive


def segment_gaps(frame: pd.DataFrame, fields: list[str], settings: SegmentParams, source: str, classifies: bool,
                 reference: pd.DataFrame | None = None) -> SegmentReport:
    """Each group's shortfall against the rest on each metric (``frame``: one row per student with the segment
    fields and the outcome columns of ``with_outcomes``, or ``chance`` for the estimate), the alerting metrics
    tested as one family; ``reference`` (the same columns, on the champion's reference) gives each group's shortfall
    at registration."""
    measured, alerting = metrics_for(source, classifies, settings)
    report = SegmentReport(source, ", ".join(alerting), settings=settings.model_dump(), metrics=measured)
    fields = [f for f in fields if f in frame.columns]
    errors: dict[int, float] = {}  # each compared gap's standard error
    for name in fields:
        groups = group_labels(frame[name])
        for metric_name in measured:
            metric = METRICS[metric_name]
            values, among = _selected(frame, metric)
            for group in sorted(groups.unique()):
                inside = (groups == group).to_numpy()
                mine, rest = values[inside & among], values[~inside & among]
                gap = GroupGap(name, group, len(mine), _mean(mine), _mean(rest), len(rest), "insufficient_data",
                               metric_name, metric_name in alerting)
                if len(mine) >= settings.min_segment_rows and len(rest) >= settings.min_segment_rows:
                    gap.status = "ok"
                    gap.shortfall, gap.p_value, errors[id(gap)] = _shortfall_and_p(mine, rest, metric,
                                                                                    settings.segment_tolerance)
                report.groups.append(gap)
    report.tests = sum(g.status == "ok" and g.alerts for g in report.groups)
    family = max(report.tests, 1)
    one_sided, two_sided = (stats.norm.isf(settings.segment_alpha / family),
                            stats.norm.isf(settings.segment_alpha / (2 * family)))
    report.confidence = round(1 - 2 * settings.segment_alpha / family, 6)  # one-sided 1 - alpha/m, as an interval
    for gap in report.groups:
        metric = METRICS[gap.metric]
        z = two_sided if metric.direction == 0 else one_sided
        if gap.status == "ok":
            se = errors[id(gap)]
            gap.low, gap.high = gap.shortfall - z * se, gap.shortfall + z * se
            gap.p_adjusted = min(gap.p_value * family, 1.0)
            gap.significant = bool(gap.p_adjusted < settings.segment_alpha)  # plain bools: alerts store them
            gap.material = bool(gap.alerts and gap.significant and gap.shortfall >= settings.max_segment_gap)
        if reference is not None:
            _at_registration(gap, reference, metric, z, settings.min_segment_rows)
            gap.standing = gap.material and _standing(gap, settings)
    return report


def _standing(gap: GroupGap, settings: SegmentParams) -> bool:
    """A material gap the model always had: the reference had the students to show it (the registration interval's
    lower end above the tolerance, its figure at least the material gap) and today's gap is inside that interval,
    so it neither opened nor widened."""
    return bool(gap.registration_status == "ok" and gap.registration_low is not None
                and gap.at_registration >= settings.max_segment_gap
                and gap.registration_low > settings.segment_tolerance and gap.shortfall <= gap.registration_high)


def two_looks(current: pd.DataFrame, earlier: list[pd.DataFrame], fields: list[str], settings: SegmentParams,
              classifies: bool, reference: pd.DataFrame | None = None,
              batches: list[str] | None = None) -> SegmentReport:
    """The per-group check on labels: this batch alone (a gap that opened now, in a group big enough to see it) and
    this batch pooled with the ``earlier`` labeled batches' outcomes (a small group's gap, which one batch of its
    students is too few to tell from noise; a student counts once, by their latest label). Each look at half the
    family-wise level, so the two together keep ``segment_alpha``. ``batches``: the batch ids, this one last."""
    earlier = [frame for frame in earlier if not frame.empty]
    batches = batches or []
    if not earlier:
        report = segment_gaps(current, fields, settings, "labels", classifies, reference)
        report.batches = batches[-1:]
        return report
    half = settings.model_copy(update={"segment_alpha": settings.segment_alpha / 2})
    report = segment_gaps(current, fields, half, "labels", classifies, reference)
    pooled = pd.concat([*earlier, current], ignore_index=True)
    if "student_id" in pooled.columns:
        pooled = pooled.drop_duplicates("student_id", keep="last")
    report.window = segment_gaps(pooled, fields, half, "labels", classifies, reference)
    report.batches, report.window.batches = batches[-1:], batches
    return report


def _split(frame: pd.DataFrame, gap: GroupGap, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    inside = (group_labels(frame[gap.field]) == gap.group).to_numpy()
    values, among = _selected(frame, metric)
    return values[inside & among], values[~inside & among]


def _shortfall_and_p(mine: np.ndarray, rest: np.ndarray, metric: Metric,
                     tolerance: float) -> tuple[float, float, float]:
    """The shortfall, the p-value that the group is worse by more than ``tolerance`` (two-sided for a difference
    either way), and the shortfall's standard error."""
    _, _, shortfall, se = _gap(mine, rest, metric)
    if se <= 0:
        return shortfall, float(shortfall <= tolerance), se
    p_value = float(stats.norm.sf((shortfall - tolerance) / se))
    return shortfall, min(2 * p_value, 1.0) if metric.direction == 0 else p_value, se


def _at_registration(gap: GroupGap, reference: pd.DataFrame, metric: Metric, z: float, min_rows: int) -> None:
    """The group's shortfall on the champion's reference, with its interval at the same level (context: no test)."""
    if gap.field not in reference.columns or metric.column not in reference.columns or (
            metric.among is not None and "positive" not in reference.columns):
        return
    mine, rest = _split(reference, gap, metric)
    gap.registration_rows, gap.registration_rest_rows = len(mine), len(rest)
    if not len(mine) or not len(rest):
        return
    _, _, gap.at_registration, se = _gap(mine, rest, metric)
    gap.registration_status = "ok" if min(len(mine), len(rest)) >= min_rows else "insufficient_data"
    if np.isfinite(se):
        gap.registration_low, gap.registration_high = gap.at_registration - z * se, gap.at_registration + z * se


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def describe_gaps(report: SegmentReport) -> str:
    """The material gaps in words: ``first_generation=yes recall 0.236 worse (0.496 against 0.732 for the rest, 131
    students; interval [0.101, 0.371])``, those over the window saying how many batches."""
    said = []
    for look in (report, report.window):
        if look is None:
            continue
        pooled = f" over {len(look.batches)} labeled batches" if look is report.window else ""
        said += [f"{g.name} {g.metric} {g.shortfall:.3f} {'apart' if METRICS[g.metric].direction == 0 else 'worse'}"
                 f" ({g.value:.3f} against {g.rest:.3f} for the rest, {g.rows} students{pooled}; interval "
                 f"[{g.low:.3f}, {g.high:.3f}]{_as_at_registration(g)})" for g in look.groups if g.material]
    return "; ".join(said) or "none"


def _as_at_registration(gap: GroupGap) -> str:
    """``; as at registration, 0.120 [0.050, 0.190]`` for a standing gap."""
    if not gap.standing:
        return ""
    return (f"; as at registration, {gap.at_registration:.3f} [{gap.registration_low:.3f}, "
            f"{gap.registration_high:.3f}]")
