"""What the monitors measure cannot be written by whoever can call /predict (issue 31): an attacker with no key, or
a plain ``predict`` key, predicts the school's students first with a record of their choosing; the A/B test is
still judged on the school's own predictions, made by its ``official`` key on the records it stored."""

from __future__ import annotations

import uuid

import httpx
import pytest

from infra.collections import ALIAS_HISTORY
from tasks.data.synthetic import DriftKnobs, generate_batch
from tasks.serving.trust import COUNTED, DIFFERENT, NOT_STORED, UNTRUSTED
from tasks.training.params import TrainingParams
from tests.api.conftest import make_key, serve, stop
from tests.builders import add_batch, logged, train_and_register
from tests.conftest import drop_database, use_store

STUDENTS = 1500


@pytest.fixture(scope="module")
def school(mongo_server, tmp_path_factory):
    """A champion (v1) trained on today's students and a worse v2 (trained in another world); the school's students
    stored as an unlabeled batch; the service over real HTTP with the school's keys and an attacker's."""
    from infra.storage import get_database

    name = f"integrity_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_store(monkeypatch, mongo_server, name, tmp_path_factory.mktemp("integrity"))
        add_batch(2000, 0)
        train_and_register(TrainingParams(algorithms=["linear"]))
        add_batch(2000, 1, knobs=DriftKnobs(grade_inflation=-25, concept_drift=1.0))
        train_and_register(TrainingParams(algorithms=["linear"], window_batches=1))
        add_batch(STUDENTS, 730, labeled=False)  # the school's students this term, as its export stored them
        server, thread, url = serve(monkeypatch)
        db = get_database()
        keys = {role: make_key(db, scopes, role) for role, scopes in {
            "sis": ["predict", "official"], "teacher": ["predict"], "labels": ["label"], "operator": ["operate", "read"]
        }.items()}
        clients = {role: httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"})
                   for role, key in keys.items()}
        clients["anonymous"] = httpx.Client(base_url=url, timeout=120)
        try:
            yield db, clients
        finally:
            stop(server, thread)
    drop_database(mongo_server, name)


def predict(client, records: list[dict]) -> list[dict]:
    answers = []
    for start in range(0, len(records), 500):
        response = client.post("/predict", json={"records": records[start:start + 500]})
        assert response.status_code == 200, response.text
        answers += response.json()["predictions"]
    return answers


def test_an_attacker_who_predicts_first_does_not_decide_an_ab_test(school):
    db, http = school
    created = http["operator"].post("/ab-tests", json={"name": "v2 against the champion", "version_b": 2,
                                                       "mde": 0.1})
    assert created.status_code == 201, created.text
    test = created.json()
    assert test["arms"] == {"A": {"version": 1}, "B": {"version": 2}}
    world = generate_batch(STUDENTS, seed=730).records  # the outcomes, known at the end of term
    majority = int(sum(r["high_performer"] for r in world) * 2 > len(world))

    # the attacker probes with throwaway ids for a record on which B says the common outcome and A the rare one
    probes = generate_batch(60, seed=731, labeled=False, knobs=DriftKnobs(grade_inflation=-10)).records \
        + generate_batch(60, seed=732, labeled=False, knobs=DriftKnobs(grade_inflation=10)).records
    said: dict[int, dict[str, int]] = {}
    throwaway = [{**record, "student_id": 95_000_000 + k * 1000 + copy}
                 for k, record in enumerate(probes) for copy in range(8)]
    for answer in predict(http["anonymous"], throwaway):
        said.setdefault((answer["student_id"] - 95_000_000) // 1000, {})[answer["arm"]] = answer["prediction"]
    chosen = next(k for k, arms in said.items() if arms.get("B") == majority and arms.get("A") == 1 - majority)
    bait = probes[chosen]
    # ... and sends it for every one of the school's students before the school does (half with no key, half with
    # a teacher's plain predict key)
    students = [r["student_id"] for r in world]
    forged = [{**bait, "student_id": student} for student in students]
    half = len(forged) // 2
    assert not any(a["counts"] for a in predict(http["anonymous"], forged[:half]) + predict(http["teacher"],
                                                                                          forged[half:]))
    # then the school scores its own stored records through its SIS integration, and labels come in
    honest = predict(http["sis"], generate_batch(STUDENTS, seed=730, labeled=False).records)
    assert all(a["counts"] for a in honest)
    stored = http["labels"].post("/feedback", json={"outcomes": [
        {"student_id": r["student_id"], "high_performer": r["high_performer"]} for r in world]})
    assert stored.status_code == 200, stored.text

    standing = http["operator"].get(f"/ab-tests/{test['test_id']}").json()
    assert standing["served"]["A"] + standing["served"]["B"] == STUDENTS  # the school's units, no throwaway ids
    truth = {r["student_id"]: r["high_performer"] for r in world}
    right = {"A": [], "B": []}
    for answer in honest:
        right[answer["arm"]].append(int(answer["prediction"] == truth[answer["student_id"]]))
    assert standing["labelled"] == {arm: len(values) for arm, values in right.items()}
    assert standing["estimate"]["a"] == pytest.approx(sum(right["A"]) / len(right["A"]), abs=1e-12)
    assert standing["estimate"]["b"] == pytest.approx(sum(right["B"]) / len(right["B"]), abs=1e-12)
    assert standing["estimate"]["b"] < standing["estimate"]["a"]  # honestly, v2 is the worse model

    concluded = http["operator"].post(f"/ab-tests/{test['test_id']}/conclude", json={"force": True}).json()
    assert concluded["result"]["winner"] != "B" and not concluded["result"]["promoted"]
    assert db[ALIAS_HISTORY].count_documents({"alias": "champion", "to_version": 2}) == 0
    # every forged prediction is logged with who asked and why it does not count
    uncounted = logged(db, {"ab_test": test["test_id"], "counts": False})
    assert len(uncounted) == len(throwaway) + len(forged)
    assert {d["not_counted"] for d in uncounted} == {UNTRUSTED}
    assert {d["asked_by"] for d in uncounted} == {"loopback (no key)", f"key:{_key_id(http['teacher'])} (teacher)"}


def test_an_official_key_counts_only_on_the_school_s_stored_record(school):
    db, http = school
    stored = generate_batch(STUDENTS, seed=730, labeled=False).records[:3]
    changed = [{**stored[0], "courses": [{**c, "grades": [100] * len(c["grades"])} for c in stored[0]["courses"]]}]
    unknown = [{**stored[1], "student_id": 97_000_001}]
    answers = predict(http["sis"], [stored[2]]) + predict(http["sis"], changed) + predict(http["sis"], unknown)
    assert [a["counts"] for a in answers] == [True, False, False]
    reasons = {doc["student_id"]: doc.get("not_counted") for doc in logged(
        db, {"student_id": {"$in": [stored[2]["student_id"], stored[0]["student_id"], 97_000_001]},
             "asked_by": f"key:{_key_id(http['sis'])} (sis)", "counts": False})}
    assert reasons == {stored[0]["student_id"]: DIFFERENT, 97_000_001: NOT_STORED}
    page = http["operator"].get(f"/dashboard/students/{stored[0]['student_id']}").text  # who asked, and why not
    assert f"no: {DIFFERENT}" in page and "key:" in page and "(sis)" in page
    assert logged(db, {"student_id": stored[2]["student_id"], **COUNTED,
                       "asked_by": {"$exists": True}})[0]["record_batch"] == "gen-s730-n1500-U"


def _key_id(client) -> str:
    return client.headers["authorization"].split("_")[1]
