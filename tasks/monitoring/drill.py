"""The monitoring drill (pure): scenarios whose drift the generator injects on purpose, what one run of the monitors
found on one of them, and the scorecard that measures the monitors against that ground truth.

A scenario either should be flagged (its features moved) or should not (no drift; concept drift, which changes
only how the outcome depends on the features, so no feature test can see it and only the labels can). The
scorecard gives, per scenario, the share of runs flagged (a detection rate, or a false-alarm rate), the features
named, and the error of the label-free accuracy estimate against the accuracy realised on the batch's labels.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from tasks.data.synthetic import DriftKnobs
from tasks.monitoring.findings import RELATIONS  # light: `flows/drill.py --help` lists the scenarios in 0.5 s


@dataclass(frozen=True)
class Scenario:
    """A drift the generator injects, and what the monitors should make of it."""

    name: str
    knobs: DriftKnobs
    should_flag: bool
    moves: tuple[str, ...]  # the features the knob moves (their missing shares, for missing values)
    about: str
    groups: tuple[str, ...] = ()  # the groups of students whose outcome the knob changes (the segment monitor's)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("no_drift", DriftKnobs(), False, (), "the reference world: every flag is a false alarm"),
    Scenario("grade_inflation_1", DriftKnobs(grade_inflation=1), True, ("avg_grade", "max_grade", "min_grade",
             "credit_weighted_avg"), "every past grade +1 point"),
    Scenario("grade_inflation_2", DriftKnobs(grade_inflation=2), True, ("avg_grade", "max_grade", "min_grade",
             "credit_weighted_avg"), "every past grade +2 points (0.2 sd of a student's average)"),
    Scenario("grade_inflation_5", DriftKnobs(grade_inflation=5), True, ("avg_grade", "max_grade", "min_grade",
             "credit_weighted_avg"), "every past grade +5 points"),
    Scenario("grade_inflation_10", DriftKnobs(grade_inflation=10), True, ("avg_grade", "max_grade", "min_grade",
             "credit_weighted_avg"), "every past grade +10 points"),
    Scenario("major_shift", DriftKnobs(major_shift=0.5), True, ("major",),
             "the intake moves halfway to a humanities-heavy mix of majors"),
    Scenario("major_shift_small", DriftKnobs(major_shift=0.2), True, ("major",),
             "the intake moves a fifth of the way to a humanities-heavy mix of majors"),
    Scenario("age_shift", DriftKnobs(age_shift=1), True, ("age",), "every student a year older"),
    Scenario("missing_values", DriftKnobs(missing_rate=0.25), True,
             ("study_hours", "attendance_rate", "first_generation"),
             "a quarter of the students lose one of three fields (about 8% of each goes missing)"),
    Scenario("habits_decoupled", DriftKnobs(habits_decoupled=1.0), True, (RELATIONS,),
             "study hours and attendance no longer go together (each still has its own distribution): only the "
             "multivariate check can see it"),
    Scenario("habits_decoupled_half", DriftKnobs(habits_decoupled=0.5), True, (RELATIONS,),
             "study hours and attendance go together less (half of attendance's diligence is its own)"),
    Scenario("first_generation_concept", DriftKnobs(first_generation_concept=0.8), False, (),
             "first-generation students' outcome depends on their ability less (about 10 accuracy points lost for "
             "them, 2-3 overall): no feature moves; only the per-group performance can name them",
             groups=("first_generation=yes",)),
    Scenario("first_generation_recall", DriftKnobs(first_generation_uplift=4.0), False, (),
             "first-generation students do 4 points better than their records show (a mentoring programme): the "
             "model misses more of their high performers (recall down) and flags fewer wrongly, so their accuracy "
             "stays about the same: only recall per group can name them", groups=("first_generation=yes",)),
    Scenario("concept_drift", DriftKnobs(concept_drift=1.0), False, (),
             "the outcome depends on habits more, ability less; the features do not move, so only labels can tell"),
]}


@dataclass(frozen=True)
class DrillRun:
    """What the monitors found on one generated batch of one scenario, and what its labels then said."""

    scenario: str
    seed: int
    rows: int
    status: str  # the drift check's decision: "drift", "no_drift" or "insufficient_data"
    drifted: dict[str, list[str]]  # per kind of check, the features it found material
    significant: list[str]  # deciding findings significant but below min_effect, tagged with their kind
    estimate: float
    low: float
    high: float
    realised: float
    groups: tuple[str, ...] = ()  # the groups the labels found materially worse, with the metric: "x=y (recall)"
    estimated_groups: tuple[str, ...] = ()  # those the label-free estimate per group found (before labels)
    mae: tuple[float, float, float, float] | None = None  # a regressor's DLE estimate, low, high; realised MAE

    @property
    def groups_named(self) -> set[str]:
        """The groups the labels named, on any metric."""
        return {group.split(" (")[0] for group in self.groups}

    @property
    def flagged(self) -> bool:
        """The check's decision was drift (what raises the alert and starts a retraining run)."""
        return self.status == "drift"

    @property
    def named(self) -> list[str]:
        """The features the deciding checks found material, tagged with their kind (``study_hours (missing)``)."""
        from tasks.monitoring.drift import tagged

        return [tagged(kind, feature) for kind, features in self.drifted.items() if _deciding(kind)
                for feature in features]

    @property
    def features_named(self) -> set[str]:
        """The features (untagged) the deciding checks found material."""
        return {feature for kind, features in self.drifted.items() if _deciding(kind) for feature in features}

    @property
    def prediction_drift(self) -> bool:
        """The check of the champion's predicted classes found them moved (read beside the decision)."""
        return any(features for kind, features in self.drifted.items() if not _deciding(kind))

    @property
    def error(self) -> float:
        """Estimated minus realised accuracy: positive when the estimate was optimistic."""
        return self.estimate - self.realised


