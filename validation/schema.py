"""The raw record as a JSON Schema, generated from the record rules (``validation/records.py``): the one source
the quarantine also reads, so what the service documents is what it checks. Shown in the OpenAPI document of
``POST /predict`` and, with the champion's declared extras, at ``GET /record-schema``. A JSON Schema cannot say
everything the rules do (a record MongoDB could not store, an ISO 8601 time, a repeated id): those stay the
rules' own, and the 422 names them."""

from __future__ import annotations

from typing import Any

from validation.contracts import DEFAULT_CONTRACT, FeatureContract
from validation.records import (
    COURSE,
    DEMOGRAPHICS,
    GRADE,
    LABEL_RULES,
    MAX_COURSES,
    MAX_GRADES,
    RECORD,
    STUDY,
    Rule,
)

PRINTABLE = r"^(?=.*\S)[^\u0000-\u001f\u007f]*$"  # not only spaces, no control characters
_TYPES = {"int": "integer", "number": "number", "bool": "boolean", "text": "string", "datetime": "string"}


def rule_schema(rule: Rule) -> dict[str, Any]:
    """One field's rule as JSON Schema (null allowed where the field is optional)."""
    schema: dict[str, Any] = {"type": _TYPES[rule.kind]}
    if rule.limits is not None:
        schema |= {"minimum": rule.limits.low, "maximum": rule.limits.high}
    if rule.kind == "text":
        schema |= {"minLength": 1, "maxLength": rule.max_length, "pattern": PRINTABLE}
    if rule.kind == "datetime":
        schema["format"] = "date-time"
    if not rule.required:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _object(rules: dict[str, Rule], description: str) -> dict[str, Any]:
    return {"type": "object", "description": description,
            "properties": {name: rule_schema(rule) for name, rule in rules.items()},
            "required": [name for name, rule in rules.items() if rule.required]}


def record_schema(contract: FeatureContract = DEFAULT_CONTRACT, labeled: bool = False) -> dict[str, Any]:
    """The raw record (and, labeled, its outcome fields) with ``contract``'s extras under ``extra``."""
    grade = rule_schema(Rule("number", required=True, limits=GRADE))
    course = _object(COURSE, "one course and its grades in time order (none yet: an empty list)")
    course["properties"]["grades"] = {"type": "array", "items": grade, "maxItems": MAX_GRADES}
    extra: dict[str, Any] = {"type": "object", "description": "the dataset's declared fields of its own"}
    if contract.extras:
        properties = {}
        for e in contract.extras:
            if e.kind == "number":
                one = {"type": "number", "minimum": e.low, "maximum": e.high}
            elif e.kind == "bool":
                one = {"type": "boolean"}
            else:
                one = {"type": "string", "enum": list(e.values)}
            properties[e.name] = {"anyOf": [one, {"type": "null"}], "description": e.description or e.kind}
        extra["properties"] = properties
    schema = _object(RECORD, "a student record as ingest takes it (unknown fields are stored, not used)")
    schema["properties"] |= {
        "courses": {"anyOf": [{"type": "array", "items": course, "maxItems": MAX_COURSES}, {"type": "null"}],
                    "description": "courses so far (missing or empty: a new student)"},
        "study": {"anyOf": [_object(STUDY, "study habits"), {"type": "null"}]},
        "demographics": {"anyOf": [_object(DEMOGRAPHICS, "background"), {"type": "null"}]},
        "extra": {"anyOf": [extra, {"type": "null"}]},
    }
    if labeled:
        schema["properties"] |= {name: rule_schema(rule) for name, rule in LABEL_RULES.items()}
        schema["required"] = [*schema["required"], "final_score"]
    schema["examples"] = [{
        "student_id": 3, "age": 27, "major": "Math", "fullTime": False, "enrollment_year": 2021,
        "courses": [{"course": "Statistics", "credits": 3, "grades": [74, 57, 59]},
                    {"course": "Linear Algebra", "credits": 4, "grades": [68, 64, 75]}]}]
    return schema
