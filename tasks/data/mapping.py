"""A school's own export, declared (pure): a mapping from the source's columns to our raw record, read from one
YAML file and checked before any row is read, then applied row by row.

What a mapping can say (docs/your-data.md has a full example):
- ``source``: the file's format (csv, parquet, json, jsonl; by suffix when not given) and, for CSV, its delimiter,
  quote character, encoding and whether it has a header (else ``columns`` names them).
- ``student_id``: a column, or several (``columns: [school, number]``) made into one stable number.
- ``fields``: our record's fields (``age``, ``major``, ``study.hours_per_week``, ...), each from a ``column`` or a
  ``constant``, with an optional value ``map`` (``yes: true``, codes to categories) and ``scale`` ([low, high]:
  the source's own range, checked, then scaled to 0..100).
- ``courses``: wide to nested: each course's name and credits (column or constant) and its ``grades`` from one
  or more columns (one per period), with the scale of the source's grades.
- ``labels``: the score column (with its scale) and the label ``rule`` (``"pass: >= 50"``).
- ``extras``: fields of the source's own that become features (``absences: {column: absences, type: number,
  range: [0, 93]}``; ``type`` is number with its ``range``, bool, or category with its ``values``), carried in
  the record's ``extra`` and declared with the batch: the dataset's feature contract.

A row the mapping cannot turn into a record (a grade outside the declared scale, a value the map does not know)
is kept with its reasons and line number, so that it is quarantined like a bad JSON Lines line: nothing is dropped.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from infra.errors import UserError
from infra.pseudonyms import Pseudonyms
from validation.contracts import ExtraFeature, FeatureContract, LabelRule, RuleText
from validation.records import DEMOGRAPHICS, RECORD, STUDY, UnparseableLine

TARGETS = {**{name: rule for name, rule in RECORD.items() if name != "student_id"},
           **{f"study.{name}": rule for name, rule in STUDY.items()},
           **{f"demographics.{name}": rule for name, rule in DEMOGRAPHICS.items()}}
"""Every field of our record a mapping may fill (``courses`` and the labels have sections of their own)."""
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "y", "1", "t"}, {"false", "no", "n", "0", "f"}


class MappingError(UserError, ValueError):
    """The mapping file is missing, not YAML, or declares something the pipeline cannot do."""


class Value(BaseModel):
    """Where one value comes from: a ``column`` or a ``constant``; then an optional ``map`` and ``scale``."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    constant: Any = None
    map: dict[str, Any] | None = Field(None, description="source value (as text) -> our value")
    scale: tuple[float, float] | None = Field(None, description="the source's range, scaled to 0..100")

    @field_validator("map", mode="before")
    @classmethod
    def text_keys(cls, value: Any) -> Any:
        """Keys are the source's text: YAML reads an unquoted yes/no/on/off as true/false, and numbers as numbers."""
        if isinstance(value, dict):
            if any(isinstance(key, bool) for key in value):
                raise ValueError("a key was read as true/false: quote yes/no/on/off keys (\"yes\": true)")
            return {str(key): item for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def one_origin(self) -> Value:
        """Exactly one of column and constant."""
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of 'column' or 'constant'")
        if self.scale is not None and not self.scale[0] < self.scale[1]:
            raise ValueError(f"scale {list(self.scale)} must be [low, high] with low < high")
        return self


class Grades(BaseModel):
    """A course's grades: one column per period, in time order, on the source's scale."""

    model_config = ConfigDict(extra="forbid")

    columns: list[str] = Field(min_length=1)
    scale: tuple[float, float] | None = None

    @model_validator(mode="after")
    def ordered_scale(self) -> Grades:
        """A scale is [low, high]."""
        if self.scale is not None and not self.scale[0] < self.scale[1]:
            raise ValueError(f"scale {list(self.scale)} must be [low, high] with low < high")
        return self


class Course(BaseModel):
    """One course of the wide row: its name, credits and grade columns."""

    model_config = ConfigDict(extra="forbid")

    course: Value
    credits: Value
    grades: Grades


class Labels(BaseModel):
    """The outcome: the score column (and its scale) and the rule that makes the class."""

    model_config = ConfigDict(extra="forbid")

    score: Value
    rule: RuleText | None = Field(None, description="the label rule, e.g. 'pass: >= 50' (the run's wins)")


class Extra(Value):
    """A field of the source's own that becomes a feature: where it comes from (like any value), its type, and
    its range (a number) or allowed values (a category; the ``map``'s values when not given)."""

    type: Literal["number", "bool", "category"]
    range: tuple[float, float] | None = None
    values: list[str] | None = None
    description: str = Field("", max_length=200)
    segment: bool = False  # measure the model's performance per group of this field (a yes/no or a category)

    @field_validator("values", mode="before")
    @classmethod
    def text_values(cls, value: Any) -> Any:
        """Allowed values are text (a category's codes, as the source writes them)."""
        return [str(item) for item in value] if isinstance(value, list) else value

    def feature(self, name: str) -> ExtraFeature:
        """The declaration stored with the batch (a ``ValueError`` names what is missing)."""
        values = self.values if self.values is not None else (
            sorted({str(v) for v in self.map.values()}) if self.map and self.type == "category" else [])
        low, high = self.range if self.range is not None else (None, None)
        return ExtraFeature(name, self.type, low, high, tuple(values) if self.type == "category" else (),
                            self.description, self.segment)


class SourceFormat(BaseModel):
    """How to read the file."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "parquet", "json", "jsonl"] | None = None
    delimiter: str = Field(",", min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    encoding: str = "utf-8"
    header: bool = True
    columns: list[str] | None = Field(None, description="the column names when the file has no header")

    @model_validator(mode="after")
    def named_columns(self) -> SourceFormat:
        """A file without a header needs its columns named."""
        if not self.header and not self.columns:
            raise ValueError("a file without a header (header: false) needs 'columns'")
        return self


class StudentId(BaseModel):
    """The student id: one column of whole numbers, several columns made into one stable number, or (an export with
    no id at all) the row's number in the file: the line a CSV row starts on, a Parquet or JSON file's row."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    columns: list[str] | None = None
    row_number: bool = False

    @model_validator(mode="after")
    def one_origin(self) -> StudentId:
        """Exactly one of column, columns and row_number."""
        if sum([self.column is not None, self.columns is not None, self.row_number]) != 1:
            raise ValueError("give exactly one of 'column', 'columns' or 'row_number: true'")
        return self

    def source_columns(self) -> set[str]:
        """The columns the id is read from (none for a row number)."""
        return {self.column} if self.column else set(self.columns or [])


class Mapping(BaseModel):
    """A declared source: how to read it and how its columns become our record."""

    model_config = ConfigDict(extra="forbid")

    source: SourceFormat = Field(default_factory=SourceFormat)
    student_id: StudentId
    fields: dict[str, Value] = Field(default_factory=dict)
    courses: list[Course] = Field(default_factory=list)
    labels: Labels | None = None
    extras: dict[str, Extra] = Field(default_factory=dict)

    @field_validator("extras")
    @classmethod
    def declared_extras(cls, value: dict[str, Extra]) -> dict[str, Extra]:
        """Each extra is a valid declaration (name, range, values)."""
        for name, extra in value.items():
            extra.feature(name)
        return value

    @field_validator("fields")
    @classmethod
    def known_fields(cls, value: dict[str, Value]) -> dict[str, Value]:
        """Only fields our record has."""
        unknown = sorted(set(value) - set(TARGETS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; a mapping fills {sorted(TARGETS)} (declare a field of "
                             "your own under 'extras', with its type)")
        return value

    def columns(self) -> set[str]:
        """Every source column the mapping reads."""
        values = [*self.fields.values(), *(v for c in self.courses for v in (c.course, c.credits))]
        values += [self.labels.score] if self.labels else []
        values += list(self.extras.values())
        named = {v.column for v in values if v.column is not None}
        named |= {column for c in self.courses for column in c.grades.columns}
        return named | self.student_id.source_columns()

    def contract(self) -> FeatureContract:
        """The dataset's feature contract: our fields plus the extras this mapping declares."""
        return FeatureContract(tuple(extra.feature(name) for name, extra in self.extras.items()))

    def label_rule(self) -> LabelRule | None:
        """The rule the mapping declares, if any."""
        return LabelRule.parse(self.labels.rule) if self.labels and self.labels.rule else None


MAX_MAPPING_BYTES = 1_000_000
MAX_MAPPING_DEPTH = 20  # a mapping nests 4 levels; a deeper one is a mistake or an attack on the parser
_OPENS = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
          yaml.FlowSequenceStartToken)
_CLOSES = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def check_yaml_shape(text: str, path: Path) -> None:
    """Refuse anchors and aliases (``&a`` / ``*a``: nested aliases expand exponentially, the "billion laughs") and
    nesting deeper than ``MAX_MAPPING_DEPTH``, reading the YAML's tokens one at a time (no tree is built, so
    neither can cost more than the text's length)."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
            line = token.start_mark.line + 1
            raise MappingError(f"mapping {path}: line {line}: YAML anchors and aliases (& and *) are not allowed in "
                               "a mapping; write the values out")
        if isinstance(token, _OPENS):
            depth += 1
            if depth > MAX_MAPPING_DEPTH:
                raise MappingError(f"mapping {path}: line {token.start_mark.line + 1}: nested more than "
                                   f"{MAX_MAPPING_DEPTH} levels deep")
        elif isinstance(token, _CLOSES):
            depth -= 1


def read_mapping(path: str | Path) -> tuple[Mapping, str]:
    """The mapping in ``path`` and the SHA-256 of its text; every problem is one error naming the file and line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MappingError(f"mapping file not found: {path}")
    if path.stat().st_size > MAX_MAPPING_BYTES:
        raise MappingError(f"mapping {path} is over {MAX_MAPPING_BYTES:,} bytes: a mapping is a page of YAML")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MappingError(f"mapping {path} is not UTF-8 text (at byte {exc.start})") from None
    try:
        check_yaml_shape(text, path)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"mapping {path} must be a YAML mapping (sections source, student_id, fields, courses, "
                           "labels)")
    fields = data.get("fields")
    unknown = [name for name in fields if name not in TARGETS] if isinstance(fields, dict) else []
    if unknown:
        raise MappingError(f"mapping {path} is not valid: " + "; ".join(
            f"line {_line_of(node, ['fields', name])}: fields.{name}: unknown field; a mapping fills "
            f"{sorted(TARGETS)} (declare a field of your own under 'extras', with its type)"
            for name in unknown))
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = [part for part in error["loc"] if not isinstance(part, str) or not part.startswith(
                ("function-", "tuple[", "list[", "dict["))]
            line = _line_of(node, location)
            where = ".".join(str(part) for part in location) or "(top)"
            problems.append(f"line {line}: {where}: {error['msg']}" if line else f"{where}: {error['msg']}")
        raise MappingError(f"mapping {path} is not valid: " + "; ".join(problems)) from None
    return mapping, hashlib.sha256(text.encode()).hexdigest()


def _line_of(node: yaml.Node | None, location: list) -> int | None:
    """The 1-based line of the deepest YAML node on ``location`` that exists."""
    line = None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            found = next(((key, value) for key, value in node.value if key.value == str(part)), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def composite_id(parts: list[Any]) -> int:
    """Several columns made into one stable student number (the same values always give the same number)."""
    key = "\x1f".join("" if part is None else str(part).strip() for part in parts)
    return int(hashlib.sha256(key.encode()).hexdigest()[:13], 16) + 1  # < 2**52: exact in JSON and BSON


class RowProblem(Exception):
    """Why one row cannot become a record."""

    def __init__(self, field: str, rule: str, value: Any, expected: str):
        super().__init__(f"{field}: {rule}")
        self.reason = {"field": field, "rule": rule, "value": _short(value), "expected": expected}


def _short(value: Any) -> Any:
    return value if isinstance(value, int | float | bool) or value is None else str(value)[:80]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str)
                                                                                  and not value.strip())