def _deciding(kind: str) -> bool:
    """Whether a kind of check decides the batch (a kind this build does not declare counts as deciding)."""
    from tasks.monitoring.drift import KINDS

    return KINDS[kind].in_family if kind in KINDS else True


@dataclass
class ScorecardRow:
    """One scenario's line of the scorecard."""

    scenario: str
    expected: str
    runs: int
    flagged: float
    verdict: str
    named: str
    below_effect: str
    groups: str
    estimated_groups: str
    mae_error: float | None  # DLE: mean (estimated - realised) / realised
    mae_covered: float | None  # DLE: runs whose realised MAE fell inside the interval
    prediction_drift: float
    realised: float
    estimate: float
    mean_error: float
    max_abs_error: float
    covered: float
    knobs: dict = field(default_factory=dict)

    def as_row(self) -> dict:
        """Plain values for a table artifact and ``--json``."""
        return {"scenario": self.scenario, "expected": self.expected, "runs": self.runs, "flagged": self.flagged,
                "verdict": self.verdict, "features_named": self.named,
                "significant_below_min_effect": self.below_effect, "groups_named": self.groups,
                "groups_estimated": self.estimated_groups,
                "mae_estimate_relative_error": self.mae_error, "mae_inside_interval": self.mae_covered,
                "prediction_drift": self.prediction_drift,
                "realised_accuracy": self.realised, "estimated_accuracy": self.estimate,
                "estimate_error_mean": self.mean_error, "estimate_error_max_abs": self.max_abs_error,
                "inside_interval": self.covered, "knobs": self.knobs}


def named_features(runs: list[DrillRun]) -> str:
    """The features the runs named, most often first, as ``feature n/N`` (missing shares as ``feature (missing)``)."""
    return _counted(Counter(name for run in runs for name in run.named), len(runs))


