"""A/B tests over real HTTP, end to end: planned, routed (sticky), measured with feedback, refused before the
horizon, concluded; the winner is promoted through the registry with the test's numbers in the history."""

from __future__ import annotations

from infra.collections import ALIAS_HISTORY
from infra.prediction_log import log_served
from tasks.data.synthetic import generate_batch
from tasks.serving.abtest import assign_arm, sample_size_proportions, shadow_sample_size
from tests.builders import add_batch, logged


def predict_all(service, records: list[dict]) -> list[dict]:
    answers = []
    for start in range(0, len(records), 500):
        response = service.http.post("/predict", json={"records": records[start:start + 500]})
        assert response.status_code == 200, response.text
        answers += response.json()["predictions"]
    return answers


def test_an_ab_test_from_plan_to_promotion(service):
    created = service.http.post("/ab-tests", json={"name": "today's model", "version_b": 2, "mde": 0.1})
    assert created.status_code == 201, created.text
    test = created.json()
    assert test["arms"] == {"A": {"version": 1}, "B": {"version": 2}} and test["state"] == "running"
    assert test["n_per_arm"] == sample_size_proportions(test["baseline"], 0.1, 0.05, 0.9)
    again = service.http.post("/ab-tests", json={"name": "second", "version_b": 2})
    assert again.status_code == 409 and "already running" in again.json()["detail"]

    world = generate_batch(6 * test["n_per_arm"], seed=700)  # labeled; the same students, unlabeled, are scored
    add_batch(6 * test["n_per_arm"], seed=700, labeled=False)  # the school's records of them, stored
    unlabeled = generate_batch(6 * test["n_per_arm"], seed=700, labeled=False).records
    answers = predict_all(service, unlabeled)
    assert all(a["counts"] for a in answers)  # the school's own key, on the records it stored
    arms = {a["student_id"]: a["arm"] for a in answers}
    assert "salt" not in test and all("salt" not in t for t in service.http.get("/ab-tests").json())
    salt = service.db["ab_tests"].find_one({"test_id": test["test_id"]})["salt"]  # never leaves the server
    assert all(arms[sid] == assign_arm(salt, sid, 0.5) for sid in arms)  # sticky by hash
    assert {a["version"] for a in answers if a["arm"] == "B"} == {2} and {a["version"] for a in answers
                                                                           if a["arm"] == "A"} == {1}
    repeat = predict_all(service, unlabeled[:50])
    assert [a["arm"] for a in repeat] == [arms[r["student_id"]] for r in unlabeled[:50]]  # the same arm again
    assert len(logged(service.db, {"ab_test": test["test_id"]})) == len(answers) + 50

    standing = service.http.get(f"/ab-tests/{test['test_id']}").json()
    assert standing["served"]["A"] + standing["served"]["B"] == len(unlabeled)
    assert standing["labelled"] == {"A": 0, "B": 0} and standing["horizon_reached"] is False
    early = service.http.post(f"/ab-tests/{test['test_id']}/conclude", json={})
    assert early.status_code == 409 and "horizon is not reached" in early.json()["detail"]

    outcomes = [{"student_id": r["student_id"], "high_performer": r["high_performer"]} for r in world.records]
    assert service.http.post("/feedback", json={"outcomes": outcomes}).json()["stored"] == len(outcomes)
    standing = service.http.get(f"/ab-tests/{test['test_id']}").json()
    assert standing["horizon_reached"] and standing["sample_ratio"]["valid"]
    estimate = standing["estimate"]
    page = service.anonymous.get("/dashboard/ab-tests").text  # the page measures a running test itself
    least = min(standing["labelled"].values())
    assert f"Progress to the horizon: {least} of {test['n_per_arm']} labelled units" in page
    assert 'aria-label="progress to the horizon"' in page and "margin 0.01</text>" in page  # the charts
    assert f'<td class="num">{standing["served"]["A"]}</td>' in page
    assert estimate["b"] - estimate["a"] > 0.1 and estimate["ci_low"] > 0 and estimate["p_value"] < 0.001

    concluded = service.http.post(f"/ab-tests/{test['test_id']}/conclude", json={}).json()
    assert concluded["state"] == "concluded" and concluded["result"]["winner"] == "B"
    assert concluded["result"]["promoted"] and not concluded["result"]["forced"]
    entry = service.db[ALIAS_HISTORY].find_one({"alias": "champion", "to_version": 2})
    assert entry["by"] == f"ab-test:{test['test_id']} (key:{service.key.split('_')[1]} (operator))"
    assert entry["numbers"]["ab_test"] == test["test_id"]
    assert entry["numbers"]["p_value"] == estimate["p_value"]
    after = predict_all(service, generate_batch(3, seed=701, labeled=False).records)
    assert {(a["version"], a["arm"]) for a in after} == {(2, None)}  # the new champion, no test running
    listed = service.http.get("/ab-tests").json()
    assert [t["state"] for t in listed] == ["concluded"]


