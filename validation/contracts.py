"""The data contracts every stage shares: the feature schema and its column groups, the targets and the primary
metric of each problem, and the majors. Definitions only; ``validation/features.py`` enforces the schema."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import AfterValidator

Problem = Literal["classification", "regression"]
DEFAULT_PROBLEM: Problem = "classification"  # the only place the default problem is written

# name, Arrow type, role, description: the feature contract, exported as schema.json beside the data
FEATURE_SCHEMA: list[tuple[str, str, str, str]] = [
    ("student_id", "int64", "id", "student identifier"),
    ("batch_id", "string", "lineage", "batch the features were computed from (the student's newest)"),
    ("batch_seq", "int64", "lineage", "that batch's sequence number"),
    ("age", "int64", "feature", "age in years"),
    ("major", "string", "feature", "declared major"),
    ("fullTime", "bool", "feature", "full-time student"),
    ("enrollment_year", "int64", "feature", "year of enrolment"),
    ("num_courses", "int64", "feature", "number of courses taken"),
    ("total_credits", "int64", "feature", "sum of the courses' credits"),
    ("num_grades", "int64", "feature", "number of grades recorded (0: a student without grades yet)"),
    ("avg_grade", "double", "feature", "mean of all grades (null without grades, like every grade feature)"),
    ("max_grade", "double", "feature", "highest grade"),
    ("min_grade", "double", "feature", "lowest grade"),
    ("grade_range", "double", "feature", "highest minus lowest grade"),
    ("credit_weighted_avg", "double", "feature", "mean of the graded courses' averages weighted by credits"),
    ("course_avg_std", "double", "feature", "spread (population sd) of the graded courses' averages"),
    ("latest_grade", "double", "feature", "mean of each graded course's latest grade (grades are in time order)"),
    ("grade_trend", "double", "feature", "mean change per period: each course's (last - first) / (grades - 1), "
                                         "averaged over courses with two grades or more"),
    ("study_hours", "double", "feature", "self-reported study hours per week (may be null)"),
    ("attendance_rate", "double", "feature", "share of classes attended (may be null)"),
    ("tutoring", "bool", "feature", "attends tutoring (may be null)"),
    ("first_generation", "bool", "feature", "first in family at university (may be null)"),
    ("part_time_job", "bool", "feature", "works a part-time job (may be null)"),
    ("final_score", "double", "label", "next-term score, 0..100 (labeled batches only)"),
    ("high_performer", "bool", "label", "in the positive class of the batch's label rule (default final_score "
                                        "> 70; labeled batches only)"),
]
COLUMNS = [name for name, *_ in FEATURE_SCHEMA]
LABELS = [name for name, _, role, _ in FEATURE_SCHEMA if role == "label"]
CATEGORICAL = ["major"]
BOOLEAN = [name for name, dtype, role, _ in FEATURE_SCHEMA if role == "feature" and dtype == "bool"]
NUMERIC = [name for name, dtype, role, _ in FEATURE_SCHEMA
           if role == "feature" and name not in CATEGORICAL + BOOLEAN]
FEATURES = NUMERIC + BOOLEAN + CATEGORICAL  # the model inputs, in this order (the generator's dataset)
GRADE_FEATURES = ["avg_grade", "max_grade", "min_grade", "grade_range", "credit_weighted_avg", "course_avg_std",
                  "latest_grade", "grade_trend"]  # null for a student without grades
SEGMENTS = ["first_generation", "part_time_job", "major"]  # groups a school is asked about first
_EXTRA_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ARROW = {"number": "double", "bool": "bool", "category": "string"}


@dataclass(frozen=True)
class ExtraFeature:
    """A field a dataset declares of its own (absences, a scholarship flag, the school): a number with a range, a
    yes/no, or a category with its allowed values. Raw records carry it under ``extra.<name>``; the feature
    documents carry it as ``<name>``; models, drift checks, suites and the API treat it like our own fields."""

    name: str
    kind: Literal["number", "bool", "category"]
    low: float | None = None
    high: float | None = None
    values: tuple[str, ...] = ()
    description: str = ""
    # a group field the monitors measure performance per group of (not a model input's property: not compared)
    segment: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not _EXTRA_NAME.fullmatch(self.name) or self.name in COLUMNS or self.name == "extra":
            raise ValueError(f"extra feature {self.name[:60]!r}: a name is lower-case letters, digits and _ (at most "
                             "40, starting with a letter) and not one of our own columns")
        if self.kind == "number" and (self.low is None or self.high is None or not self.low <= self.high):
            raise ValueError(f"extra feature {self.name}: a number needs its range (range: [low, high])")
        if self.kind == "category" and not self.values:
            raise ValueError(f"extra feature {self.name}: a category needs its allowed values (values: [...])")
        if self.segment and self.kind == "number":
            raise ValueError(f"extra feature {self.name}: a segment is a yes/no or a category (groups of students), "
                             "not a number")

    def as_dict(self) -> dict:
        """As stored with a batch and a model version."""
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high,
                "values": list(self.values), "description": self.description, "segment": self.segment}

    @classmethod
    def from_dict(cls, data: dict) -> ExtraFeature:
        """A stored declaration."""
        return cls(data["name"], data["kind"], data.get("low"), data.get("high"), tuple(data.get("values") or ()),
                   data.get("description", ""), bool(data.get("segment", False)))


@dataclass(frozen=True)
class FeatureContract:
    """The model inputs of a dataset: our own fields plus the extra ones its mapping declares. Stored with every
    batch and every model version, and checked where features are read and where requests come in; the generator's
    dataset is the contract without extras."""

    extras: tuple[ExtraFeature, ...] = ()

    @property
    def numeric(self) -> list[str]:
        """Numeric model inputs."""
        return NUMERIC + [e.name for e in self.extras if e.kind == "number"]

    @property
    def boolean(self) -> list[str]:
        """Yes/no model inputs."""
        return BOOLEAN + [e.name for e in self.extras if e.kind == "bool"]

    @property
    def categorical(self) -> list[str]:
        """Categorical model inputs."""
        return CATEGORICAL + [e.name for e in self.extras if e.kind == "category"]

    @property
    def features(self) -> list[str]:
        """The model inputs, in a model's column order."""
        return self.numeric + self.boolean + self.categorical

    @property
    def schema(self) -> list[tuple[str, str, str, str]]:
        """The feature documents' columns (name, Arrow type, role, description), extras before the labels."""
        own = [row for row in FEATURE_SCHEMA if row[2] != "label"]
        extra = [(e.name, _ARROW[e.kind], "feature", e.description or f"declared by the dataset ({e.kind})")
                 for e in self.extras]
        return own + extra + [row for row in FEATURE_SCHEMA if row[2] == "label"]

    @property
    def columns(self) -> list[str]:
        """The feature documents' columns."""
        return [name for name, *_ in self.schema]

    @property
    def segments(self) -> list[str]:
        """The group fields the monitors measure performance per group of: ours and the extras declared segments."""
        return SEGMENTS + [e.name for e in self.extras if e.segment]

    def extra(self, name: str) -> ExtraFeature | None:
        """The declaration of one extra feature."""
        return next((e for e in self.extras if e.name == name), None)

    def missing_from(self, other: FeatureContract) -> list[str]:
        """The extra features this contract needs that ``other`` does not declare (alike)."""
        return [e.name for e in self.extras if other.extra(e.name) != e]

    def as_dict(self) -> dict:
        """As stored with a model version (``feature_schema``) and a batch (``features``)."""
        return {"numeric": self.numeric, "boolean": self.boolean, "categorical": self.categorical,
                "extras": [e.as_dict() for e in self.extras]}

    @classmethod
    def from_dict(cls, data: dict | None) -> FeatureContract:
        """A stored contract; one stored before datasets declared extras is the generator's."""
        return cls(tuple(ExtraFeature.from_dict(e) for e in (data or {}).get("extras") or ()))


