"""Students come back every term: the same 1,000 students arrive labeled, then unlabeled the next term (scored),
then labeled again. No labeled row is lost to the unlabeled term, training sees both labeled terms, and live
performance joins each label to the prediction made for that term."""

from __future__ import annotations

from flows.main import main_flow
from flows.params import MainParams, RetrainParams, ScoreParams
from flows.retrain import retrain_flow
from flows.score import score_flow
from infra.collections import MODELS, STUDENTS_FEATURES
from tasks.data.synthetic import DriftKnobs
from tasks.training.params import TrainingParams

FAST = TrainingParams(algorithms=["linear"])


def test_a_returning_students_labeled_terms_survive_and_train_together(db):
    first = main_flow(MainParams(students=1000, seed=40, export=False, training=FAST))
    assert first["training"]["champion"]["promoted"]
    scored = score_flow(ScoreParams(students=1000, seed=40))  # the same students, next term, no labels yet
    assert scored["scoring"]["scored"] == 1000
    labeled = {"high_performer": {"$ne": None}}
    assert db[STUDENTS_FEATURES].count_documents({"batch_id": first["batch_id"], **labeled}) == 1000
    assert db[STUDENTS_FEATURES].count_documents({"batch_id": scored["batch_id"]}) == 1000

    again = main_flow(MainParams(students=1000, seed=40, drift=DriftKnobs(grade_inflation=1.0), export=False,
                                 training=FAST))  # the same students labeled again, a term later
    assert again["batch_id"] != first["batch_id"] and again["accepted"] == 1000
    assert db[STUDENTS_FEATURES].count_documents(labeled) == 2000  # both labeled terms, nothing overwritten
    assert db[STUDENTS_FEATURES].count_documents({}) == 3000
    assert len(db[STUDENTS_FEATURES].distinct("student_id")) == 1000
    [model] = again["training"]["models"]
    lineage = db[MODELS].find_one({"name": "high_performer", "version": model["version"]})["lineage"]
    assert sorted(lineage["batches"]) == sorted([first["batch_id"], again["batch_id"]])
    assert lineage["rows"] == 2000 and lineage["students"] == 1000
    split = db["splits"].find_one({"split_id": lineage["split_id"]})["ids"]
    parts = [set(split[part]) for part in ("train", "val", "test")]
    assert sum(map(len, parts)) == 1000 and not (parts[0] & parts[2]) and not (parts[1] & parts[2])  # by student

    retrained = retrain_flow(RetrainParams(students=1000, seed=40, drift=DriftKnobs(grade_inflation=1.0),
                                           training=FAST))
    # the labels are the batch brought in again (already stored: nothing new); they answer the term-2 predictions
    assert retrained["accepted"] == 1000 and retrained["live"]["status"] == "ok"
    assert retrained["live"]["rows"] == 1000