def _percent(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else f"{value:+.1%}" if signed else f"{value:.0%}"


def _counted(counts: Counter, runs: int) -> str:
    if not counts:
        return "-"
    return ", ".join(f"{name} {n}/{runs}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def verdict(scenario: Scenario, runs: list[DrillRun]) -> str:
    """Detection rate (a drift that should be flagged) or false-alarm rate (one that should not), in words; a
    flagged drift counts as found only when it names at least one of the features the knob moves. A scenario that
    changes a group's outcome also says how often the per-group check named that group."""
    flagged = sum(run.flagged for run in runs)
    said = (f"false alarms {flagged}/{len(runs)}" if not scenario.should_flag else
            f"detected {sum(run.flagged and bool(run.features_named & set(scenario.moves)) for run in runs)}"
            f"/{len(runs)}")
    if scenario.groups:
        said += (f"; group named {sum(bool(run.groups_named & set(scenario.groups)) for run in runs)}/{len(runs)}"
                 f" on labels, {sum(bool(set(run.estimated_groups) & set(scenario.groups)) for run in runs)}"
                 f"/{len(runs)} before them")
    return said


def _mean(values: list, digits: int) -> float | None:
    return round(float(np.mean(values)), digits) if values else None


def scorecard(runs: list[DrillRun], scenarios: dict[str, Scenario] = SCENARIOS) -> list[ScorecardRow]:
    """One row per scenario that ran, in the scenarios' order."""
    rows = []
    for name, scenario in scenarios.items():
        mine = [run for run in runs if run.scenario == name]
        if not mine:
            continue
        errors = np.array([run.error for run in mine])
        rows.append(ScorecardRow(
            scenario=name, expected="drift" if scenario.should_flag else "no drift", runs=len(mine),
            flagged=round(float(np.mean([run.flagged for run in mine])), 3), verdict=verdict(scenario, mine),
            named=named_features(mine),
            below_effect=_counted(Counter(name for run in mine for name in run.significant), len(mine)),
            groups=_counted(Counter(group for run in mine for group in run.groups), len(mine)),
            estimated_groups=_counted(Counter(group for run in mine for group in run.estimated_groups), len(mine)),
            mae_error=_mean([(run.mae[0] - run.mae[3]) / run.mae[3] for run in mine if run.mae], 4),
            mae_covered=_mean([run.mae[1] <= run.mae[3] <= run.mae[2] for run in mine if run.mae], 3),
            prediction_drift=round(float(np.mean([run.prediction_drift for run in mine])), 3),
            realised=round(float(np.mean([run.realised for run in mine])), 4),
            estimate=round(float(np.mean([run.estimate for run in mine])), 4),
            mean_error=round(float(errors.mean()), 4), max_abs_error=round(float(np.abs(errors).max()), 4),
            covered=round(float(np.mean([run.low <= run.realised <= run.high for run in mine])), 3),
            knobs={k: v for k, v in scenario.knobs.model_dump().items() if v}))
    return rows


def scorecard_markdown(rows: list[ScorecardRow], champion: str, settings: dict) -> str:
    """The scorecard as the drill's markdown artifact: the table, then how to read it."""
    lines = [f"# Monitoring drill: {champion}", "",
             "| scenario | expected | flagged | verdict | features named | significant, below min effect | "
             "groups worse than the rest | before labels | realised accuracy | est. error (mean / max) | "
             "inside interval | MAE est. error | MAE inside interval |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.scenario} | {r.expected} | {r.flagged:.0%} | {r.verdict} | {r.named} | {r.below_effect} | "
              f"{r.groups} | {r.estimated_groups} | {r.realised:.3f} | {r.mean_error:+.3f} / {r.max_abs_error:.3f} | "
              f"{r.covered:.0%} | "
              f"{_percent(r.mae_error, signed=True)} | {_percent(r.mae_covered)} |" for r in rows]
    lines += ["", "Flagged: the drift check decided drift (the alert and the retraining trigger). Estimate error: "
              "label-free expected accuracy minus the accuracy realised on the batch's labels (positive = "
              "optimistic). Inside interval: runs whose realised accuracy fell inside the estimate's interval. MAE: a "
              "linear regressor of the final score on the same batches, its MAE estimated without labels by its loss "
              "model (DLE): the mean relative error and how often the realised MAE fell inside the interval. Groups "
              "worse than the rest: the per-group check on the batch's labels (a material gap, with the metric that "
              "found it); before labels: the per-group expected accuracy at scoring, which sees a group whose "
              "records moved, never a group whose outcome changed behind the same records.",
              "", f"Settings: {settings}"]
    return "\n".join(lines)
