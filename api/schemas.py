"""The service's request and response bodies (they are also its OpenAPI documentation at /docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from validation.schema import record_schema


class PredictRequest(BaseModel):
    """Raw nested student records, as ingest takes them. A model trained on a dataset that declares extra fields
    (``GET /models`` lists them under ``features.extras``) reads them from each record's ``extra`` object, checked
    against their declared range or allowed values; courses and grades may be missing (a new student)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"records": [{
        "student_id": 3, "age": 27, "major": "Math", "fullTime": False, "enrollment_year": 2021,
        "courses": [{"course": "Statistics", "credits": 3, "grades": [74, 57, 59]},
                    {"course": "Linear Algebra", "credits": 4, "grades": [68, 64, 75]}]}]}]})

    records: list[Any] = Field(description="raw student records (the ingest schema; a dataset's declared fields "
                                           "under 'extra'; GET /record-schema gives the champion's)",
                               json_schema_extra={"items": record_schema()})


class Reason(BaseModel):
    """One input's share of a prediction: the student's value and how far it moved the model's output."""

    feature: str
    value: float | int | bool | str | None
    contribution: float


class Explanation(BaseModel):
    """Why the model said what it said: its output for this student (``margin``) is ``base`` plus every input's
    contribution; ``reasons`` are the largest of them. Units: log-odds (linear, XGBoost classifiers), probability
    (tree and forest classifiers) or points (regression)."""

    base: float
    margin: float
    units: str
    method: str  # linear, treeshap, path (tree and forest) or constant (the baseline)
    reasons: list[Reason]


class Prediction(BaseModel):
    """One answer: which model version (and A/B arm) predicted what for which student (and why, when asked)."""

    student_id: int | str = Field(description="the record's student_id: the pseudonym, or with ids=sis the school's "
                                              "own id as sent")
    prediction: float | int | bool
    probability: float | None
    model: str
    version: int
    arm: str | None
    counts: bool = Field(description="whether the monitors count this prediction (live performance, A/B arms, "
                                     "per-group figures): only an 'official' key's prediction on the school's stored "
                                     "record of the student counts")
    explanation: Explanation | None = None


class PredictResponse(BaseModel):
    """Every record's prediction, in the order the records came, under one request id (logged)."""

    request_id: str
    predictions: list[Prediction]


class Outcome(BaseModel):
    """A student's true outcome, once known."""

    model_config = ConfigDict(extra="forbid")

    student_id: int | str = Field(description="the pseudonym (a whole number 1..2**53), or with ids=sis the school's "
                                              "own id (text of at most 200 characters)")
    high_performer: bool | None = None
    final_score: float | None = Field(None, ge=0, le=100)

    @field_validator("student_id", mode="before")
    @classmethod
    def not_a_boolean(cls, value: object) -> object:
        """``true`` is no id (lax validation would read it as 1)."""
        if isinstance(value, bool):
            raise ValueError("a student id is a whole number or text, not true/false")
        return value

    @field_validator("student_id")
    @classmethod
    def bounded_id(cls, value: int | str) -> int | str:
        """A pseudonym in 1..2**53, or a school id of 1..200 characters (which ids=sis makes a pseudonym)."""
        if isinstance(value, int) and not 1 <= value <= 2**53:
            raise ValueError("a pseudonym is a whole number from 1 to 2**53")
        if isinstance(value, str) and not 0 < len(value.strip()) <= 200:
            raise ValueError("a school id is 1 to 200 characters")
        return value

    @model_validator(mode="after")
    def some_outcome(self) -> Outcome:
        """At least one of the two outcomes."""
        if self.high_performer is None and self.final_score is None:
            raise ValueError("give high_performer, final_score or both")
        return self


class FeedbackRequest(BaseModel):
    """True outcomes for students the service (or a batch) scored."""

    model_config = ConfigDict(extra="forbid")

    outcomes: list[Outcome] = Field(min_length=1, max_length=10_000)


class ConcludeRequest(BaseModel):
    """Conclude a test; before its horizon only when forced (the look is labelled so)."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False
