"""The raw record's JSON Schema is generated from the record rules, so it agrees with the quarantine: on generated
records (clean, damaged in every known way, with missing values) and on hand-made bad ones."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from tasks.data.synthetic import DriftKnobs, generate_batch
from tests.conftest import REFERENCE_RECORD
from validation.contracts import DEFAULT_CONTRACT, ExtraFeature, FeatureContract
from validation.records import check_record
from validation.schema import record_schema

pytestmark = pytest.mark.pure
NOT_IN_A_SCHEMA = {"storable", "format", "unique", "parse"}  # what only the rules can say


def agree(record, contract=DEFAULT_CONTRACT, labeled=False) -> None:
    reasons = [r for r in check_record(record, labeled, contract=contract)]
    if any(r["rule"] in NOT_IN_A_SCHEMA for r in reasons):
        return
    errors = list(jsonschema.Draft202012Validator(record_schema(contract, labeled)).iter_errors(record))
    assert (errors == []) == (reasons == []), (record, reasons, [e.message for e in errors])


def test_the_schema_agrees_with_the_rules_on_generated_records():
    batch = generate_batch(1500, 21, knobs=DriftKnobs(malformed_rate=0.2, missing_rate=0.3))
    for record in batch.records:
        agree(record)
    jsonschema.Draft202012Validator.check_schema(record_schema())


@pytest.mark.parametrize("change", [
    {"major": "   "}, {"major": "M" * 61}, {"major": "Stat\tistics"}, {"age": True}, {"age": 14},
    {"enrollment_year": 2021.5}, {"courses": []}, {"courses": None}, {"courses": "Statistics"},
    {"courses": [{"course": "A", "credits": 3, "grades": []}]}, {"courses": [{"course": "A", "credits": 0}]},
    {"study": {"hours_per_week": -1}}, {"study": None}, {"demographics": {"part_time_job": "yes"}},
    {"nickname": "anything"}, {"student_id": 0},
])
def test_the_schema_agrees_with_the_rules_on_hand_made_records(change):
    agree({**copy.deepcopy(REFERENCE_RECORD), **change})


def test_a_contracts_extras_and_a_labeled_record_are_in_the_schema():
    contract = FeatureContract((ExtraFeature("absences", "number", 0, 93), ExtraFeature("school", "category",
                                                                                         values=("GP", "MS"))))
    for extra in ({"absences": 4, "school": "GP"}, {"absences": 94}, {"school": "XX"}, {}, {"absences": None}):
        agree({**copy.deepcopy(REFERENCE_RECORD), "extra": extra}, contract)
    for score in (55.5, 101, None):
        record = {**copy.deepcopy(REFERENCE_RECORD), **({"final_score": score} if score is not None else {})}
        agree(record, labeled=True)
