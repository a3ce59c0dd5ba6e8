"""Record-level checks: every kind of bad record gets its machine-readable reason."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import REFERENCE_RECORD
from validation.contracts import DEFAULT_LABEL_RULE, ExtraFeature, FeatureContract, LabelRule
from validation.records import UnparseableLine, check_record, split_records


def bad(**changes) -> dict:
    record = copy.deepcopy(REFERENCE_RECORD)
    for path, value in changes.items():
        target, *keys = path.split("__")
        if value is ...:
            record.pop(target)
            continue
        node = record
        for key in [target, *keys][:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last = [target, *keys][-1]
        node[int(last) if isinstance(node, list) else last] = value
    return record


def test_the_reference_record_is_valid():
    assert check_record(REFERENCE_RECORD, labeled=False) == []


@pytest.mark.parametrize(("record", "field", "rule"), [
    (bad(student_id=...), "student_id", "required"),
    (bad(student_id="3"), "student_id", "type"),
    (bad(age=-27), "age", "range"),
    (bad(age=True), "age", "type"),
    (bad(enrollment_year=1850), "enrollment_year", "range"),
    (bad(major=None), "major", "required"),
    (bad(major=7), "major", "type"),
    (bad(fullTime="no"), "fullTime", "type"),
    (bad(courses="none"), "courses", "type"),
    (bad(courses="Statistics"), "courses", "type"),
    (bad(courses__0__grades__1="57"), "courses[0].grades[1]", "type"),
    (bad(courses__1__grades__0=140), "courses[1].grades[0]", "range"),
    (bad(courses__0__credits=0), "courses[0].credits", "range"),
    (bad(courses__0__grades="74, 57"), "courses[0].grades", "type"),
    (bad(courses__0__course=""), "courses[0].course", "required"),
    (bad(study={"hours_per_week": 500}), "study.hours_per_week", "range"),
    (bad(study="lots"), "study", "type"),
    (bad(study={"tutoring": "sometimes"}), "study.tutoring", "type"),
    (bad(study={"attendance_rate": float("nan")}), "study.attendance_rate", "type"),
    (bad(study={"hours_per_week": float("inf")}), "study.hours_per_week", "range"),
    (bad(demographics={"first_generation": "yes"}), "demographics.first_generation", "type"),
    (bad(demographics={"part_time_job": 1}), "demographics.part_time_job", "type"),
    (bad(demographics=["x"]), "demographics", "type"),
    (bad(major="Math\u0000Null"), "major", "format"),
    (bad(major="Math\nStats"), "major", "format"),
    (bad(major="   "), "major", "required"),
    (bad(major="M" * 61), "major", "max_length"),
    (bad(courses__0__course="Stat\tistics"), "courses[0].course", "format"),
    (bad(courses__0__course=3), "courses[0].course", "type"),
    (bad(courses__0__grades=list(range(31))), "courses[0].grades", "max_length"),
    (bad(courses=[{"course": "A", "credits": 3, "grades": [50]}] * 31), "courses", "max_length"),
    (bad(generated_at="yesterday"), "generated_at", "format"),
    (bad(generated_at=20260205), "generated_at", "type"),
    (bad(enrollment_year=2021.5), "enrollment_year", "type"),
    (bad(student_id=2**70), "student_id", "storable"),
    (bad(nickname=2**70), "nickname", "storable"),
    (bad(**{"$where": "1 == 1"}), "$where", "storable"),
    (bad(**{"a.b": 1}), "a.b", "storable"),
    (bad(**{"bad\u0000key": 1}), "bad\u0000key", "storable"),
    (bad(study={"notes": {"x": {"$gt": 1}}}), "study.notes.x.$gt", "storable"),
    (bad(extra="x" * 2_000_000), "$", "storable"),
    ([3, "not an object"], "$", "type"),
    ("just a string", "$", "type"),
    (UnparseableLine('{"student_id": 3,', "line 4: Expecting value"), "$", "parse"),
])
def test_bad_records_get_their_reason(record, field, rule):
    reasons = check_record(record, labeled=False)
    assert {"field": field, "rule": rule} in [{"field": r["field"], "rule": r["rule"]} for r in reasons]


def test_a_reason_carries_the_offending_value():
    [reason] = check_record(bad(age=-27), labeled=False)
    assert reason == {"field": "age", "rule": "range", "value": -27, "expected": "15..100"}


def test_labeled_batches_need_their_score_and_the_rule_decides_the_class():
    fields = {(r["field"], r["rule"]) for r in check_record(REFERENCE_RECORD, labeled=True)}
    assert fields == {("final_score", "required")}  # the class comes from the batch's label rule
    ok = {**copy.deepcopy(REFERENCE_RECORD), "final_score": 71.5, "high_performer": True}
    assert check_record(ok, labeled=True, label_rule=DEFAULT_LABEL_RULE) == []
    assert check_record({**ok, "final_score": 101}, labeled=True)[0]["rule"] == "range"
    assert check_record({**ok, "high_performer": None}, labeled=True, label_rule=DEFAULT_LABEL_RULE) == []


@pytest.mark.parametrize(("score", "own", "rule", "accepted"), [
    (71.5, True, "> 70", True),
    (70.0, True, "> 70", False),          # the file says high performer; its own score says not by the rule
    (70.0, False, ">= 70", False),
    (45.0, True, "at risk: < 50", True),  # a school's question: who is at risk of failing?
    (55.0, True, "at risk: < 50", False),
])
def test_a_records_own_class_must_agree_with_the_batchs_label_rule(score, own, rule, accepted):
    record = {**copy.deepcopy(REFERENCE_RECORD), "final_score": score, "high_performer": own}
    reasons = check_record(record, labeled=True, label_rule=LabelRule.parse(rule))
    assert (reasons == []) is accepted
    if not accepted:
        [reason] = reasons
        assert (reason["field"], reason["rule"], reason["value"]) == ("high_performer", "label_rule", own)
        assert reason["expected"] == f"{not own} for final_score {score} ({LabelRule.parse(rule).text})"


def test_label_rules_read_and_apply():
    rule = LabelRule.parse("pass: >= 50")
    assert (rule.name, rule.direction, rule.threshold, rule.text) == ("pass", ">=", 50.0, "final_score >= 50")
    assert rule.applies(50) and not rule.applies(49.99)
    assert LabelRule.parse("final_score < 40").name == "at risk" and LabelRule.parse("> 70") == DEFAULT_LABEL_RULE
    assert LabelRule.from_dict(None) == DEFAULT_LABEL_RULE and LabelRule.from_dict(rule.as_dict()) == rule
    for bad in ("= 50", "> fifty", "final_grade > 5", ""):
        with pytest.raises(ValueError, match="is not like"):
            LabelRule.parse(bad)
    for hostile in ("x" * 61 + ": >= 50", "pass\x00: >= 50"):
        with pytest.raises(ValueError, match="at most 60 printable characters"):
            LabelRule.parse(hostile)
    assert LabelRule.parse("<script>alert(1)</script>: >= 50").name == "<script>alert(1)</script>"  # data, escaped



@pytest.mark.parametrize("record", [
    bad(courses=...),                      # a new student: no courses yet
    bad(courses=[]),
    bad(courses__0__grades=[]),            # a course without grades yet
    {**bad(courses=...), "final_score": 55},
])
def test_students_without_grades_are_valid_records(record):
    assert check_record(record, labeled="final_score" in record) == []


SCHOOL = FeatureContract((ExtraFeature("absences", "number", 0, 93), ExtraFeature("internet", "bool"),
                          ExtraFeature("school", "category", values=("GP", "MS"))))


@pytest.mark.parametrize(("extra", "found"), [
    ({"absences": 4, "internet": True, "school": "GP"}, []),
    ({}, []),                                            # each extra field may be missing
    ({"absences": None, "nickname": "x"}, []),           # an undeclared field is stored, not a feature
    ({"absences": 94}, [("extra.absences", "range")]),
    ({"absences": "4"}, [("extra.absences", "type")]),
    ({"internet": "yes"}, [("extra.internet", "type")]),
    ({"school": "XX"}, [("extra.school", "allowed")]),
    ({"school": "<img src=x onerror=alert(1)>"}, [("extra.school", "allowed")]),
])
def test_declared_extra_fields_are_checked_like_our_own(extra, found):
    reasons = check_record({**copy.deepcopy(REFERENCE_RECORD), "extra": extra}, labeled=False, contract=SCHOOL)
    assert [(r["field"], r["rule"]) for r in reasons] == found
    assert check_record({**copy.deepcopy(REFERENCE_RECORD), "extra": [1]}, False, contract=SCHOOL)[0]["rule"] == "type"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "final_score", "kind": "number", "low": 0, "high": 1}, "not one of our own columns"),
    ({"name": "Absences", "kind": "bool"}, "lower-case"),
    ({"name": "absences", "kind": "number"}, "needs its range"),
    ({"name": "school", "kind": "category"}, "allowed values"),
    ({"name": "absences", "kind": "number", "low": 0, "high": 9, "segment": True}, "a segment is a yes/no or a"),
])
def test_an_extra_feature_declaration_is_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ExtraFeature(**kwargs)


def test_a_contract_lists_its_extras_with_our_own_and_round_trips():
    assert SCHOOL.numeric[-1] == "absences" and SCHOOL.boolean[-1] == "internet" and SCHOOL.categorical == [
        "major", "school"]
    assert SCHOOL.columns[-2:] == ["final_score", "high_performer"] and "school" in SCHOOL.columns
    assert FeatureContract.from_dict(SCHOOL.as_dict()) == SCHOOL and FeatureContract.from_dict(None).extras == ()
    assert SCHOOL.missing_from(FeatureContract()) == ["absences", "internet", "school"]
    assert FeatureContract().missing_from(SCHOOL) == []



def test_a_declared_segment_is_monitored_per_group_and_is_no_model_input_difference():
    school = ExtraFeature("school", "category", values=("GP", "MS"), segment=True)
    contract = FeatureContract((school,))
    assert contract.segments == ["first_generation", "part_time_job", "major", "school"]
    assert FeatureContract.from_dict(contract.as_dict()).segments[-1] == "school"  # stored and read back
    # a model trained before the field was declared a segment reads the same inputs
    plain = FeatureContract((ExtraFeature("school", "category", values=("GP", "MS")),))
    assert contract.missing_from(plain) == [] and plain.segments == ["first_generation", "part_time_job", "major"]


def test_unknown_major_is_not_a_rejection():
    assert check_record(bad(major="Astrology"), labeled=False) == []


def test_split_keeps_the_first_of_a_duplicated_id_and_accounts_for_every_record():
    records = [REFERENCE_RECORD, bad(age=30), bad(student_id=...), 42, bad(student_id=4)]
    accepted, rejected = split_records(records, labeled=False)
    assert [pos for pos, _ in accepted] == [0, 4]
    assert [(r["position"], r["reasons"][0]["rule"]) for r in rejected] == [(1, "unique"), (2, "required"), (3, "type")]
    assert rejected[0]["reasons"][0]["expected"] == "first seen at position 0"
    assert rejected[2]["record"] == {"value": 42}
    assert len(accepted) + len(rejected) == len(records)


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"n": value}
    return value


def test_nesting_beyond_mongodbs_limit_is_not_storable():
    assert check_record(bad(extra=nested(90)), labeled=False) == []
    [reason] = check_record(bad(extra=nested(150)), labeled=False)
    assert reason["rule"] == "storable" and reason["expected"] == "at most 100 levels"


def test_every_field_of_the_raw_schema_has_a_rule():
    from tasks.data.synthetic import generate_batch
    from validation.records import COURSE, DEMOGRAPHICS, LABEL_RULES, RECORD, STUDY

    record = generate_batch(1, seed=1).records[0]
    assert set(record) - {"study", "demographics", "courses"} == set(RECORD) | set(LABEL_RULES)
    assert set(record["study"]) == set(STUDY) and set(record["demographics"]) == set(DEMOGRAPHICS)
    assert set(record["courses"][0]) - {"grades"} == set(COURSE)


def test_a_rejected_record_is_always_storable():
    import bson

    records = [bad(student_id=2**70), bad(**{"$where": "1"}), bad(nickname=-(2**80)), bad(extra=nested(150)),
               bad(extra="x" * 2_000_000)]
    accepted, rejected = split_records(records, labeled=False)
    assert accepted == [] and len(rejected) == 5
    for doc in rejected:
        assert len(bson.encode(doc)) < 200_000  # every rejection document fits, however bad the record
    assert rejected[0]["student_id"] == str(2**70)  # as text: no 64-bit integer holds it
    assert "1180591620717411303424" in rejected[0]["record"]["unstorable_json"]
