"""Live performance and the per-group figures measure the school's own predictions (issue 31): after the scoring
flow, an attacker re-predicts the same students over real HTTP with flipped inputs; the retraining flow's live
accuracy, its per-group results and its alerts are what they would have been without the attacker."""

from __future__ import annotations

import httpx

from flows.params import RetrainParams, ScoreParams
from flows.retrain import retrain_flow
from flows.score import score_flow
from infra.collections import ALERTS, PERFORMANCE, PREDICTIONS
from tasks.data.synthetic import generate_batch
from tasks.monitoring.params import LiveParams, SegmentParams
from tasks.monitoring.tasks import measure_live_performance
from tasks.training.params import TrainingParams
from tests.api.conftest import serve, stop
from tests.builders import logged
from tests.flows.test_monitors import realised_accuracy

STUDENTS = 2000


def flipped(record: dict, predicted: int) -> dict:
    """The record with every grade pushed to the other end: the champion answers the other class."""
    grade = 5 if predicted else 100
    return {**record, "courses": [{**course, "grades": [grade] * len(course.get("grades") or [])}
                                  for course in record.get("courses") or []]}


def test_predictions_sent_to_the_service_do_not_change_live_performance_or_raise_alerts(db, champion, monkeypatch):
    scored = score_flow(ScoreParams(students=STUDENTS, seed=5))
    scored_as = {d["student_id"]: d["prediction"] for d in logged(db, {"batch_id": scored["batch_id"]})}
    records = generate_batch(STUDENTS, seed=5, labeled=False).records  # the same students, as the flow made them
    server, thread, url = serve(monkeypatch)
    try:
        with httpx.Client(base_url=url, timeout=120) as anonymous:
            answers = []
            for start in range(0, STUDENTS, 1000):  # two requests, no key, from this machine
                part = [flipped(r, scored_as[r["student_id"]]) for r in records[start:start + 1000]]
                response = anonymous.post("/predict", json={"records": part})
                assert response.status_code == 200, response.text
                answers += response.json()["predictions"]
    finally:
        stop(server, thread)
    flips = sum(a["prediction"] != scored_as[a["student_id"]] for a in answers)
    assert flips > 0.9 * STUDENTS and not any(a["counts"] for a in answers)  # the attack really flips them

    retrained = retrain_flow(RetrainParams(students=STUDENTS, seed=5, training=TrainingParams(algorithms=["linear"])))
    live = retrained["live"]
    assert live["status"] == "ok" and live["rows"] == STUDENTS
    assert live["live"] == realised_accuracy(db, scored["batch_id"], STUDENTS, 5)  # the scoring flow's own
    assert abs(live["drop"]) < 0.05
    assert db[ALERTS].count_documents({"kind": {"$in": ["performance", "segment_gap"]}}) == 0, \
        list(db[ALERTS].find({}, {"_id": 0, "kind": 1, "message": 1}))

    # the same measurement with the attacker's predictions gone from the log: identical, groups included
    stored = db[PERFORMANCE].find_one({"batch_id": retrained["batch_id"], "source": "labels"}, {"_id": 0, "at": 0})
    assert len(logged(db, {"counts": False})) == len(logged(db, {"source": "api"})) == STUDENTS
    db[PREDICTIONS].delete_many({"source": "api"})  # the service's buckets: the attacker's predictions, all of them
    again = measure_live_performance.fn(retrained["batch_id"], "high_performer", LiveParams(), 0.95, SegmentParams())
    assert again.live == live["live"] and again.segments == stored["segments"]
