"""What looks wrong about a batch although every record passed (pure): an unconverted scale, a one-class label,
likely dropouts; and a batch from the generator that looks right."""

from __future__ import annotations

import copy

from tasks.data.sanity import sanity_findings
from tasks.data.synthetic import generate_batch
from tests.conftest import REFERENCE_RECORD
from validation.contracts import DEFAULT_LABEL_RULE, LabelRule


def students(n: int, grades: list[float], score: float | None, **study) -> list[dict]:
    out = []
    for i in range(n):
        record = {**copy.deepcopy(REFERENCE_RECORD), "student_id": i + 1,
                  "courses": [{"course": "Math", "credits": 4, "grades": list(grades)}]}
        if score is not None:
            record["final_score"] = score
        if study:
            record["study"] = dict(study)
        out.append(record)
    return out


def test_the_generators_students_look_right():
    batch = generate_batch(500, 3)
    assert sanity_findings(batch.records, True, DEFAULT_LABEL_RULE) == []


def test_grades_and_scores_that_never_pass_20_look_like_an_unconverted_scale():
    found = {f["check"]: f for f in sanity_findings(students(30, [12, 14], 13.5, hours_per_week=5), True,
                                                    LabelRule.parse("pass: >= 50"))}
    assert set(found) == {"grade_scale", "score_scale", "one_class"}
    assert found["grade_scale"]["numbers"] == {"grades": 60, "highest": 14}
    assert "grades.scale: [0, 20]" in found["grade_scale"]["message"]
    assert found["one_class"]["message"].startswith("no student of 30 is 'pass' (final_score >= 50)")
    few = sanity_findings(students(5, [12, 14], None), False, DEFAULT_LABEL_RULE)
    assert few == []  # 10 grades say nothing about a scale


def test_a_zero_score_without_activity_is_a_likely_dropout():
    records = students(25, [60, 70], 75.0, attendance_rate=0.9) + students(2, [60], 0.0, attendance_rate=0.0)
    records[-1]["student_id"], records[-2]["student_id"] = 901, 902
    [finding] = sanity_findings(records, True, DEFAULT_LABEL_RULE)
    assert finding["check"] == "likely_dropouts" and finding["numbers"] == {"students": 2, "first": [902, 901]}


def test_students_without_grades_are_counted_not_rejected():
    records = students(30, [60, 70], None) + students(3, [], None) + [
        {k: v for k, v in REFERENCE_RECORD.items() if k != "courses"}]
    [finding] = sanity_findings(records, False, DEFAULT_LABEL_RULE)
    assert finding["check"] == "no_grades" and finding["numbers"] == {"students": 4, "of": 34}


def test_students_already_in_an_earlier_batch_of_a_file_are_reported(db, reference_record):
    from tasks.data.ingest import BatchInput
    from tasks.data.sanity import returning_finding
    from tasks.data.tasks import aggregate_features, ingest_batch

    assert returning_finding(10, {}) == []
    file = {"type": "file", "path": "/x/maths.csv"}
    records = [{**copy.deepcopy(reference_record), "student_id": i} for i in range(1, 41)]
    ingest_batch.fn(BatchInput("maths", False, records, file), 1000)
    aggregate_features.fn("maths")
    second = ingest_batch.fn(BatchInput("portuguese", False, records[10:] + [
        {**copy.deepcopy(reference_record), "student_id": 99}], {**file, "path": "/x/portuguese.csv"}), 1000)
    [message] = second.sanity
    assert message.startswith("30 of 31 students are already in an earlier batch (maths: 30)")
    generated = ingest_batch.fn(BatchInput("gen", False, records, {"type": "generator"}), 1000)
    assert generated.sanity == []  # the generator reuses ids by design: nothing to say


def test_a_zero_score_beside_study_and_grades_is_reported_too():
    """A school's file: no attendance column, a study-time category that is never 0, grades in two periods, and a
    final score of 0 for students who did not sit the final (the public Portuguese and maths data: 15 and 38)."""
    records = students(40, [60, 70], 75.0, hours_per_week=2) + students(3, [45, 55], 0.0, hours_per_week=1)
    [finding] = sanity_findings(records, True, LabelRule.parse("pass: >= 50"))
    assert finding["check"] == "zero_scores"
    assert finding["numbers"] == {"students": 3, "of": 43, "with_grades": 3, "mean_grade": 50.0}
    assert finding["message"].startswith("3 of 43 students have a final score of 0 although their record shows "
                                         "study or attendance; 3 of them had grades during the term (mean 50.0")
    both = students(30, [60], 75.0, hours_per_week=2) + students(1, [], 0.0, hours_per_week=3) + students(
        2, [50], 0.0, attendance_rate=0.0)
    found = {f["check"]: f["numbers"] for f in sanity_findings(both, True, DEFAULT_LABEL_RULE)}
    assert found["zero_scores"] == {"students": 1, "of": 33, "with_grades": 0, "mean_grade": None}
    assert found["likely_dropouts"]["students"] == 2 and found["no_grades"] == {"students": 1, "of": 33}
