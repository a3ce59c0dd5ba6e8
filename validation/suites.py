"""Expectation suites as code: the raw-record contract and the feature contract.

The limits come from ``validation/records.py`` so that the record-level checks (which decide quarantine)
and the suites (which report on the batch in Data Docs) can never disagree. Pure: builds objects, runs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from validation.contracts import BOOLEAN, DEFAULT_CONTRACT, DEFAULT_LABEL_RULE, KNOWN_MAJORS, FeatureContract, LabelRule
from validation.features import frame_in_parts
from validation.records import (
    AGE,
    ATTENDANCE,
    CREDITS,
    ENROLLMENT_YEAR,
    FINAL_SCORE,
    GRADE,
    MAX_COURSES,
    MAX_GRADES,
    STUDY_HOURS,
    UnparseableLine,
    is_int,
    is_number,
)

REQUIRED_FEATURES = ["student_id", "age", "major", "enrollment_year", "num_courses", "total_credits", "num_grades"]
# (the grade features are null for a student without grades: the models impute them, drift counts them as missing)
WARNING = {"severity": "warning"}  # a finding worth reading, not a reason to stop the run


def raw_frame(records: Iterable[Any], label_rule: LabelRule = DEFAULT_LABEL_RULE,
              contract: FeatureContract = DEFAULT_CONTRACT) -> pd.DataFrame:
    """One row per input record (a list, or a cursor read a part at a time) with the values the raw suite checks
    (the dataset's extra fields as ``extra.<name>``); a non-object record is a row of nulls."""
    return frame_in_parts((_raw_row(record, label_rule, contract) for record in records),
                          list(_raw_row({}, label_rule, contract).keys()))


def _raw_row(record: Any, label_rule: LabelRule, contract: FeatureContract) -> dict:
    if isinstance(record, UnparseableLine) or not isinstance(record, dict):
        record = {}
    courses = record.get("courses") if isinstance(record.get("courses"), list) else None
    course_dicts = [c for c in courses or [] if isinstance(c, dict)]
    grades = [g for c in course_dicts if isinstance(c.get("grades"), list) for g in c["grades"]]
    numeric = [g for g in grades if is_number(g)]
    credits = [c.get("credits") for c in course_dicts if is_number(c.get("credits"))]

    def number(value: Any, integer: bool = False) -> float | None:
        ok = is_int(value) if integer else is_number(value)
        return float(value) if ok else None

    return {
        "student_id": number(record.get("student_id"), integer=True),
        "age": number(record.get("age"), integer=True),
        "enrollment_year": number(record.get("enrollment_year"), integer=True),
        "major": record.get("major") if isinstance(record.get("major"), str) else None,
        "num_courses": float(len(courses)) if courses is not None else None,
        "min_grade": min(numeric) if numeric else None,
        "max_grade": max(numeric) if numeric else None,
        "grades_numeric": len(numeric) == len(grades),  # no grades yet is fine
        "min_credits": min(credits) if credits else None,
        "final_score": number(record.get("final_score")),
        # a record's own class, when it brings one, set against the batch's rule (null: no class of its own)
        "label_agrees": (record["high_performer"] == label_rule.applies(record["final_score"])
                         if isinstance(record.get("high_performer"), bool) and is_number(record.get("final_score"))
                         else None),
        **{f"extra.{e.name}": _extra_value(record.get("extra"), e.name) for e in contract.extras},
    }


def _extra_value(extra: Any, name: str) -> Any:
    """A declared extra field's value when it has a checkable shape (text, number, yes/no), else null."""
    value = extra.get(name) if isinstance(extra, dict) else None
    return value if isinstance(value, (str, bool)) or is_number(value) else None


def _extra_expectations(contract: FeatureContract, prefix: str) -> list:
    """The declared ranges and allowed values of a dataset's extra fields (column ``prefix + name``)."""
    import great_expectations.expectations as gxe

    expectations = []
    for e in contract.extras:
        column = prefix + e.name
        if e.kind == "number":
            expectations.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=e.low, max_value=e.high))
        else:
            allowed = [True, False] if e.kind == "bool" else list(e.values)
            expectations.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=allowed))
    return expectations


def suite_name(layer: str, labeled: bool, contract: FeatureContract) -> str:
    """``students-raw-labeled``; a dataset with extras gets suites of its own (``...-x<hash of its extras>``)."""
    import hashlib

    name = f"students-{layer}-{'labeled' if labeled else 'unlabeled'}"
    if contract.extras:
        name += "-x" + hashlib.sha256(repr(contract.extras).encode()).hexdigest()[:8]
    return name


