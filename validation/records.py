"""Record-level checks on raw student records: each failure is a machine-readable reason (field, rule, value).

These decide which records reach ``students_raw`` and which go to ``students_rejected``. Every field of the raw
schema has a rule (``RECORD``, ``STUDY``, ``DEMOGRAPHICS``, ``COURSE``, ``LABEL_RULES`` below); any record, unknown
fields included, must also be storable in MongoDB. The same limits feed the Great Expectations suites
(``validation/suites.py``), so the rules are written once, here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from numbers import Real
from typing import Any, Literal

import bson
from bson.errors import BSONError

from validation.contracts import DEFAULT_CONTRACT, FeatureContract, LabelRule

INT64 = (-(2**63), 2**63 - 1)
MAX_NESTING = 100  # MongoDB refuses documents nested deeper
MAX_RECORD_BYTES = 1_000_000  # far above any real record, far below MongoDB's 16 MB document limit
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Range:
    """Inclusive numeric limits for a field."""

    low: float
    high: float


@dataclass(frozen=True)
class Rule:
    """What one field may hold: its kind, whether it is required, and its limits."""

    kind: Literal["int", "number", "bool", "text", "datetime"]
    required: bool = False
    limits: Range | None = None
    max_length: int = 0  # text: at most this many characters


AGE = Range(15, 100)
ENROLLMENT_YEAR = Range(1980, 2035)
GRADE = Range(0, 100)
CREDITS = Range(1, 12)
STUDY_HOURS = Range(0, 100)
ATTENDANCE = Range(0, 1)
FINAL_SCORE = Range(0, 100)
MAX_COURSES, MAX_GRADES = 30, 30

RECORD = {
    "student_id": Rule("int", required=True, limits=Range(1, 2**53)),
    "age": Rule("int", required=True, limits=AGE),
    "major": Rule("text", required=True, max_length=60),
    "fullTime": Rule("bool"),
    "enrollment_year": Rule("int", required=True, limits=ENROLLMENT_YEAR),
    "generated_at": Rule("datetime"),
}
STUDY = {"hours_per_week": Rule("number", limits=STUDY_HOURS), "attendance_rate": Rule("number", limits=ATTENDANCE),
         "tutoring": Rule("bool")}
DEMOGRAPHICS = {"first_generation": Rule("bool"), "part_time_job": Rule("bool")}
COURSE = {"course": Rule("text", required=True, max_length=100), "credits": Rule("int", required=True, limits=CREDITS)}
GRADE_RULE = Rule("number", required=True, limits=GRADE)
LABEL_RULES = {"final_score": Rule("number", required=True, limits=FINAL_SCORE),
               "high_performer": Rule("bool")}  # optional: the batch's label rule decides it from final_score
EXPECTED = {"int": "integer", "number": "number", "bool": "true or false", "text": "text",
            "datetime": "an ISO 8601 date-time"}


def _reason(field: str, rule: str, value: Any = None, expected: str | None = None) -> dict:
    reason = {"field": _safe_value(field), "rule": rule, "value": _safe_value(value)}
    if expected is not None:
        reason["expected"] = expected
    return reason


def _safe_value(value: Any) -> Any:
    """Keep the offending value readable, small and storable (a huge integer or a deep object becomes text)."""
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, int):
        return value if INT64[0] <= value <= INT64[1] else str(value)[:40] + ("..." if len(str(value)) > 40 else "")
    text = value if isinstance(value, str) else _short_repr(value)
    return text[:120]


def _short_repr(value: Any) -> str:
    try:
        return repr(value)[:200]
    except RecursionError:
        return f"<deeply nested {type(value).__name__}>"


def is_int(value: Any) -> bool:
    """An integer, and not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number (not a boolean, not NaN)."""
    return isinstance(value, Real) and not isinstance(value, bool) and value == value  # NaN fails


_KIND_CHECKS = {"int": is_int, "number": is_number, "bool": lambda v: isinstance(v, bool),
                "text": lambda v: isinstance(v, str), "datetime": lambda v: isinstance(v, str)}


def check_field(container: dict, name: str, rule: Rule, where: str = "") -> list[dict]:
    """The reasons (none, or one) why ``container[name]`` breaks ``rule``."""
    return check_value(container.get(name), where + name, rule)


def check_value(value: Any, field: str, rule: Rule) -> list[dict]:
    """The reasons (none, or one) why ``value``, found at ``field``, breaks ``rule``."""
    if value is None:
        return [_reason(field, "required", None, "a value")] if rule.required else []
    if not _KIND_CHECKS[rule.kind](value):
        return [_reason(field, "type", value, EXPECTED[rule.kind])]
    if rule.limits is not None and not rule.limits.low <= value <= rule.limits.high:
        return [_reason(field, "range", value, f"{rule.limits.low:g}..{rule.limits.high:g}")]
    if rule.kind == "text":
        if not value.strip():
            return [_reason(field, "required" if rule.required else "format", value, "non-empty text")]
        if len(value) > rule.max_length:
            return [_reason(field, "max_length", value, f"at most {rule.max_length} characters")]
        if _CONTROL.search(value):
            return [_reason(field, "format", value, "printable text without control characters")]
    if rule.kind == "datetime":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return [_reason(field, "format", value, EXPECTED["datetime"])]
    return []


@dataclass(frozen=True)
class UnparseableLine:
    """A line of a file that cannot become a record (not valid JSON, a malformed CSV row, a row a mapping cannot
    map): kept so that it is rejected with its reasons, not dropped."""

    text: str
    error: str
    reasons: tuple[dict, ...] = ()  # what exactly was wrong, when more is known than that the line did not parse


def check_record(record: Any, labeled: bool, label_rule: LabelRule | None = None,
                 contract: FeatureContract = DEFAULT_CONTRACT) -> list[dict]:
    """Every reason this record cannot enter the raw layer; an empty list means it is accepted. A labeled record's
    own ``high_performer``, when it has one, must agree with ``label_rule`` on its ``final_score`` (the rule
    decides the label; a file whose labels follow another rule would mix two questions in one store). The extra
    fields the dataset's ``contract`` declares are checked under ``extra`` (each may be missing)."""
    if isinstance(record, UnparseableLine):
        return [_reason("$", "parse", record.text, record.error), *record.reasons]
    if not isinstance(record, dict):
        return [_reason("$", "type", record, "an object")]
    storable = check_storable(record)
    if storable:
        return storable  # nothing else can be trusted (or stored) about this record
    reasons = [reason for name, rule in RECORD.items() for reason in check_field(record, name, rule)]
    reasons += _check_courses(record.get("courses"))
    for group, rules in (("study", STUDY), ("demographics", DEMOGRAPHICS)):
        reasons += _check_group(record, group, rules)
    if contract.extras:
        reasons += check_extras(record.get("extra"), contract)
    if labeled:
        label_reasons = [reason for name, rule in LABEL_RULES.items() for reason in check_field(record, name, rule)]
        reasons += label_reasons
        own = record.get("high_performer")
        if label_rule is not None and not label_reasons and isinstance(own, bool) \
                and own != label_rule.applies(record["final_score"]):
            reasons.append(_reason("high_performer", "label_rule", own,
                                   f"{not own} for final_score {record['final_score']} ({label_rule.text})"))
    return reasons


