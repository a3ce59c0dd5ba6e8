"""The service's JSON: plain values written as they are (no second walk over a 500-prediction body), non-finite
numbers as null, and whatever orjson does not know through FastAPI's encoder, as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import orjson
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel

from api.app import SafeJSONResponse


def render(content) -> object:
    return json.loads(SafeJSONResponse(content).body)


def test_plain_values_are_written_exactly_as_the_encoder_would_have_written_them():
    body = {"model": "high_performer", "version": 3, "predictions": [
        {"student_id": i, "prediction": i % 2 == 0, "probability": i / 7, "reasons": None,
         "logged_at": datetime(2026, 12, 7, 9, 30, 0, 123456, tzinfo=UTC), "name": "<b>é</b> $$NOW"}
        for i in range(500)]}
    assert SafeJSONResponse(body).body == orjson.dumps(jsonable_encoder(body))


def test_non_finite_numbers_and_numpy_values_are_json():
    assert render({"auc": float("nan"), "lift": float("inf"), "n": np.int64(4), "p": np.float64(0.5),
                   "v": np.array([1.5, 2.0])}) == {"auc": None, "lift": None, "n": 4, "p": 0.5, "v": [1.5, 2.0]}


def test_what_orjson_does_not_know_goes_through_the_encoder():
    class Answer(BaseModel):
        version: int
        ratio: float

    assert render(Answer(version=2, ratio=float("nan"))) == {"version": 2, "ratio": None}
    assert render({"ids": {3}, "share": Decimal("0.25")}) == {"ids": [3], "share": 0.25}