def raw_suite(labeled: bool, contract: FeatureContract = DEFAULT_CONTRACT):
    """The raw-record contract, checked on every input record of a batch (accepted and rejected)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = [
        gxe.ExpectColumnValuesToNotBeNull(column="student_id"),
        gxe.ExpectColumnValuesToBeUnique(column="student_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="age"),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=AGE.low, max_value=AGE.high),
        gxe.ExpectColumnValuesToBeBetween(column="enrollment_year", min_value=ENROLLMENT_YEAR.low,
                                          max_value=ENROLLMENT_YEAR.high),
        gxe.ExpectColumnValuesToNotBeNull(column="major"),
        gxe.ExpectColumnValuesToBeBetween(column="num_courses", min_value=0, max_value=MAX_COURSES),
        gxe.ExpectColumnValuesToBeInSet(column="grades_numeric", value_set=[True]),
        gxe.ExpectColumnValuesToBeBetween(column="min_grade", min_value=GRADE.low, max_value=GRADE.high),
        gxe.ExpectColumnValuesToBeBetween(column="max_grade", min_value=GRADE.low, max_value=GRADE.high),
        gxe.ExpectColumnValuesToBeBetween(column="min_credits", min_value=CREDITS.low, max_value=CREDITS.high),
        gxe.ExpectColumnValuesToBeInSet(column="major", value_set=sorted(KNOWN_MAJORS), meta=WARNING),
        *_extra_expectations(contract, "extra."),
    ]
    if labeled:
        expectations += [
            gxe.ExpectColumnValuesToNotBeNull(column="final_score"),
            gxe.ExpectColumnValuesToBeBetween(column="final_score", min_value=FINAL_SCORE.low,
                                              max_value=FINAL_SCORE.high),
            gxe.ExpectColumnValuesToBeInSet(column="label_agrees", value_set=[True]),
        ]
    return gx.ExpectationSuite(name=suite_name("raw", labeled, contract), expectations=expectations)


def features_suite(labeled: bool, contract: FeatureContract = DEFAULT_CONTRACT):
    """The feature contract: one document per student, values in range, no nulls where every student has a value
    (grade features are null for students without grades), the dataset's extra fields in their declared range."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = [
        gxe.ExpectColumnValuesToBeUnique(column="student_id"),
        *[gxe.ExpectColumnValuesToNotBeNull(column=name) for name in REQUIRED_FEATURES],
        gxe.ExpectColumnValuesToBeBetween(column="num_courses", min_value=0, max_value=MAX_COURSES),
        gxe.ExpectColumnValuesToBeBetween(column="num_grades", min_value=0, max_value=MAX_COURSES * MAX_GRADES),
        gxe.ExpectColumnValuesToBeBetween(column="total_credits", min_value=0, max_value=CREDITS.high * MAX_COURSES),
        *[gxe.ExpectColumnValuesToBeBetween(column=name, min_value=GRADE.low, max_value=GRADE.high)
          for name in ("avg_grade", "max_grade", "min_grade", "credit_weighted_avg", "grade_range", "latest_grade")],
        gxe.ExpectColumnValuesToBeBetween(column="grade_trend", min_value=-GRADE.high, max_value=GRADE.high),
        gxe.ExpectColumnValuesToBeBetween(column="course_avg_std", min_value=0, max_value=GRADE.high / 2),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=AGE.low, max_value=AGE.high),
        gxe.ExpectColumnValuesToBeBetween(column="enrollment_year", min_value=ENROLLMENT_YEAR.low,
                                          max_value=ENROLLMENT_YEAR.high),
        gxe.ExpectColumnValuesToBeBetween(column="study_hours", min_value=STUDY_HOURS.low, max_value=STUDY_HOURS.high),
        gxe.ExpectColumnValuesToBeBetween(column="attendance_rate", min_value=ATTENDANCE.low,
                                          max_value=ATTENDANCE.high),
        *[gxe.ExpectColumnValuesToBeInSet(column=name, value_set=[True, False]) for name in BOOLEAN],
        *_extra_expectations(contract, ""),
        gxe.ExpectColumnValuesToNotBeNull(column="batch_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="batch_seq"),
        gxe.ExpectColumnValuesToBeInSet(column="major", value_set=sorted(KNOWN_MAJORS), meta=WARNING),
    ]
    if labeled:
        expectations += [
            gxe.ExpectColumnValuesToNotBeNull(column="final_score"),
            gxe.ExpectColumnValuesToNotBeNull(column="high_performer"),
            gxe.ExpectColumnValuesToBeBetween(column="final_score", min_value=FINAL_SCORE.low,
                                              max_value=FINAL_SCORE.high),
        ]
    return gx.ExpectationSuite(name=suite_name("features", labeled, contract), expectations=expectations)
