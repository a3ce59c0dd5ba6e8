"""Record-level checks on raw student records: each failure is a machine-readable reason (field, rule, value).

These decide which records reach ``students_raw`` and which go to ``students_rejected``. The same limits
feed the Great Expectations suites (``validation/suites.py``), so the rules are written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

KNOWN_MAJORS = frozenset(["Math", "Physics", "Computer Science", "Biology", "Economics", "History", "Literature"])


@dataclass(frozen=True)
class Range:
    """Inclusive numeric limits for a field."""

    low: float
    high: float


# Top-level scalar fields: (type, inclusive range or None, required)
AGE = Range(15, 100)
ENROLLMENT_YEAR = Range(1980, 2035)
GRADE = Range(0, 100)
CREDITS = Range(1, 12)
STUDY_HOURS = Range(0, 100)
ATTENDANCE = Range(0, 1)
FINAL_SCORE = Range(0, 100)


def _reason(field: str, rule: str, value: Any = None, expected: str | None = None) -> dict:
    reason = {"field": field, "rule": rule, "value": _safe_value(value)}
    if expected is not None:
        reason["expected"] = expected
    return reason


def _safe_value(value: Any) -> Any:
    """Keep the offending value readable and small enough to store."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text[:120]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and value == value  # NaN fails


def _check_number(reasons: list, record: dict, field: str, limits: Range, *, integer: bool, required: bool,
                  where: str = "") -> None:
    value, name = record.get(field), where + field
    if value is None:
        if required:
            reasons.append(_reason(name, "required", None, "a value"))
        return
    if not (_is_int(value) if integer else _is_number(value)):
        reasons.append(_reason(name, "type", value, "integer" if integer else "number"))
    elif not limits.low <= value <= limits.high:
        reasons.append(_reason(name, "range", value, f"{limits.low:g}..{limits.high:g}"))


@dataclass(frozen=True)
class UnparseableLine:
    """A line of a JSON Lines file that is not valid JSON: kept so that it is rejected, not dropped."""

    text: str
    error: str


def check_record(record: Any, labeled: bool) -> list[dict]:
    """Every reason this record cannot enter the raw layer; an empty list means it is accepted."""
    if isinstance(record, UnparseableLine):
        return [_reason("$", "parse", record.text, record.error)]
    if not isinstance(record, dict):
        return [_reason("$", "type", record, "an object")]
    reasons: list[dict] = []
    _check_number(reasons, record, "student_id", Range(1, 2**53), integer=True, required=True)
    _check_number(reasons, record, "age", AGE, integer=True, required=True)
    _check_number(reasons, record, "enrollment_year", ENROLLMENT_YEAR, integer=True, required=True)
    major = record.get("major")
    if not isinstance(major, str) or not major.strip():
        reasons.append(_reason("major", "required" if major is None else "type", major, "a non-empty string"))
    if "fullTime" in record and not isinstance(record["fullTime"], bool):
        reasons.append(_reason("fullTime", "type", record["fullTime"], "true or false"))
    reasons.extend(_check_courses(record.get("courses")))
    reasons.extend(_check_optional_groups(record))
    if labeled:
        _check_number(reasons, record, "final_score", FINAL_SCORE, integer=False, required=True)
        if not isinstance(record.get("high_performer"), bool):
            reasons.append(_reason("high_performer", "required" if record.get("high_performer") is None else "type",
                                   record.get("high_performer"), "true or false"))
    return reasons


def _check_courses(courses: Any) -> list[dict]:
    if courses is None:
        return [_reason("courses", "required", None, "a list of courses")]
    if not isinstance(courses, list):
        return [_reason("courses", "type", courses, "a list of courses")]
    if not courses:
        return [_reason("courses", "min_length", 0, "at least one course")]
    reasons: list[dict] = []
    for i, course in enumerate(courses):
        where = f"courses[{i}]"
        if not isinstance(course, dict):
            reasons.append(_reason(where, "type", course, "an object"))
            continue
        if not isinstance(course.get("course"), str) or not course["course"].strip():
            reasons.append(_reason(f"{where}.course", "required", course.get("course"), "a course name"))
        _check_number(reasons, course, "credits", CREDITS, integer=True, required=True, where=f"{where}.")
        grades = course.get("grades")
        if not isinstance(grades, list) or not grades:
            reasons.append(_reason(f"{where}.grades", "min_length" if grades == [] else "type", grades,
                                   "a non-empty list of numbers"))
            continue
        for j, grade in enumerate(grades):
            if not _is_number(grade):
                reasons.append(_reason(f"{where}.grades[{j}]", "type", grade, "number"))
            elif not GRADE.low <= grade <= GRADE.high:
                reasons.append(_reason(f"{where}.grades[{j}]", "range", grade, "0..100"))
    return reasons


def _check_optional_groups(record: dict) -> list[dict]:
    """study and demographics are optional, and so is each of their fields; present values must make sense."""
    reasons: list[dict] = []
    for group, limits in (("study", {"hours_per_week": STUDY_HOURS, "attendance_rate": ATTENDANCE}),
                          ("demographics", {})):
        value = record.get(group)
        if value is None:
            continue
        if not isinstance(value, dict):
            reasons.append(_reason(group, "type", value, "an object"))
            continue
        for field, limit in limits.items():
            _check_number(reasons, value, field, limit, integer=False, required=False, where=f"{group}.")
    return reasons


def split_records(records: list, labeled: bool) -> tuple[list[tuple[int, dict]], list[dict]]:
    """Split a batch into accepted ``(position, record)`` pairs and rejection documents.

    A student id seen earlier in the same batch is rejected as a duplicate (the first occurrence stays).
    """
    accepted: list[tuple[int, dict]] = []
    rejected: list[dict] = []
    seen: dict[int, int] = {}
    for position, record in enumerate(records):
        reasons = check_record(record, labeled)
        student_id = record.get("student_id") if isinstance(record, dict) else None
        if not reasons and student_id in seen:
            reasons = [_reason("student_id", "unique", student_id, f"first seen at position {seen[student_id]}")]
        if reasons:
            rejected.append({"position": position, "student_id": _safe_value(student_id), "reasons": reasons,
                             "record": _storable(record)})
        else:
            seen[student_id] = position
            accepted.append((position, record))
    return accepted, rejected


def _storable(record: Any) -> dict:
    """The rejected input as it came, in a form MongoDB can store."""
    if isinstance(record, dict):
        return record
    if isinstance(record, UnparseableLine):
        return {"line": record.text[:2000]}
    return {"value": _safe_value(record)}
