"""The feature contract computed a second way, with pandas: the tests check the in-database pipeline
(``tasks/data/features.py``) against it, and the data-path benchmark uses it as its baseline (written to be
fast, so the comparison is fair). Not used by the pipeline itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation.contracts import DEFAULT_CONTRACT, DEFAULT_LABEL_RULE, LABELS, FeatureContract, LabelRule

_NESTED = {"study_hours": ("study", "hours_per_week"), "attendance_rate": ("study", "attendance_rate"),
           "tutoring": ("study", "tutoring"), "first_generation": ("demographics", "first_generation"),
           "part_time_job": ("demographics", "part_time_job")}
_SCALARS = ["age", "major", "fullTime", "enrollment_year"]


def pandas_features(records: list[dict], batch_id: str, batch_seq: int, labeled: bool,
                    label_rule: LabelRule = DEFAULT_LABEL_RULE,
                    contract: FeatureContract = DEFAULT_CONTRACT) -> pd.DataFrame:
    """Flatten raw records (already validated) into one row per student, sorted by student_id; a labeled batch's
    ``high_performer`` is its label rule on ``final_score``; a student without courses or grades has counts of 0
    and null grade features; the contract's extra fields come from ``extra``."""
    courses = [(r["student_id"], c["credits"], c.get("grades") or []) for r in records for c in r.get("courses") or []]
    sid, credits, grades = zip(*courses, strict=True) if courses else ((), (), ())
    n = np.fromiter(map(len, grades), float, len(grades))
    some = n > 0

    def each(function, default=np.nan) -> np.ndarray:
        return np.fromiter((function(g) if g else default for g in grades), float, len(grades))

    course = pd.DataFrame({
        "student_id": pd.Series(sid, dtype="int64"), "credits": pd.Series(credits, dtype=float), "n": n,
        "sum": each(sum, 0.0), "max": each(max), "min": each(min),
        "first": each(lambda g: g[0]), "last": each(lambda g: g[-1]),
    })
    course["avg"] = np.where(some, course["sum"] / np.where(some, n, 1), np.nan)
    course["graded_credits"] = np.where(some, course["credits"], 0.0)
    course["weighted"] = np.where(some, course["credits"] * course["avg"], 0.0)
    course["step"] = np.where(n > 1, (course["last"] - course["first"]) / np.maximum(n - 1, 1), np.nan)
    per = course.groupby("student_id").agg(
        num_courses=("n", "size"), total_credits=("credits", "sum"), num_grades=("n", "sum"),
        grade_sum=("sum", "sum"), max_grade=("max", "max"), min_grade=("min", "min"),
        weighted_sum=("weighted", "sum"), graded_credits=("graded_credits", "sum"),
        course_avg_std=("avg", lambda a: float(np.std(a.dropna())) if a.notna().any() else np.nan),
        latest_grade=("last", "mean"), grade_trend=("step", "mean"),
    )
    per["avg_grade"] = per["grade_sum"] / per["num_grades"].where(per["num_grades"] > 0)
    per["credit_weighted_avg"] = per["weighted_sum"] / per["graded_credits"].where(per["graded_credits"] > 0)
    per["grade_range"] = per["max_grade"] - per["min_grade"]

    labels = LABELS if labeled else []
    students = pd.DataFrame({
        "student_id": [r["student_id"] for r in records],
        **{name: [r.get(name) for r in records] for name in [*_SCALARS, *labels]},
        **{name: [(r.get(group) or {}).get(field) for r in records] for name, (group, field) in _NESTED.items()},
        **{e.name: [(r.get("extra") or {}).get(e.name) for r in records] for e in contract.extras},
    })
    if labeled:
        students["high_performer"] = [None if score is None else label_rule.applies(score)
                                      for score in students["final_score"]]
    frame = students.merge(per.reset_index(), on="student_id", how="left")
    frame[["num_courses", "total_credits", "num_grades"]] = frame[
        ["num_courses", "total_credits", "num_grades"]].fillna(0).astype("int64")
    frame["batch_id"], frame["batch_seq"] = batch_id, batch_seq
    columns = [name for name in contract.columns if labeled or name not in LABELS]
    return frame[columns].sort_values("student_id").reset_index(drop=True)