def _check_group(record: dict, group: str, rules: dict[str, Rule]) -> list[dict]:
    """``study`` and ``demographics`` are optional, and so is each of their fields."""
    value = record.get(group)
    if value is None:
        return []
    if not isinstance(value, dict):
        return [_reason(group, "type", value, "an object")]
    return [reason for name, rule in rules.items() for reason in check_field(value, name, rule, f"{group}.")]


def check_extras(extra: Any, contract: FeatureContract) -> list[dict]:
    """The declared extra fields of one record (``extra``: absent, or an object; each field may be missing)."""
    if extra is None:
        return []
    if not isinstance(extra, dict):
        return [_reason("extra", "type", extra, "an object of the dataset's extra fields")]
    reasons: list[dict] = []
    for feature in contract.extras:
        value, field = extra.get(feature.name), f"extra.{feature.name}"
        if value is None:
            continue
        if feature.kind == "number":
            reasons += check_value(value, field, Rule("number", limits=Range(feature.low, feature.high)))
        elif feature.kind == "bool":
            reasons += check_value(value, field, Rule("bool"))
        elif not isinstance(value, str) or value not in feature.values:
            reasons.append(_reason(field, "allowed", value, f"one of {list(feature.values)[:20]}"))
    return reasons


def _check_courses(courses: Any) -> list[dict]:
    """Courses are optional (a new student has none yet), and so are a course's grades (none given yet): the grade
    features are then missing, not an error."""
    if courses is None:
        return []
    if not isinstance(courses, list):
        return [_reason("courses", "type", courses, "a list of courses")]
    if len(courses) > MAX_COURSES:
        return [_reason("courses", "max_length", len(courses), f"at most {MAX_COURSES} courses")]
    reasons: list[dict] = []
    for i, course in enumerate(courses):
        where = f"courses[{i}]"
        if not isinstance(course, dict):
            reasons.append(_reason(where, "type", course, "an object"))
            continue
        reasons += [reason for name, rule in COURSE.items() for reason in check_field(course, name, rule, f"{where}.")]
        grades = course.get("grades", [])
        if not isinstance(grades, list):
            reasons.append(_reason(f"{where}.grades", "type", grades, "a list of numbers (empty: no grades yet)"))
            continue
        if len(grades) > MAX_GRADES:
            reasons.append(_reason(f"{where}.grades", "max_length", len(grades), f"at most {MAX_GRADES} grades"))
            continue
        if all(type(grade) in (int, float) and GRADE.low <= grade <= GRADE.high for grade in grades):
            continue  # the common case, without building a field name per grade
        for j, grade in enumerate(grades):
            reasons += check_value(grade, f"{where}.grades[{j}]", GRADE_RULE)
    return reasons