def _typed(value: Any, kind: str) -> Any:
    """A text value as the kind our record's field holds; a value that is not one stays as it is (the record's
    checks then reject it with their own reason)."""
    if not isinstance(value, str):
        return value.item() if hasattr(value, "item") else value
    text = value.strip()
    try:
        if kind == "int" and text.lstrip("+-").isdigit():
            return int(text)
        if kind == "number":
            number = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
            return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
        if kind == "bool" and text.lower() in TRUE_WORDS | FALSE_WORDS:
            return text.lower() in TRUE_WORDS
    except ValueError:
        return value
    return text if kind in ("text", "datetime") else value


def _value(row: dict, spec: Value, field: str, kind: str) -> Any:
    """One value of the record from the row: its origin, then its map, then its scale, checked on the way."""
    if spec.constant is not None:
        raw = spec.constant
    else:
        if spec.column not in row:
            raise RowProblem(field, "required", None, f"a value in column {spec.column!r}")
        raw = row[spec.column]
    if _blank(raw):
        return None
    if spec.map is not None:
        key = str(raw).strip() if not isinstance(raw, bool) else str(raw).lower()
        if key not in spec.map:
            raise RowProblem(field, "map", raw, f"one of {sorted(spec.map)} (the mapping's values)")
        raw = spec.map[key]
    value = _typed(raw, "number" if spec.scale else kind)
    if spec.scale is not None:
        value = _scaled(value, spec.scale, field)
    return value


