"""A school's own export end to end: a semicolon CSV with quoted text, yes/no fields, grades on a 0-20 scale in
two period columns of two courses and a final grade, read through its YAML mapping; its label rule ("pass: >= 50")
kept with the batch and the model; versions trained for different rules never compared."""

from __future__ import annotations

import httpx
import pytest

from flows.main import main_flow
from flows.params import MainParams, RetrainParams, ScoreParams
from flows.retrain import retrain_flow
from flows.score import score_flow
from flows.summary import render_summary
from infra.collections import BATCHES, MODELS, STUDENTS_FEATURES, STUDENTS_REJECTED
from infra.pseudonyms import load as load_pseudonyms
from tasks.data.ingest import LabelRuleConflictError
from tasks.data.synthetic import generate_batch
from tasks.training.params import TrainingParams
from validation.features import FeatureContractError

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
extras:
  absences: {column: absences, type: number, range: [0, 93]}
  internet: {column: internet, type: bool, map: {"yes": true, "no": false}}
  school: {column: school, type: category, values: [GP, MS]}
"""
CODES = {"Math": "mat", "Physics": "phy", "Biology": "bio", "Economics": "eco", "History": "his",
         "Literature": "lit", "Computer Science": "cs"}


def school_export(tmp_path, students: int = 600, more_absences: int = 0, name: str = "school") -> tuple:
    """The generator's students as a school's wide CSV (0-20 grades) with three fields of its own (absences, a
    yes/no, the school), one row whose grade is off the scale, one whose absences are, and every 50th student new
    (no grades yet)."""
    lines = ["school;number;age;subject;fulltime;studytime;paid;course1;C1P1;C1P2;course2;C2P1;C2P2;final;"
             "absences;internet"]
    for i, record in enumerate(generate_batch(students, 50).records):
        first, second = record["courses"][0], record["courses"][-1]
        grades = [round(g / 5, 1) for g in first["grades"][:2] * 2][:2] + \
                 [round(g / 5, 1) for g in second["grades"][:2] * 2][:2]
        if i == 7:
            grades[0] = 25  # not on a 0-20 scale: quarantined with its line
        if i % 50 == 49:
            grades = [""] * 4  # a new student: no grades yet, a valid record
        absences = 120 if i == 11 else int(10 * (1 - record["study"]["attendance_rate"] or 0)) + i % 3 + more_absences
        lines.append(";".join(map(str, [
            "GP" if i % 2 else "MS", i, record["age"], CODES[record["major"]], "yes" if record["fullTime"] else "no",
            record["study"]["hours_per_week"], "yes" if record["demographics"]["part_time_job"] else "no",
            f'"{first["course"]}"', grades[0], grades[1], f'"{second["course"]}"', grades[2], grades[3],
            round(record["final_score"] / 5, 2), absences, "yes" if i % 3 else "no"])))
    source, mapping = tmp_path / f"{name}.csv", tmp_path / "school.yaml"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping.write_text(MAPPING, encoding="utf-8")
    return source, mapping


def test_a_mapped_csv_is_ingested_labeled_by_its_rule_and_trains_a_model_for_that_rule(db, tmp_path, monkeypatch):
    # the ids become keyed pseudonyms, and the splits and folds follow the ids: a fixed key, the same figures each run
    monkeypatch.setenv("PIPELINE_PSEUDONYM_KEY", "a fixed key for a repeatable test: " + "k" * 16)
    source, mapping = school_export(tmp_path)
    summary = main_flow(MainParams(source=str(source), mapping=str(mapping), export=False, training=FAST))
    assert (summary["input"], summary["accepted"], summary["rejected"]) == (600, 598, 2)
    assert summary["kind"] == "labeled" and summary["label_rule"] == "pass: final_score >= 50"
    rejected, extra = list(db[STUDENTS_REJECTED].find({}, {"_id": 0}).sort("position", 1))
    assert rejected["reasons"][0]["rule"] == "parse" and rejected["reasons"][0]["expected"].startswith("line 9:")
    assert rejected["reasons"][1] == {"field": "courses[0].grades (C1P1)", "rule": "scale", "value": 25,
                                      "expected": "0..20 (the source's declared scale)"}
    assert (extra["position"], extra["reasons"]) == (11, [{"field": "extra.absences", "rule": "range", "value": 120,
                                                           "expected": "0..93"}])
    batch = db[BATCHES].find_one({"batch_id": summary["batch_id"]})
    assert batch["label_rule"] == {"threshold": 50.0, "direction": ">=", "name": "pass"}
    assert batch["source"]["format"] == "csv" and len(batch["source"]["mapping_sha256"]) == 64
    assert [e["name"] for e in batch["features"]["extras"]] == ["absences", "internet", "school"]
    features = list(db[STUDENTS_FEATURES].find({}, {"_id": 0}))
    assert len(features) == 598 and all(f["high_performer"] == (f["final_score"] >= 50) for f in features)
    assert 0.2 < sum(f["high_performer"] for f in features) / 598 < 0.95  # the rule, not "> 70"
    by_id, pseudonyms = {f["student_id"]: f for f in features}, load_pseudonyms(create=False)
    first = by_id[pseudonyms.of(["GP", 1])]  # the school's id (school, number) as its keyed pseudonym
    assert first["school"] == "GP" and isinstance(first["absences"], int) and first["internet"] is True
    new = by_id[pseudonyms.of(["GP", 49])]  # no grades yet: counted, grade features missing, still a feature row
    assert (new["num_courses"], new["num_grades"], new["avg_grade"], new["latest_grade"]) == (2, 0, None, None)
    assert by_id[pseudonyms.of(["MS", 0])]["grade_trend"] is not None
    [model] = summary["training"]["models"]
    version = db[MODELS].find_one({"name": "high_performer", "version": model["version"]})
    assert version["label_rule"] == batch["label_rule"] and summary["training"]["champion"]["promoted"]
    # small data: the summary reads the cross-validated accuracy with its interval beside the base rate
    accuracy, passing = version["metrics"]["cv"]["metrics"]["accuracy"], sum(f["high_performer"] for f in features)
    base = max(passing, 598 - passing) / 598
    verdict = "better" if round(accuracy["ci_low"], 4) > round(base, 4) else "not clearly better"
    assert accuracy["mean"] > base  # the model beats calling everyone 'pass'; clearly so when its interval does
    assert version["metrics"]["skill"] == {
        "accuracy": round(accuracy["mean"], 4), "low": round(accuracy["ci_low"], 4), "base": round(base, 4),
        "margin": round(accuracy["mean"] - round(base, 4), 4), "verdict": verdict, "basis": "cross-validated",
        "mcc": round(version["metrics"]["cv"]["metrics"]["mcc"]["mean"], 4)}
    [line] = [line for line in render_summary(summary).splitlines() if line.startswith("accuracy")]
    assert line.startswith(f"accuracy   linear {accuracy['mean']:.4f} [{accuracy['ci_low']:.4f}, "
                           f"{accuracy['ci_high']:.4f}] (cross-validated) against the base rate {base:.4f} (calling "
                           f"everyone 'pass'; {passing / 598:.1%} are): {verdict}, MCC ")
    assert model["cv_interval"] == [round(version["metrics"]["cv"]["metrics"]["roc_auc"][k], 4)
                                    for k in ("ci_low", "ci_high")]
    schema = version["feature_schema"]
    assert ("absences" in schema["numeric"], "internet" in schema["boolean"], "school" in schema["categorical"]) == (
        True, True, True)
    importance = {row["feature"] for row in version["importance"]["permutation"]}
    assert {"absences", "internet", "school", "latest_grade", "grade_trend"} <= importance

    again = main_flow(MainParams(source=str(source), mapping=str(mapping), export=False, train=False))
    assert again["batch_id"] == summary["batch_id"] and again["accepted"] == 598  # nothing new, nothing lost
    with pytest.raises(LabelRuleConflictError, match="stored labeled by 'final_score >= 50'"):
        main_flow(MainParams(source=str(source), mapping=str(mapping), label_rule="> 70", train=False))


def test_a_model_with_the_datasets_own_fields_serves_scores_and_watches_them_for_drift(db, tmp_path, monkeypatch):
    from tests.api.conftest import serve, stop

    source, mapping = school_export(tmp_path)
    main_flow(MainParams(source=str(source), mapping=str(mapping), export=False, training=FAST))
    server, thread, url = serve(monkeypatch)
    try:
        http = httpx.Client(base_url=url, timeout=60)
        record = {"student_id": 9_000_001, "age": 17, "major": "Math", "enrollment_year": 2024,
                  "courses": [{"course": "Portuguese", "credits": 4, "grades": [60, 65]}],
                  "extra": {"absences": 4, "internet": True, "school": "MS"}}
        new_student = {**record, "student_id": 9_000_002, "courses": []}
        answer = http.post("/predict", json={"records": [record, new_student]})
        assert answer.status_code == 200, answer.text
        assert [p["student_id"] for p in answer.json()["predictions"]] == [9_000_001, 9_000_002]
        assert all(0 <= p["probability"] <= 1 for p in answer.json()["predictions"])
        bad = http.post("/predict", json={"records": [{**record, "extra": {"school": "<b>XX</b>", "absences": -1}}]})
        assert bad.status_code == 422
        reasons = {(r["field"], r["rule"]) for r in bad.json()["detail"]["invalid"][0]["reasons"]}
        assert reasons == {("extra.school", "allowed"), ("extra.absences", "range")}
        extras = http.get("/models").json()
        assert "school" in str(extras)  # the version's declared inputs are listed
    finally:
        stop(server, thread)

    # next term: the same students, unlabeled, with 8 more absences each: scored, and the drift check sees it
    later, _ = school_export(tmp_path, more_absences=8, name="next-term")
    scored = score_flow(ScoreParams(source=str(later), mapping=str(mapping), kind="unlabeled"))
    assert scored["scoring"]["scored"] == 598 and "absences" in scored["drift"]["drifted"]["distribution"]
    assert "school" not in scored["drift"]["drifted"]["distribution"]
    with pytest.raises(FeatureContractError, match=r"extra feature\(s\) \['absences', 'internet', 'school'\]"):
        score_flow(ScoreParams(students=200, seed=9))  # the generator's students lack the school's fields


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
    # valid record by record (a 25 fits 0..100); only the row with 120 absences (declared 0..93) is rejected
    assert summary["accepted"] == 199 and summary["rejected"] == 1
    checks = {f["check"] for f in db[BATCHES].find_one({"batch_id": summary["batch_id"]})["sanity"]}
    assert {"score_scale", "one_class"} <= checks
    assert any("labels.score.scale" in message for message in summary["sanity"])


def test_a_regression_on_the_schools_score_works_the_same_way(db, tmp_path):
    source, mapping = school_export(tmp_path, students=300)
    training = TrainingParams(problem="regression", algorithms=["linear"], cv_repeats=2)
    summary = main_flow(MainParams(source=str(source), mapping=str(mapping), export=False, training=training))
    [model] = summary["training"]["models"]
    version = db[MODELS].find_one({"name": "final_score", "version": model["version"]})
    assert version["problem"] == "regression" and version["label_rule"] is None  # a score needs no rule
    assert "absences" in version["feature_schema"]["numeric"] and "school" in version["feature_schema"]["categorical"]
    cv = version["metrics"]["cv"]
    assert (cv["folds"], cv["students"]) == (10, 298)  # 300 rows, 2 quarantined
    assert 0 < cv["metrics"]["mae"]["low"] < cv["metrics"]["mae"]["mean"] < cv["metrics"]["mae"]["high"] < 15
    assert summary["training"]["small_data"].startswith("Small data (298 students)")
    assert summary["training"]["champion"]["reason"].startswith("first champion: linear")
    assert "cross-validated mae" in summary["training"]["champion"]["reason"]


def test_a_school_chooses_its_models_by_the_measure_of_its_decision(db, tmp_path):
    source, mapping = school_export(tmp_path, students=300)
    training = TrainingParams(algorithms=["linear", "decision_tree"], choose_by="mcc", cv_repeats=1)
    summary = main_flow(MainParams(source=str(source), mapping=str(mapping), export=False, training=training))
    assert summary["training"]["metric"] == "mcc"
    by_mcc = {m["algorithm"]: m["val_score"] for m in summary["training"]["models"]}
    best = max(by_mcc, key=by_mcc.get)
    assert summary["training"]["best"] == best
    assert summary["training"]["champion"]["reason"].startswith(f"first champion: {best} v")
    assert "best cross-validated mcc" in summary["training"]["champion"]["reason"]
    version = db[MODELS].find_one({"algorithm": best})
    assert round(version["metrics"]["cv"]["metrics"]["mcc"]["mean"], 4) == by_mcc[best]
    assert render_summary(summary).splitlines()[[line[:10] for line in render_summary(summary).splitlines()].index(
        "models    ")].startswith("models     mcc ")
