"""The feature contract, enforced where stored feature documents are read back (export, training, scoring,
drift): nothing downstream trusts the store blindly. A document written around the pipeline's checks stops
the run with a message naming the student and the field, never an opaque conversion error later."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from numbers import Real
from typing import Any

import pandas as pd

from infra.errors import UserError
from validation.contracts import DEFAULT_CONTRACT, FeatureContract

_EXPECTED = {"int64": "an integer", "double": "a number", "bool": "true or false", "string": "text"}


class FeatureContractError(UserError, ValueError):
    """A stored feature document breaks the feature contract."""


FRAME_PART = 20_000
"""Rows turned into a frame at a time: a batch is read into columns without its documents all held at once."""


def frame_in_parts(rows: Iterable[dict], columns: list[str], check: Callable[[dict], None] | None = None,
                   part: int = FRAME_PART) -> pd.DataFrame:
    """A frame of ``rows`` (a cursor, or any iterable) with exactly ``columns``, built ``part`` rows at a time, so a
    large batch's documents are never all in memory together; ``check`` sees each row first. The columns' types are
    inferred over the whole, as one frame of all the rows would have them."""
    iterator, parts = iter(rows), []
    while chunk := list(islice(iterator, part)):
        if check:
            for row in chunk:
                check(row)
        parts.append(pd.DataFrame.from_records(chunk, columns=columns))
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return pd.DataFrame.from_records([], columns=columns)
    return pd.concat(parts, ignore_index=True).infer_objects()


def _fits(value: Any, dtype: str) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return True
    if dtype == "bool":
        return isinstance(value, bool)
    if dtype == "string":
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    return dtype == "double" or float(value).is_integer()


def contract_problem(document: dict, contract: FeatureContract = DEFAULT_CONTRACT) -> tuple[str, Any, str] | None:
    """The first (field, value, expected) of a feature document that breaks the contract, or None."""
    if not isinstance(document.get("student_id"), int) or isinstance(document.get("student_id"), bool):
        return "student_id", document.get("student_id"), "an integer"
    for name, dtype, _, _ in contract.schema:
        if not _fits(document.get(name), dtype):
            return name, document.get(name), _EXPECTED[dtype]
    return None


def features_frame(documents: Iterable[dict], contract: FeatureContract = DEFAULT_CONTRACT,
                   collection: str = "students_features") -> pd.DataFrame:
    """Checked feature documents (a list, or a cursor read a part at a time) as a frame with exactly the contract's
    columns (its extras included), sorted by student, then batch (a student's terms in order)."""
    def check(document: dict) -> None:
        problem = contract_problem(document, contract)
        if problem:
            field, value, expected = problem
            student = document.get("student_id")
            raise FeatureContractError(
                f"{collection} holds a document that breaks the feature contract: student {student!r}, field "
                f"{field} = {str(repr(value))[:60]} (expected {expected}). It was written around this pipeline's "
                f"checks; fix or delete it (db.{collection}.deleteOne({{student_id: {student!r}}})) and run again")

    frame = frame_in_parts(documents, contract.columns, check)
    return frame.sort_values(["student_id", "batch_seq"], kind="stable").reset_index(drop=True)