DEFAULT_CONTRACT = FeatureContract()



@dataclass(frozen=True)
class LabelRule:
    """The classification label as a rule on the score: ``final_score <direction> <threshold>`` is the positive
    class (``name`` says what it means to people: "high performer", "pass", "at risk"). Stored with every labeled
    batch and every model version; versions trained for different rules are never compared."""

    threshold: float
    direction: Literal[">", ">=", "<", "<="] = ">"
    name: str = "high performer"

    def applies(self, score: float) -> bool:
        """Whether a score is in the positive class."""
        return _COMPARE[self.direction](score, self.threshold)

    @property
    def text(self) -> str:
        """As people write it: ``final_score > 70``."""
        return f"final_score {self.direction} {self.threshold:g}"

    def mongo_expression(self, score: str) -> dict:
        """The rule as an aggregation expression on the field path ``score`` (null when the score is)."""
        op = {">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte"}[self.direction]
        return {"$cond": [{"$eq": [{"$ifNull": [score, None]}, None]}, None, {op: [score, self.threshold]}]}

    def as_dict(self) -> dict:
        """As stored with a batch and a model version."""
        return {"threshold": self.threshold, "direction": self.direction, "name": self.name}

    @classmethod
    def from_dict(cls, data: dict | None) -> LabelRule:
        """A stored rule; a batch or version stored before rules were kept had the generator's."""
        return cls(float(data["threshold"]), data["direction"], data.get("name", "")) if data else DEFAULT_LABEL_RULE

    @classmethod
    def parse(cls, text: str, name: str | None = None) -> LabelRule:
        """``"> 70"``, ``">=50"``, ``"final_score < 50"`` (and an optional ``name: `` in front: ``"pass: >= 50"``)."""
        label, _, rule = text.rpartition(":")
        match = _RULE.fullmatch(rule.strip())
        if match is None:
            raise ValueError(f"label rule {text!r} is not like '> 70', '>= 50' or 'final_score < 50'")
        direction, threshold = match.group(1), float(match.group(2))
        default_name = "high performer" if direction.startswith(">") else "at risk"
        name = name or label.strip() or default_name
        if len(name) > 60 or not name.isprintable():
            raise ValueError(f"label rule {text[:80]!r}: its name must be at most 60 printable characters")
        return cls(threshold, direction, name)


