"""The labels of a scored batch (pure): the generator's twin, and records joined with posted outcomes."""

from __future__ import annotations

import pytest

from tasks.data.labels import LabelsNotFoundError, attach_labels, generator_twin
from tasks.data.synthetic import DriftKnobs, generate_batch
from validation.contracts import DEFAULT_LABEL_RULE

RECORDS = [{"student_id": i, "age": 20} for i in (1, 2, 3, 4)]


def test_the_generator_twin_has_the_same_students_and_features_with_their_outcomes():
    knobs = DriftKnobs(grade_inflation=5.0, missing_rate=0.1)
    scored = generate_batch(50, 7, labeled=False, knobs=knobs)
    students, seed, twin_knobs = generator_twin({"type": "generator", "seed": 7, "students": 50,
                                                  "drift": knobs.model_dump()})
    twin = generate_batch(students, seed, labeled=True, knobs=twin_knobs)
    assert twin.batch_id == scored.batch_id.replace("-U-", "-L-")
    assert [{k: v for k, v in r.items() if k not in ("final_score", "high_performer")} for r in twin.records] == \
        scored.records
    assert generator_twin({"type": "file", "path": "x.jsonl"}) is None


def test_outcomes_label_the_records_that_have_a_final_score():
    outcomes = {1: {"student_id": 1, "final_score": 81.5}, 2: {"student_id": 2, "final_score": 40.0,
                                                                "high_performer": False},
                3: {"student_id": 3, "high_performer": True}}
    batch_id, labeled, counts = attach_labels("b1", RECORDS, outcomes)
    assert [(r["student_id"], r["final_score"]) for r in labeled] == [(1, 81.5), (2, 40.0)]
    # the class is the batch's label rule on final_score (made in the aggregation), whatever class was posted
    assert all("high_performer" not in r for r in labeled)
    assert [DEFAULT_LABEL_RULE.applies(r["final_score"]) for r in labeled] == [True, False]
    assert counts == {"records": 4, "labeled": 2, "no_outcome": 1, "high_performer_only": 1}
    assert batch_id.startswith("labels-b1-") and len(batch_id) == len("labels-b1-") + 8
    later, _, _ = attach_labels("b1", RECORDS, {**outcomes, 4: {"student_id": 4, "final_score": 55.0}})
    assert later != batch_id  # more labels later: a new batch, not mistaken for the first


def test_no_usable_outcome_says_what_to_post():
    with pytest.raises(LabelsNotFoundError, match=r"none of its 4 students has a final_score posted \(1 have "
                                                  r"high_performer only\).*POST /feedback"):
        attach_labels("b1", RECORDS, {3: {"student_id": 3, "high_performer": True}})