def test_a_forced_early_look_is_labelled_and_a_test_with_a_broken_split_is_invalid(service):
    created = service.http.post("/ab-tests", json={"name": "early", "version_a": 2, "version_b": 1, "mde": 0.02})
    test = created.json()
    assert created.status_code == 201 and test["n_per_arm"] > 5000
    predict_all(service, generate_batch(200, seed=710, labeled=False).records)
    forced = service.http.post(f"/ab-tests/{test['test_id']}/conclude", json={"force": True}).json()
    assert forced["result"]["forced"] and "forced look before the horizon" in forced["result"]["reason"]
    assert forced["result"]["numbers"]["alpha_used"] == 0.025 and not forced["result"]["promoted"]

    broken = service.http.post("/ab-tests", json={"name": "broken split", "version_a": 2, "version_b": 1}).json()
    # an assignment bug sends 55% to B: the sample-ratio check marks the test invalid
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    documents = [{"student_id": 90_000_000 + i, "batch_id": "api:x", "model": "high_performer",
                  "version": 1 if i < 2750 else 2, "arm": "B" if i < 2750 else "A", "prediction": 0,
                  "probability": 0.1, "scored_at": now, "ab_test": broken["test_id"], "source": "api",
                  "counts": True}
                 for i in range(5000)]
    log_served(service.db, documents)
    before = service.db["ab_tests"].find_one({"test_id": broken["test_id"]})
    standing = service.http.get(f"/ab-tests/{broken['test_id']}").json()
    assert standing["sample_ratio"]["p_value"] < 0.001 and not standing["sample_ratio"]["valid"]
    assert standing["state"] == "running"  # a GET shows the mismatch and changes nothing
    assert service.db["ab_tests"].find_one({"test_id": broken["test_id"]}) == before
    concluded = service.http.post(f"/ab-tests/{broken['test_id']}/conclude", json={"force": True}).json()
    verdict = concluded["result"]
    assert concluded["state"] == "concluded" and concluded.get("invalid_reason") == "sample-ratio mismatch"
    assert verdict["winner"] is None and not verdict["promoted"] and "invalid test" in verdict["reason"]
    assert service.db["alerts"].count_documents({"kind": "ab_test_invalid"}) == 1


def test_feedback_is_validated(service):
    assert service.http.post("/feedback", json={"outcomes": [{"student_id": 1}]}).status_code == 422
    assert service.http.post("/feedback", json={"outcomes": [{"student_id": 1, "final_score": 140}]}).status_code == 422
    assert service.http.post("/feedback", json={"outcomes": []}).status_code == 422
    assert service.http.post("/feedback", json={"outcomes": [{"student_id": True, "high_performer": True}]}
                             ).status_code == 422  # true is not student 1
    assert service.http.post("/ab-tests/nope/conclude", json={}).status_code == 404


def test_a_shadow_test_answers_with_a_scores_with_b_and_compares_them_pairwise(service):
    """Every student is answered by A and scored by B (logged, never returned); the plan comes from the arms'
    disagreement and is several times smaller than the split design's; the conclusion is the exact McNemar test
    on the students exactly one arm got right."""
    champion = service.http.get("/ready").json()["champions"]["high_performer"]["version"]
    other = 1 if champion == 2 else 2
    refused = service.http.post("/ab-tests", json={"name": "x", "version_b": other, "mode": "shadow",
                                                   "split": 0.3})
    assert refused.status_code == 422 and "leave split out" in refused.text
    too_small = service.http.post("/ab-tests", json={"name": "x", "version_b": other, "mode": "shadow",
                                                     "mde": 0.1, "disagreement": 0.05})
    assert too_small.status_code == 422 and "disagree on only 5%" in too_small.text
    created = service.http.post("/ab-tests", json={"name": "shadow", "version_b": other, "mode": "shadow",
                                                   "mde": 0.1})
    assert created.status_code == 201, created.text
    test = created.json()
    assert test["mode"] == "shadow" and 0.05 <= test["disagreement"] <= 1
    assert test["disagreement_source"] == "measured on A's held-out students"
    # planned from the measured disagreement (these two versions disagree often: a large plan for a paired test)
    assert test["n_per_arm"] == shadow_sample_size(0.1, test["disagreement"], 0.05, 0.9)
    add_batch(400, seed=720, labeled=False)
    students = generate_batch(400, seed=720, labeled=False).records
    answers = predict_all(service, students)
    assert {(a["arm"], a["version"]) for a in answers} == {("A", champion)}  # A answers everyone
    shown = logged(service.db, {"ab_test": test["test_id"]})
    assert len(shown) == 800 and sum(doc.get("shadow", False) for doc in shown) == 400
    assert {doc["version"] for doc in shown if doc.get("shadow")} == {other}
    world = generate_batch(400, seed=720).records
    service.http.post("/feedback", json={"outcomes": [{"student_id": r["student_id"],
                                                       "high_performer": r["high_performer"]} for r in world]})
    standing = service.http.get(f"/ab-tests/{test['test_id']}").json()
    assert standing["labelled"] == {"A": 400, "B": 400} and standing["sample_ratio"]["valid"]
    estimate = standing["estimate"]
    assert estimate["design"] == "shadow" and estimate["n_a"] == 400
    assert estimate["difference"] == (estimate["b_only_right"] - estimate["a_only_right"]) / 400
    concluded = service.http.post(f"/ab-tests/{test['test_id']}/conclude", json={"force": True}).json()
    assert concluded["state"] == "concluded" and not concluded["result"]["promoted"] or other == 2
    page = service.anonymous.get("/dashboard/ab-tests").text
    assert "shadow" in page


def test_a_test_whose_b_needs_inputs_a_lacks_is_refused(service):
    """Requests carry the champion's inputs: a B trained on a dataset's extra field could not read them."""
    document = service.db["models"].find_one({"name": "high_performer", "version": 2}, {"_id": 0})
    extra = {"name": "absences", "kind": "number", "low": 0, "high": 90, "values": [], "description": "",
             "segment": False}
    document.update(version=99, identity="with-extras", feature_schema={**document["feature_schema"],
                                                                       "extras": [extra]})
    service.db["models"].insert_one(document)
    try:
        refused = service.http.post("/ab-tests", json={"name": "extras", "version_b": 99})
        assert refused.status_code == 409 and "absences" in refused.json()["detail"]
    finally:
        service.db["models"].delete_one({"name": "high_performer", "version": 99})
