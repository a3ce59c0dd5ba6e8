"""The data contracts every stage shares: the feature schema and its column groups, the targets and the primary
metric of each problem, and the majors. Definitions only; ``validation/features.py`` enforces the schema."""

from __future__ import annotations

from typing import Literal

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
    ("num_grades", "int64", "feature", "number of grades recorded"),
    ("avg_grade", "double", "feature", "mean of all grades"),
    ("max_grade", "double", "feature", "highest grade"),
    ("min_grade", "double", "feature", "lowest grade"),
    ("grade_range", "double", "feature", "highest minus lowest grade"),
    ("credit_weighted_avg", "double", "feature", "mean of course averages weighted by credits"),
    ("course_avg_std", "double", "feature", "spread (population sd) of the course averages"),
    ("study_hours", "double", "feature", "self-reported study hours per week (may be null)"),
    ("attendance_rate", "double", "feature", "share of classes attended (may be null)"),
    ("tutoring", "bool", "feature", "attends tutoring (may be null)"),
    ("first_generation", "bool", "feature", "first in family at university (may be null)"),
    ("part_time_job", "bool", "feature", "works a part-time job (may be null)"),
    ("final_score", "double", "label", "next-term score, 0..100 (labeled batches only)"),
    ("high_performer", "bool", "label", "final_score above the threshold (labeled batches only)"),
]
COLUMNS = [name for name, *_ in FEATURE_SCHEMA]
LABELS = [name for name, _, role, _ in FEATURE_SCHEMA if role == "label"]
CATEGORICAL = ["major"]
BOOLEAN = [name for name, dtype, role, _ in FEATURE_SCHEMA if role == "feature" and dtype == "bool"]
NUMERIC = [name for name, dtype, role, _ in FEATURE_SCHEMA
           if role == "feature" and name not in CATEGORICAL + BOOLEAN]
FEATURES = NUMERIC + BOOLEAN + CATEGORICAL  # the model inputs, in this order

HIGH_PERFORMER_THRESHOLD = 70.0  # high_performer = final_score above this
TARGETS: dict[str, str] = {"classification": "high_performer", "regression": "final_score"}
PRIMARY: dict[str, tuple[str, bool]] = {"classification": ("roc_auc", True), "regression": ("mae", False)}
"""Each problem's primary metric, and whether higher is better: it chooses models and names champions."""

MAJORS = ["Math", "Physics", "Computer Science", "Biology", "Economics", "History", "Literature"]
KNOWN_MAJORS = frozenset(MAJORS)