_COMPARE = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
_RULE = re.compile(r"(?:final_score\s*)?(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)")
DEFAULT_LABEL_RULE = LabelRule(70.0, ">", "high performer")  # the generator's question: who scores above 70?


@dataclass(frozen=True)
class ProblemSpec:
    """Everything that differs between the two problems, said once: stages ask the spec, never the problem's name."""

    name: Problem
    target: str  # the label column, and the registry name of the problem's models
    classifies: bool  # a class with a probability (True) or a number (False)
    primary: str  # the metric that chooses models and names champions
    higher_is_better: bool
    scoring: str  # scikit-learn's name for the primary metric (grid search)
    live_metric: str  # measured on labels after deployment, estimated without them, compared in A/B tests
    shown: tuple[str, ...]  # the leaderboard's metrics, primary first
    oracle: str  # what the oracle is, in words
    label: str  # the primary metric as people read it


PROBLEMS: dict[str, ProblemSpec] = {
    "classification": ProblemSpec("classification", "high_performer", True, "roc_auc", True, "roc_auc", "accuracy",
                                  ("roc_auc", "accuracy", "f1", "mcc", "precision", "recall"),
                                  "oracle (true probability)", "ROC AUC"),
    "regression": ProblemSpec("regression", "final_score", False, "mae", False, "neg_mean_absolute_error", "mae",
                              ("mae", "rmse", "r2"), "oracle (expected score)", "MAE"),
}
TARGETS: dict[str, str] = {name: spec.target for name, spec in PROBLEMS.items()}
PRIMARY: dict[str, tuple[str, bool]] = {name: (spec.primary, spec.higher_is_better) for name, spec in PROBLEMS.items()}
"""Each problem's primary metric, and whether higher is better: it chooses models and names champions."""


def problem_spec(problem: str) -> ProblemSpec:
    """The spec of ``problem`` (a model document's ``problem`` field, a parameter)."""
    try:
        return PROBLEMS[problem]
    except KeyError:
        raise ValueError(f"unknown problem {problem!r}; choose from {', '.join(PROBLEMS)}") from None

MAJORS = ["Math", "Physics", "Computer Science", "Biology", "Economics", "History", "Literature"]
KNOWN_MAJORS = frozenset(MAJORS)


def readable_rule(text: str) -> str:
    """A label rule's text, checked (a parameter model's validator: ``RuleText``)."""
    LabelRule.parse(text)
    return text


RuleText = Annotated[str, AfterValidator(readable_rule)]
"""A label rule as people write it (``"pass: >= 50"``), checked where it is given."""


def model_inputs(model, frame):
    """The columns a fitted model reads, in its order (its dataset's contract: ours plus the declared extras)."""
    return frame[list(getattr(model, "feature_names_in_", FEATURES))]