def check_storable(record: dict) -> list[dict]:
    """Why MongoDB could not store this record as it is: field names starting with ``$`` or holding ``.`` or
    NUL, integers beyond 64 bits, nesting beyond MongoDB's limit, or a document far too large."""
    reasons: list[dict] = []
    _walk(record, [], 1, reasons)
    if reasons:
        return reasons[:5]
    try:
        size = len(bson.encode(record))
    except (BSONError, OverflowError, TypeError, ValueError) as exc:
        return [_reason("$", "storable", type(exc).__name__, f"a BSON document ({_short_repr(str(exc))[:100]})")]
    if size > MAX_RECORD_BYTES:
        return [_reason("$", "storable", f"{size} bytes", f"at most {MAX_RECORD_BYTES} bytes")]
    return []


def _path(parts: list) -> str:
    """``["courses", 0, "grades", 1]`` -> ``courses[0].grades[1]``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "$"


def _walk(value: Any, parts: list, depth: int, reasons: list[dict]) -> None:
    """Collect what MongoDB could not store below ``value`` (paths are built only for what is reported)."""
    if depth > MAX_NESTING:
        reasons.append(_reason(_path(parts), "storable", f"nested {depth}+ levels", f"at most {MAX_NESTING} levels"))
        return
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if len(reasons) >= 5:
            return
        if isinstance(value, dict) and (not isinstance(key, str) or key.startswith("$") or "." in key
                                        or "\x00" in key):
            reasons.append(_reason(_path([*parts, key]) if isinstance(key, str) else repr(key), "storable", key,
                                   "a text field name without a leading '$', '.' or NUL"))
        elif isinstance(item, (dict, list)):
            parts.append(key)
            _walk(item, parts, depth + 1, reasons)
            parts.pop()
        elif type(item) is int and not INT64[0] <= item <= INT64[1]:
            reasons.append(_reason(_path([*parts, key]), "storable", item, "an integer within 64 bits"))


def split_records(records: list, labeled: bool, label_rule: LabelRule | None = None,
                  contract: FeatureContract = DEFAULT_CONTRACT, seen: dict[int, int] | None = None,
                  start: int = 0) -> tuple[list[tuple[int, dict]], list[dict]]:
    """Split a batch into accepted ``(position, record)`` pairs and rejection documents (a labeled batch's records
    checked against its ``label_rule``, every record's extra fields against the dataset's ``contract``).

    A student id seen earlier in the same batch is rejected as a duplicate (the first occurrence stays). A batch
    split a part at a time passes the same ``seen`` (student id -> position) to every part, and each part's
    ``start`` (the position of its first record in the batch).
    """
    accepted: list[tuple[int, dict]] = []
    rejected: list[dict] = []
    seen = {} if seen is None else seen
    for position, record in enumerate(records, start=start):
        reasons = check_record(record, labeled, label_rule, contract)
        student_id = record.get("student_id") if isinstance(record, dict) else None
        if not reasons and student_id in seen:
            reasons = [_reason("student_id", "unique", student_id, f"first seen at position {seen[student_id]}")]
        if reasons:
            rejected.append({"position": position, "student_id": _safe_value(student_id), "reasons": reasons,
                             "record": storable_copy(record)})
        else:
            seen[student_id] = position
            accepted.append((position, record))
    return accepted, rejected


def storable_copy(record: Any) -> dict:
    """The rejected input as it came, in a form MongoDB can always store (as JSON text when it cannot be
    stored as a document)."""
    if isinstance(record, UnparseableLine):
        return {"line": record.text[:2000]}
    if not isinstance(record, dict):
        return {"value": _safe_value(record)}
    if not check_storable(record):
        return record
    import json

    try:
        text = json.dumps(record, default=str)
    except (RecursionError, ValueError):
        text = _short_repr(record)
    return {"unstorable_json": text[:20000]}
