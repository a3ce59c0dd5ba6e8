"""The prediction service over real HTTP: health and readiness, the registry's models, predictions that agree
with the batch pipeline and are all logged, every kind of bad request answered with a clear 4xx, and a
promotion or rollback made by another process served without a restart."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from infra.collections import ALIAS_HISTORY
from tasks.data.synthetic import generate_batch
from tests.api.conftest import serve, stop
from tests.builders import logged
from tests.conftest import REFERENCE_RECORD
from validation.records import split_records

ROOT = Path(__file__).resolve().parents[2]


def records(n: int, seed: int) -> list[dict]:
    return generate_batch(n, seed, labeled=False).records


def test_health_ready_and_the_registry_s_models(service):
    assert service.http.get("/health").json() == {"status": "ok"}
    ready = service.http.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    champion = ready.json()["champions"]["high_performer"]
    assert champion["version"] == 1 and len(champion["sha256"]) == 64
    models = service.http.get("/models").json()
    assert [(m["version"], m["algorithm"], m["aliases"]) for m in models] == [(1, "linear", ["champion"]),
                                                                              (2, "linear", [])]
    assert models[0]["metrics"]["test"]["accuracy"] > 0.5 and models[1]["lineage"]["rows"] == 2000
    openapi = service.http.get("/openapi.json").json()
    assert "/predict" in openapi["paths"]
    items = openapi["components"]["schemas"]["PredictRequest"]["properties"]["records"]["items"]
    assert items["required"] == ["student_id", "age", "major", "enrollment_year"]  # from the record rules
    assert items["properties"]["age"] == {"type": "integer", "minimum": 15, "maximum": 100}
    live = service.http.get("/record-schema").json()
    assert live["properties"]["courses"] == items["properties"]["courses"] and "extra" in live["properties"]
    docs = service.http.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs  # works offline
    assert service.http.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200


def test_the_reference_record_gets_the_features_and_the_prediction_the_batch_pipeline_gives(service):
    import pandas as pd

    from tasks.data.ingest import BatchInput
    from tasks.data.tasks import aggregate_features, ingest_batch
    from tasks.registry.store import load_model
    from tasks.scoring.predict import predict_frame
    from tasks.serving.store import request_features
    from validation.features import features_frame

    record = {**copy.deepcopy(REFERENCE_RECORD), "student_id": 77_000_003}
    served = request_features(service.db, [record], "parity")
    ingest_batch.fn(BatchInput("parity-batch", False, [record], {"type": "test"}), 1000)
    aggregate_features.fn("parity-batch")
    stored = features_frame(list(service.db["students_features"].find({"student_id": 77_000_003}, {"_id": 0})))
    columns = [c for c in stored.columns if c not in ("batch_id", "batch_seq")]
    pd.testing.assert_frame_equal(served[columns], stored[columns])
    assert served.loc[0, "avg_grade"] == pytest.approx(66.1667, abs=1e-4) and served.loc[0, "num_courses"] == 2

    answer = service.http.post("/predict", json={"records": [record]}).json()["predictions"][0]
    batch = predict_frame(load_model(service.db, "high_performer", version=1), stored, "classification")
    assert (answer["version"], answer["arm"]) == (1, None)
    assert answer["probability"] == pytest.approx(float(batch.loc[0, "probability"]), abs=1e-12)
    assert answer["prediction"] == int(batch.loc[0, "prediction"])


def test_explain_answers_with_the_reasons_that_add_up_to_the_models_log_odds(service):
    import math

    record = {**copy.deepcopy(REFERENCE_RECORD), "student_id": 77_000_004}
    plain = service.http.post("/predict", json={"records": [record]}).json()["predictions"][0]
    assert plain["explanation"] is None  # reasons cost time: only when asked
    answer = service.http.post("/predict?explain=true", json={"records": [record]}).json()["predictions"][0]
    explained = answer["explanation"]
    assert answer["probability"] == pytest.approx(plain["probability"], abs=1e-12)
    assert (explained["units"], explained["method"]) == ("log-odds", "linear")  # the champion is linear
    probability = answer["probability"]
    assert explained["margin"] == pytest.approx(math.log(probability / (1 - probability)), abs=1e-5)
    sizes = [abs(r["contribution"]) for r in explained["reasons"]]
    assert len(sizes) == 5 and sizes == sorted(sizes, reverse=True)
    by_name = {r["feature"]: r["value"] for r in explained["reasons"]}
    assert by_name.get("major", "Biology") == "Biology" and by_name.get("age", 21) == 21  # the values sent
    bad = service.http.post("/predict?explain=maybe", json={"records": [record]})
    assert bad.status_code == 422 and "explain" in bad.text


@pytest.mark.parametrize("payload", ["$$NOW", "$$ROOT", "$$REMOVE", "$literal", "$function", "$major",
                                     "$$CURRENT.age"])
def test_request_values_are_data_never_expressions(service, payload):
    """Strings that look like aggregation variables or operators, in every text field and in an unknown field,
    are values: the prediction is the one the same record gets with plain text there (the major is unknown to the
    model either way), never a 500 and never a silently dropped field."""
    plain = {**copy.deepcopy(REFERENCE_RECORD), "student_id": 77_100_001, "major": "Astrology",
             "nickname": "x", "courses": [{"course": "Stats", "credits": 3, "grades": [74, 57, 59]}]}
    hostile = {**copy.deepcopy(plain), "student_id": 77_100_002, "major": payload, "nickname": payload,
               "notes": {"why": payload}, "courses": [{"course": payload, "credits": 3, "grades": [74, 57, 59]}]}
    answer = service.http.post("/predict", json={"records": [plain, hostile]})
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["predictions"]
    assert second["probability"] == pytest.approx(first["probability"], abs=1e-12)
    from tasks.serving.store import request_features

    frame = request_features(service.db, [hostile], "literal")
    assert frame.loc[0, "major"] == payload and frame.loc[0, "num_courses"] == 1


def test_every_answer_is_logged_with_its_request_and_answers_keep_the_request_order(service):
    batch = records(40, 901)
    shuffled = batch[::-1]
    response = service.http.post("/predict", json={"records": shuffled})
    body = response.json()
    assert response.status_code == 200 and [p["student_id"] for p in body["predictions"]] == \
        [r["student_id"] for r in shuffled]
    answered_logged = logged(service.db, {"request_id": body["request_id"]})
    assert len(answered_logged) == 40 and {doc["source"] for doc in answered_logged} == {"api"}
    assert {(doc["student_id"], doc["prediction"]) for doc in answered_logged} == \
        {(p["student_id"], p["prediction"]) for p in body["predictions"]}


def test_requests_answered_equal_predictions_logged_under_concurrency(service):
    before = len(logged(service.db, {"source": "api"}))
    batches = [records(5, 910 + i) for i in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda b: service.http.post("/predict", json={"records": b}), batches))
    assert all(r.status_code == 200 for r in responses)
    answered = sum(len(r.json()["predictions"]) for r in responses)
    assert answered == 120 and len(logged(service.db, {"source": "api"})) - before == answered


def test_invalid_records_get_422_with_the_same_reasons_as_the_ingest_quarantine(service):
    good = copy.deepcopy(REFERENCE_RECORD)
    bad = [{**good, "student_id": 5, "age": -1}, {**good, "student_id": 6, "study": {"tutoring": "sometimes"}},
           {**good, "student_id": 7, "nickname": 2**70}, [1, 2], {**good, "student_id": 3}]
    response = service.http.post("/predict", json={"records": [good, *bad]})
    assert response.status_code == 422
    invalid = response.json()["detail"]["invalid"]
    _, quarantined = split_records([good, *bad], labeled=False)
    assert invalid == [{"position": q["position"], "student_id": q["student_id"], "reasons": q["reasons"]}
                       for q in quarantined]
    assert [(i["position"], i["reasons"][0]["rule"]) for i in invalid] == [
        (1, "range"), (2, "type"), (3, "storable"), (4, "type"), (5, "unique")]


@pytest.mark.parametrize(("content", "headers", "status", "says"), [
    (b"", {"content-type": "application/json"}, 400, "empty"),
    (b'{"records": [', {"content-type": "application/json"}, 400, "not valid JSON"),
    (b"[" * 50_000 + b"]" * 50_000, {"content-type": "application/json"}, 400, "nested too deeply"),
    (b'{"records": []}', {"content-type": "application/json"}, 422, "records is empty"),
    (b'{"rows": []}', {"content-type": "application/json"}, 422, "records"),
    (b"[]", {"content-type": "application/json"}, 422, ""),
    (b"records=1", {"content-type": "application/x-www-form-urlencoded"}, 415, "must be JSON"),
    (b'{"records": []}', {"content-type": "text/plain"}, 415, "must be JSON"),
    (b'{"records": ["' + b"x" * 6_000_000 + b'"]}', {"content-type": "application/json"}, 413, "at most"),
])
def test_bad_requests_get_a_clear_4xx_never_a_500(service, content, headers, status, says):
    response = service.http.post("/predict", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert says in str(response.json()["detail"])


def test_too_many_records_and_deep_records_are_refused(service):
    too_many = service.http.post("/predict", json={"records": [REFERENCE_RECORD] * 1001})
    assert too_many.status_code == 413 and "at most 1000" in too_many.json()["detail"]
    deep: dict = {}
    for _ in range(150):
        deep = {"n": deep}
    response = service.http.post("/predict", json={"records": [{**REFERENCE_RECORD, "extra": deep}]})
    assert response.status_code == 422
    assert response.json()["detail"]["invalid"][0]["reasons"][0]["expected"] == "at most 100 levels"


def test_no_champion_yet_is_a_503_that_says_what_to_do(store, monkeypatch):
    server, thread, url = serve(monkeypatch)
    try:
        import httpx

        with httpx.Client(base_url=url) as http:
            ready = http.get("/ready")
            predict = http.post("/predict", json={"records": [REFERENCE_RECORD]})
        assert ready.status_code == 503 and "run python flows/main.py" in ready.json()["detail"]
        assert predict.status_code == 503 and "run python flows/main.py" in predict.json()["detail"]
    finally:
        stop(server, thread)


def served_version(service) -> int:
    return service.http.post("/predict", json={"records": records(1, 950)}).json()["predictions"][0]["version"]


def wait_for_version(service, version: int, timeout: float = 10) -> float:
    start = time.monotonic()
    while served_version(service) != version:
        assert time.monotonic() - start < timeout, f"still not serving v{version}"
        time.sleep(0.1)
    return time.monotonic() - start


def test_a_promotion_and_a_rollback_by_other_processes_are_served_without_a_restart(service):
    env = {**os.environ, **service.env}
    env.pop("PREFECT_API_URL", None)
    promote = ("from infra.storage import get_database; from tasks.promotion.store import promote; "
               "assert promote(get_database(), 'high_performer', 1, 2, 'test: another process', {}, by='test')")
    subprocess.run([sys.executable, "-c", promote], cwd=ROOT, env=env, check=True, timeout=120)
    wait_for_version(service, 2)
    rollback = subprocess.run([sys.executable, "flows/rollback.py", "--json"], cwd=ROOT, env=env, timeout=240,
                              capture_output=True, text=True)
    assert rollback.returncode == 0, rollback.stderr[-2000:]
    assert wait_for_version(service, 1) < 10
    history = [(h["to_version"], h["by"]) for h in service.db[ALIAS_HISTORY].find({"alias": "champion"}).sort("at", 1)]
    assert history[-2:] == [(2, "test"), (1, "rollback")]


def test_a_store_outage_is_a_503_with_retry_after_and_the_service_recovers_by_itself(tmp_path, monkeypatch):
    """The store stops while the service runs: predictions and the dashboard answer 503 with Retry-After (never a
    500), and once the store is back the same service answers again without a restart."""
    import httpx

    from infra.local_server import ensure_server, stop_server
    from tasks.training.params import TrainingParams
    from tests.builders import add_batch, train_and_register
    from tests.conftest import free_port, use_store

    folder, port = tmp_path / "own-mongo", free_port()
    uri = ensure_server(folder, port)
    server = thread = None
    try:
        use_store(monkeypatch, uri, "outage", tmp_path)
        monkeypatch.setenv("MONGO_TIMEOUT_MS", "800")
        add_batch(400, 0)
        train_and_register(TrainingParams(algorithms=["linear"], cv_below=0))
        server, thread, url = serve(monkeypatch)
        http = httpx.Client(base_url=url, timeout=60)
        body = {"records": records(2, 5)}
        assert http.post("/predict", json=body).status_code == 200
        stop_server(folder)
        down = http.post("/predict", json=body)
        assert down.status_code == 503 and down.headers["Retry-After"] == "5", down.text
        assert "the store is not answering" in down.json()["detail"] or "store" in down.json()["detail"]
        page = http.get("/dashboard")
        assert page.status_code == 503 and page.headers["Retry-After"] == "5" and "store" in page.text
        ensure_server(folder, port)
        deadline = time.monotonic() + 30
        while (answer := http.post("/predict", json=body)).status_code != 200:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.5)
        assert len(answer.json()["predictions"]) == 2
    finally:
        if server is not None:
            stop(server, thread)
        stop_server(folder)


def test_metrics_are_prometheus_text_with_routes_batches_and_the_models(service):
    from prometheus_client.parser import text_string_to_metric_families

    service.http.post("/predict", json={"records": records(3, 11)})
    service.http.get("/ab-tests/does-not-exist")
    scrape = service.http.get("/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(scrape.text)}
    requests = {(s.labels["route"], s.labels["status"]): s.value for s in families["student_api_requests"].samples
                if s.name == "student_api_requests_total"}
    assert requests[("/predict", "200")] >= 1 and requests[("/ab-tests/{test_id}", "404")] >= 1
    assert not any("does-not-exist" in route for route, _ in requests)  # templates, never raw paths
    batches = [s for s in families["student_api_batch_records"].samples if s.name.endswith("_count")]
    assert batches and batches[0].value >= 1
    [champion] = families["student_model_champion_version"].samples
    assert champion.labels == {"model": "high_performer"} and champion.value in (1, 2)
    assert families["student_store_up"].samples[0].value == 1
    assert {"student_alerts_open", "student_drift_last_status", "student_estimate_latest",
            "student_api_queue_records", "student_api_request_seconds"} <= set(families)
    def parity() -> dict[str, float]:  # every batch is checked in this module's service, in the background
        scraped = {f.name: f for f in text_string_to_metric_families(service.http.get("/metrics").text)}
        return {s.labels["outcome"]: s.value for s in scraped["student_api_feature_parity"].samples}

    deadline = time.monotonic() + 20
    while parity()["checked"] < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    found = parity()
    assert set(found) == {"checked", "records", "mismatched", "skipped", "failed"}
    assert found["checked"] >= 1 and found["records"] >= 3 and found["mismatched"] == 0 and found["failed"] == 0

    from datetime import UTC, datetime

    from benchmarks.segment_power import labelled_batch, unevenness
    from tasks.monitoring.params import SegmentParams
    from tasks.monitoring.segments import two_looks

    rng = np.random.default_rng(4)
    world = unevenness(rng)
    earlier, latest = (labelled_batch(rng, world, drop=("first_generation", True, 0.15)) for _ in range(2))
    groups = two_looks(latest, [earlier], ["first_generation", "major"], SegmentParams(), True,
                       batches=["b1", "b2"]).as_dict()
    db, at = service.db, datetime.now(UTC)
    added = [db["drift_reports"].insert_one({"model": "high_performer", "status": "drift", "at": at}).inserted_id,
             db["performance"].insert_one({"model": "high_performer", "version": 1, "source": "labels",
                                           "batch_id": "b2", "segments": groups, "at": at}).inserted_id,
             db["performance"].insert_one({"model": "high_performer", "version": 1, "source": "estimate",
                                           "metric": "accuracy", "value": 0.81, "low": 0.77, "high": 0.85,
                                           "at": at}).inserted_id,
             db["alerts"].insert_one({"kind": "drift", "severity": "warning", "acknowledged": False,
                                      "at": at}).inserted_id]
    try:
        families = {f.name: f for f in text_string_to_metric_families(service.http.get("/metrics").text)}
        drift = {s.labels["status"]: s.value for s in families["student_drift_last_status"].samples}
        assert drift == {"drift": 1.0, "no_drift": 0.0, "insufficient_data": 0.0}
        estimate = {s.labels["bound"]: s.value for s in families["student_estimate_latest"].samples}
        assert estimate == {"value": 0.81, "low": 0.77, "high": 0.85}
        alerts = {(s.labels["kind"], s.labels["severity"]): s.value for s in families["student_alerts_open"].samples}
        assert alerts[("drift", "warning")] >= 1
        # per group: every figure of both looks, as stored, with its interval and whether it is material
        figures = {tuple(s.labels[k] for k in ("look", "field", "group", "metric", "bound")): s.value
                   for s in families["student_group_metric"].samples if s.labels["source"] == "labels"}
        for look, part in (("batch", groups), ("window", groups["window"])):
            for g in part["groups"]:
                key = (look, g["field"], g["group"], g["metric"])
                if g["status"] != "ok":  # too few students to compare: nothing of theirs is exported
                    assert not [k for k in figures if k[:4] == key]
                    continue
                assert figures[(*key, "value")] == g["value"] and figures[(*key, "rest")] == g["rest"]
                assert (figures[(*key, "gap")], figures[(*key, "low")], figures[(*key, "high")]) == \
                    (g["shortfall"], g["low"], g["high"])
        material = {(s.labels["look"], s.labels["group"], s.labels["metric"]) for s in
                    families["student_group_gap_material"].samples
                    if s.value == 1 and s.labels["field"] == "first_generation"}
        assert ("batch", "yes", "recall") in material and ("window", "yes", "recall") in material
    finally:
        for collection, doc_id in zip(("drift_reports", "performance", "performance", "alerts"), added, strict=True):
            db[collection].delete_one({"_id": doc_id})