def _scaled(value: Any, scale: tuple[float, float], field: str) -> Any:
    """A value on the source's scale, checked against it, as 0..100 (rounded to 2 decimals)."""
    low, high = scale
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RowProblem(field, "type", value, f"a number on the source's scale {low:g}..{high:g}")
    if not low <= value <= high:
        raise RowProblem(field, "scale", value, f"{low:g}..{high:g} (the source's declared scale)")
    return round((value - low) / (high - low) * 100, 2)


def _set(record: dict, path: str, value: Any) -> None:
    group, _, name = path.rpartition(".")
    target = record.setdefault(group, {}) if group else record
    target[name] = value


def map_row(row: dict, mapping: Mapping, labeled: bool, line: int = 0, pseudonyms: Pseudonyms | None = None) -> dict:
    """One source row (on ``line`` of its file) as our raw record; a ``RowProblem`` when the mapping cannot make
    one. With ``pseudonyms`` (every ingest) the SIS id becomes its keyed pseudonym: the id's text, whatever it looks
    like, never enters the record; without (a preview that stores nothing) the legacy numbers."""
    ids = mapping.student_id
    if ids.row_number:
        student_id = line
    else:
        columns = [ids.column] if ids.column is not None else ids.columns
        missing = [column for column in columns if _blank(row.get(column))]
        if missing:
            raise RowProblem("student_id", "required", None, f"values in {missing}")
        values = [row.get(column) for column in columns]
        if pseudonyms is not None:
            student_id = pseudonyms.of(values[0] if ids.column is not None else values)
        elif ids.column is not None:
            student_id = _typed(values[0], "int")
        else:
            student_id = composite_id(values)
    record: dict[str, Any] = {"student_id": student_id}
    for path, spec in mapping.fields.items():
        value = _value(row, spec, path, TARGETS[path].kind)
        if value is not None or "." not in path:
            _set(record, path, value)
    courses = []
    for index, course in enumerate(mapping.courses):
        where = f"courses[{index}]"
        grades = []
        for column in course.grades.columns:
            raw = row.get(column)
            if _blank(raw):
                continue  # a period without a grade (yet)
            grade = _typed(raw, "number")
            grades.append(_scaled(grade, course.grades.scale, f"{where}.grades ({column})")
                          if course.grades.scale else grade)
        courses.append({"course": _value(row, course.course, f"{where}.course", "text"),
                        "credits": _value(row, course.credits, f"{where}.credits", "int"), "grades": grades})
    if mapping.courses:
        record["courses"] = courses
    if mapping.extras:
        record["extra"] = {name: _extra_value(row, extra, name) for name, extra in mapping.extras.items()}
    if labeled and mapping.labels is not None:
        score = _value(row, mapping.labels.score, "final_score", "number")
        if score is not None:
            record["final_score"] = score
    return record


