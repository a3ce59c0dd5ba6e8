"""The feature contract computed a second way, with pandas: the tests check the in-database pipeline
(``tasks/data/features.py``) against it, and the data-path benchmark uses it as its baseline (written to be
fast, so the comparison is fair). Not used by the pipeline itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation.contracts import DEFAULT_LABEL_RULE, FEATURE_SCHEMA, LABELS, LabelRule

_NESTED = {"study_hours": ("study", "hours_per_week"), "attendance_rate": ("study", "attendance_rate"),
           "tutoring": ("study", "tutoring"), "first_generation": ("demographics", "first_generation"),
           "part_time_job": ("demographics", "part_time_job")}
_SCALARS = ["age", "major", "fullTime", "enrollment_year"]


def pandas_features(records: list[dict], batch_id: str, batch_seq: int, labeled: bool,
                    label_rule: LabelRule = DEFAULT_LABEL_RULE) -> pd.DataFrame:
    """Flatten raw records (already validated) into one row per student, sorted by student_id; a labeled batch's
    ``high_performer`` is its label rule on ``final_score``."""
    courses = [(r["student_id"], c["credits"], c["grades"]) for r in records for c in r["courses"]]
    sid, credits, grades = zip(*courses, strict=True)
    n = np.fromiter(map(len, grades), float, len(grades))
    total = np.fromiter(map(sum, grades), float, len(grades))
    course = pd.DataFrame({
        "student_id": sid, "credits": credits, "n": n, "sum": total,
        "max": np.fromiter(map(max, grades), float, len(grades)),
        "min": np.fromiter(map(min, grades), float, len(grades)), "avg": total / n,
    })
    course["weighted"] = course["credits"] * course["avg"]
    course["avg_sq"] = course["avg"] ** 2
    per = course.groupby("student_id").agg(
        num_courses=("n", "size"), total_credits=("credits", "sum"), num_grades=("n", "sum"),
        grade_sum=("sum", "sum"), max_grade=("max", "max"), min_grade=("min", "min"),
        weighted_sum=("weighted", "sum"), avg_sum=("avg", "sum"), avg_sq_sum=("avg_sq", "sum"),
    )
    per["avg_grade"] = per["grade_sum"] / per["num_grades"]
    per["credit_weighted_avg"] = per["weighted_sum"] / per["total_credits"]
    per["grade_range"] = per["max_grade"] - per["min_grade"]
    mean = per["avg_sum"] / per["num_courses"]
    per["course_avg_std"] = np.sqrt(np.maximum(0, per["avg_sq_sum"] / per["num_courses"] - mean**2))

    labels = LABELS if labeled else []
    students = pd.DataFrame({
        "student_id": [r["student_id"] for r in records],
        **{name: [r.get(name) for r in records] for name in [*_SCALARS, *labels]},
        **{name: [(r.get(group) or {}).get(field) for r in records] for name, (group, field) in _NESTED.items()},
    })
    if labeled:
        students["high_performer"] = [None if score is None else label_rule.applies(score)
                                      for score in students["final_score"]]
    frame = students.merge(per.reset_index(), on="student_id")
    frame["batch_id"], frame["batch_seq"] = batch_id, batch_seq
    columns = [name for name, *_ in FEATURE_SCHEMA if labeled or name not in LABELS]
    return frame[columns].sort_values("student_id").reset_index(drop=True)
