"""A school's own export end to end: a semicolon CSV with quoted text, yes/no fields, grades on a 0-20 scale in
two period columns of two courses and a final grade, read through its YAML mapping; its label rule ("pass: >= 50")
kept with the batch and the model; versions trained for different rules never compared."""

from __future__ import annotations

import pytest

from flows.main import main_flow
from flows.params import MainParams, RetrainParams
from flows.retrain import retrain_flow
from infra.collections import BATCHES, MODELS, STUDENTS_FEATURES, STUDENTS_REJECTED
from tasks.data.ingest import LabelRuleConflictError
from tasks.data.mapping import composite_id
from tasks.data.synthetic import generate_batch
from tasks.training.params import TrainingParams

FAST = TrainingParams(algorithms=["linear"])
MAPPING = """\
source: {delimiter: ";"}
student_id: {columns: [school, number]}
fields:
  age: {column: age}
  major: {column: subject, map: {mat: Math, phy: Physics, bio: Biology, eco: Economics, his: History,
                                  lit: Literature, cs: Computer Science}}
  fullTime: {column: fulltime, map: {"yes": true, "no": false}}
  enrollment_year: {constant: 2024}
  study.hours_per_week: {column: studytime}
  demographics.part_time_job: {column: paid, map: {"yes": true, "no": false}}
courses:
  - course: {column: course1}
    credits: {constant: 4}
    grades: {columns: [C1P1, C1P2], scale: [0, 20]}
  - course: {column: course2}
    credits: {constant: 3}
    grades: {columns: [C2P1, C2P2], scale: [0, 20]}
labels:
  score: {column: final, scale: [0, 20]}
  rule: "pass: >= 50"
"""
CODES = {"Math": "mat", "Physics": "phy", "Biology": "bio", "Economics": "eco", "History": "his",
         "Literature": "lit", "Computer Science": "cs"}


def school_export(tmp_path, students: int = 600) -> tuple:
    """The generator's students as a school's wide CSV (0-20 grades), with one row whose grade is off the scale."""
    lines = ["school;number;age;subject;fulltime;studytime;paid;course1;C1P1;C1P2;course2;C2P1;C2P2;final"]
    for i, record in enumerate(generate_batch(students, 50).records):
        first, second = record["courses"][0], record["courses"][-1]
        grades = [round(g / 5, 1) for g in first["grades"][:2] * 2][:2] + \
                 [round(g / 5, 1) for g in second["grades"][:2] * 2][:2]
        if i == 7:
            grades[0] = 25  # not on a 0-20 scale: quarantined with its line
        lines.append(";".join(map(str, [
            "GP" if i % 2 else "MS", i, record["age"], CODES[record["major"]], "yes" if record["fullTime"] else "no",
            record["study"]["hours_per_week"], "yes" if record["demographics"]["part_time_job"] else "no",
            f'"{first["course"]}"', grades[0], grades[1], f'"{second["course"]}"', grades[2], grades[3],
            round(record["final_score"] / 5, 2)])))
    source, mapping = tmp_path / "school.csv", tmp_path / "school.yaml"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping.write_text(MAPPING, encoding="utf-8")
    return source, mapping


def test_a_mapped_csv_is_ingested_labeled_by_its_rule_and_trains_a_model_for_that_rule(db, tmp_path):
    source, mapping = school_export(tmp_path)
    summary = main_flow(MainParams(source=str(source), mapping=str(mapping), export=False, training=FAST))
    assert (summary["input"], summary["accepted"], summary["rejected"]) == (600, 599, 1)
    assert summary["kind"] == "labeled" and summary["label_rule"] == "pass: final_score >= 50"
    [rejected] = list(db[STUDENTS_REJECTED].find({}, {"_id": 0}))
    assert rejected["reasons"][0]["rule"] == "parse" and rejected["reasons"][0]["expected"].startswith("line 9:")
    assert rejected["reasons"][1] == {"field": "courses[0].grades (C1P1)", "rule": "scale", "value": 25,
                                      "expected": "0..20 (the source's declared scale)"}
    batch = db[BATCHES].find_one({"batch_id": summary["batch_id"]})
    assert batch["label_rule"] == {"threshold": 50.0, "direction": ">=", "name": "pass"}
    assert batch["source"]["format"] == "csv" and len(batch["source"]["mapping_sha256"]) == 64
    features = list(db[STUDENTS_FEATURES].find({}, {"_id": 0, "student_id": 1, "final_score": 1,
                                                    "high_performer": 1, "num_courses": 1}))
    assert len(features) == 599 and all(f["high_performer"] == (f["final_score"] >= 50) for f in features)
    assert 0.2 < sum(f["high_performer"] for f in features) / 599 < 0.95  # the rule, not "> 70"
    assert any(f["student_id"] == composite_id(["GP", 1]) for f in features)
    [model] = summary["training"]["models"]
    version = db[MODELS].find_one({"name": "high_performer", "version": model["version"]})
    assert version["label_rule"] == batch["label_rule"] and summary["training"]["champion"]["promoted"]

    again = main_flow(MainParams(source=str(source), mapping=str(mapping), export=False, train=False))
    assert again["batch_id"] == summary["batch_id"] and again["accepted"] == 599  # nothing new, nothing lost
    with pytest.raises(LabelRuleConflictError, match="stored labeled by 'final_score >= 50'"):
        main_flow(MainParams(source=str(source), mapping=str(mapping), label_rule="> 70", train=False))


def test_versions_for_different_label_rules_are_never_compared(db):
    first = main_flow(MainParams(students=1200, seed=60, export=False, training=FAST))  # "> 70"
    assert first["label_rule"] == "high performer: final_score > 70"
    default = retrain_flow(RetrainParams(students=1200, seed=62, training=FAST))  # no rule given: the champion's
    assert default["label_rule"] == "high performer: final_score > 70" and default["live"]["status"] != \
        "label_rule_differs"
    retrained = retrain_flow(RetrainParams(students=1200, seed=61, label_rule="pass: >= 50", force=True,
                                           training=FAST))
    assert retrained["live"]["status"] in ("label_rule_differs", "insufficient_data")
    promotion = retrained["promotion"]
    assert not promotion["applied"] and promotion["reason"].startswith("not compared: the champion v1 answers "
                                                                       "'final_score > 70'")
    challenger = db[MODELS].find_one({"version": promotion["challenger"]})
    assert challenger["label_rule"]["direction"] == ">=" and challenger["lineage"]["batches"] == [
        retrained["batch_id"]]  # the window holds only batches labeled by the same rule


def test_an_unconverted_scale_is_reported_on_the_batch_without_rejecting_anything(db, tmp_path):
    source, mapping = school_export(tmp_path, students=200)
    mapping.write_text(MAPPING.replace(", scale: [0, 20]", ""), encoding="utf-8")  # the scale forgotten
    summary = main_flow(MainParams(source=str(source), mapping=str(mapping), export=False, train=False))
    assert summary["accepted"] == 200 and summary["rejected"] == 0  # valid record by record (a 25 fits 0..100)
    checks = {f["check"] for f in db[BATCHES].find_one({"batch_id": summary["batch_id"]})["sanity"]}
    assert {"score_scale", "one_class"} <= checks
    assert any("labels.score.scale" in message for message in summary["sanity"])