def _extra_value(row: dict, extra: Extra, name: str) -> Any:
    """An extra field's value as its type: a category is text (a code read as a number is its text)."""
    kind = {"number": "number", "bool": "bool", "category": "text"}[extra.type]
    value = _value(row, extra, f"extra.{name}", kind)
    if extra.type == "category" and value is not None and not isinstance(value, str):
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return value


WITHHELD = "(withheld: the student's id)"


def map_rows(rows: list[tuple[int, dict]], mapping: Mapping, labeled: bool,
             pseudonyms: Pseudonyms | None = None) -> list:
    """Every (line, row) as a record, or, when the mapping cannot make one, an ``UnparseableLine`` that carries the
    line number and the reasons (quarantined like a bad JSON Lines line). With ``pseudonyms`` a quarantined row
    keeps its values but never its id columns' (a line the reader could not split into the header's columns is
    kept as its number only: where its id lies is not known)."""
    records: list = []
    id_columns = mapping.student_id.source_columns() if pseudonyms is not None else set()
    for line, row in rows:
        if isinstance(row, UnparseableLine):
            records.append(UnparseableLine(f"line {line}: {WITHHELD}", row.error, row.reasons) if id_columns
                           else row)
            continue
        try:
            records.append(map_row(row, mapping, labeled, line, pseudonyms))
        except RowProblem as problem:
            text = ", ".join(f"{k}={WITHHELD if k in id_columns else _short(v)}" for k, v in list(row.items())[:40])
            records.append(UnparseableLine(text[:2000], f"line {line}: {problem.reason['field']}: "
                                                        f"{problem.reason['rule']}", (problem.reason,)))
    return records
