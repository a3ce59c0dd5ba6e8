"""Who may do what, over real HTTP: keys with scopes (401 without, 403 with the wrong one, both naming the scope),
reads and predictions open to this machine only, labels and operations never without a key, a dashboard session
with CSRF-protected forms, Host names checked, and a service that will not listen beyond loopback without keys.
Each of the issue's findings (anonymous promotion, poisoned labels, the salt, cross-site acknowledgement, DNS
rebinding) is reproduced and refused."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api import auth
from tasks.data.synthetic import generate_batch
from tests.api.conftest import make_key, sign_in
from tests.builders import logged


def records(n: int, seed: int) -> list[dict]:
    return generate_batch(n, seed, labeled=False).records


@pytest.fixture
def fresh(monkeypatch):
    """Keys are looked up on every request (no 5 s cache), so a revocation is seen at once."""
    monkeypatch.setattr(auth, "CACHE_S", 0.0)


def test_without_a_key_this_machine_may_read_and_predict_and_nothing_else(service):
    anonymous = service.anonymous
    assert anonymous.post("/predict", json={"records": records(2, 900)}).status_code == 200
    assert anonymous.get("/models").status_code == 200 and anonymous.get("/metrics").status_code == 200
    for method, path, body, scope in [
        ("post", "/ab-tests", {"version_b": 2, "mde": 0.4, "alpha": 0.4, "margin": 0}, "operate"),  # finding 1
        ("post", "/ab-tests/x/conclude", {}, "operate"),
        ("post", "/feedback", {"outcomes": [{"student_id": 1, "final_score": 0}]}, "label"),  # finding 2
        ("post", "/alerts/x/acknowledge", None, "operate"),
    ]:
        answer = getattr(anonymous, method)(path, json=body) if body is not None else anonymous.post(path)
        assert answer.status_code == 401 and f"'{scope}' scope" in answer.json()["detail"], (path, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
    # a proxy on this machine forwards the world: a forwarded request is not "this machine"
    forwarded = anonymous.post("/predict", json={"records": records(1, 901)},
                               headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status_code == 401
    # the kept reports, training pages and version pages are read pages: a remote viewer without a key is sent to
    # sign in, and a hostile path is looked up as a name, never echoed
    for path in ["/dashboard/files/data-docs/x/raw.html", "/dashboard/training/x",
                 "/dashboard/models/high_performer/versions/1", "/dashboard/files/..%2F..%2Fetc%2Fpasswd"]:
        remote = anonymous.get(path, headers={"X-Forwarded-For": "203.0.113.9"}, follow_redirects=False)
        assert remote.status_code == 303 and remote.headers["location"] == "/dashboard/sign-in", path
    for path in ["/dashboard/files/<script>alert(1)</script>", "/dashboard/training/$$NOW",
                 "/dashboard/models/<script>/versions/1", "/dashboard/files/" + "a" * 5000]:
        missing = anonymous.get(path)
        assert missing.status_code == 404 and "<script>" not in missing.text and "$$NOW" not in missing.text


def test_keys_are_checked_scope_by_scope_and_a_revoked_key_stops_working(service, fresh):
    from datetime import UTC, datetime

    from tasks.serving.store import revoke_key

    predictor = make_key(service.db, ["predict"], "sis")
    http = httpx.Client(base_url=service.url, timeout=60, headers={"X-API-Key": predictor})
    assert http.post("/predict", json={"records": records(1, 902)}).status_code == 200
    denied = http.post("/feedback", json={"outcomes": [{"student_id": 1, "final_score": 50}]})
    assert denied.status_code == 403 and "this needs 'label'" in denied.json()["detail"]
    assert "sis" in denied.json()["detail"] and predictor not in denied.text  # names the key, never shows it
    wrong = http.post("/predict", json={"records": records(1, 903)}, headers={"X-API-Key": predictor[:-2] + "xx"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
    assert revoke_key(service.db, predictor.split("_")[1], datetime.now(UTC))
    assert http.post("/predict", json={"records": records(1, 904)}).status_code == 401


def test_labels_are_trusted_only_from_a_label_key_and_only_for_students_that_were_scored(service):
    from tasks.data.store import posted_outcomes

    scored = records(3, 905)
    assert service.http.post("/predict", json={"records": scored}).status_code == 200
    ids = [r["student_id"] for r in scored]
    unknown = service.http.post("/feedback", json={"outcomes": [{"student_id": 987_654_321, "final_score": 10}]})
    assert unknown.status_code == 422 and unknown.json()["detail"]["students"] == [987_654_321]
    posted = service.http.post("/feedback", json={"outcomes": [{"student_id": s, "final_score": 80} for s in ids]})
    assert posted.status_code == 200 and posted.json()["by"].startswith("key:")
    stored = service.db["feedback"].find_one({"student_id": ids[0]})
    assert stored["trusted"] and stored["posted_by"] == service.key.split("_")[1]
    service.db["feedback"].update_one({"student_id": ids[1]}, {"$set": {"trusted": False}})  # as before keys
    assert sorted(posted_outcomes(service.db, ids)) == sorted([ids[0], ids[2]])


def test_another_host_name_is_refused(service):
    answer = service.anonymous.get("/models", headers={"Host": "attacker.example"})  # DNS rebinding
    assert answer.status_code == 400


def test_the_dashboard_signs_in_with_a_key_and_its_forms_carry_a_csrf_token(service, fresh):
    from tasks.alerting.alerts import Alert
    from tasks.alerting.store import raise_alert

    alert = raise_alert(service.db, Alert("drift", "warning", "a test alert", batch_id="b-auth"))
    act = f"/dashboard/alerts/{alert['alert_id']}/acknowledge"
    # a page on another site posting the form: no session, and anonymous may not operate
    assert service.anonymous.post(act, follow_redirects=False).status_code == 401
    page = service.anonymous.get("/dashboard/alerts")
    assert page.status_code == 200 and "sign in to acknowledge" in page.text and "csrf" not in page.text

    operator = make_key(service.db, ["read", "operate"], "on call <b>")
    browser = httpx.Client(base_url=service.url, timeout=60)
    bad = sign_in(browser, operator + "x")
    assert bad.status_code == 401 and "not valid" in bad.text
    signed = sign_in(browser, operator)
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
    assert operator not in signed.headers["set-cookie"]  # the cookie is a session, not the key
    page = browser.get("/dashboard/alerts").text
    assert "on call &lt;b&gt;" in page and 'name="csrf"' in page
    token = page.split('name="csrf" value="')[1].split('"')[0]
    assert browser.post(act, data={}, follow_redirects=False).status_code == 403  # the cookie alone is not enough
    assert browser.post(act, data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    done = browser.post(act, data={"csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    stored = service.db["alerts"].find_one({"alert_id": alert["alert_id"]})
    assert stored["acknowledged"] and "on call <b>" in stored["acknowledged_by"]
    assert browser.post("/dashboard/sign-out", data={"csrf": token}, follow_redirects=False).status_code == 303
    after = browser.get("/dashboard/alerts").text  # signed out: an anonymous viewer on this machine again
    assert 'href="/dashboard/sign-in"' in after and "on call" not in after.split("<main>")[0]
    remote = browser.get("/dashboard", headers={"X-Forwarded-For": "203.0.113.9"}, follow_redirects=False)
    assert remote.status_code == 303 and remote.headers["location"] == "/dashboard/sign-in"


def test_the_service_will_not_listen_beyond_this_machine_without_a_key(store, monkeypatch):
    from api.app import create_app
    from infra.settings import get_settings
    from infra.storage import get_database

    monkeypatch.setenv("PIPELINE_API_HOST", "0.0.0.0")
    app = create_app(get_settings())

    async def start():
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(RuntimeError, match="no API key exists: create one first"):
        asyncio.run(start())
    make_key(get_database(), ["predict"])
    with pytest.raises(RuntimeError, match="name the host names clients use in PIPELINE_API_ALLOWED_HOSTS"):
        asyncio.run(start())
    monkeypatch.setenv("PIPELINE_API_ALLOWED_HOSTS", "predict.school.example")
    app = create_app(get_settings())
    asyncio.run(start())  # a key and the public name: it starts


def test_keys_are_made_listed_and_revoked_from_the_command_line(store, capsys):
    from api.keys import main
    from infra.storage import get_database

    assert main(["create", "--name", "school-sis", "--scopes", "predict,read"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    stored = get_database()["api_keys"].find_one({"key_id": key_id})
    assert stored["scopes"] == ["predict", "read"] and key.split("_", 2)[2] not in str(stored)  # only its hash
    assert main(["list"]) == 0 and "school-sis" in capsys.readouterr().out
    assert main(["revoke", key_id]) == 0 and main(["revoke", key_id]) == 1
    with pytest.raises(SystemExit):
        main(["create", "--name", "x", "--scopes", "predict,admin"])
    assert "unknown scope(s) ['admin']" in capsys.readouterr().err


def test_a_test_s_thresholds_come_from_the_server_a_client_may_only_ask_for_stricter(service):
    loose = service.http.post("/ab-tests", json={"name": "rigged", "version_b": 2, "mde": 0.4, "alpha": 0.4,
                                                 "margin": 0, "power": 0.5})  # finding 1's thresholds, with a key
    assert loose.status_code == 422
    detail = loose.json()["detail"]
    for says in ("alpha 0.4 is looser than the server's 0.05", "power 0.5 is below the server's 0.8",
                 "margin 0 is below the server's 0.01", "mde 0.4 is beyond the server's 0.1"):
        assert says in detail
    strict = service.http.post("/ab-tests", json={"name": "careful", "version_b": 2, "mde": 0.05, "alpha": 0.01,
                                                  "margin": 0.02, "power": 0.95})
    assert strict.status_code == 201 and strict.json()["alpha"] == 0.01
    concluded = service.http.post(f"/ab-tests/{strict.json()['test_id']}/conclude", json={"force": True})
    assert concluded.status_code == 200


def test_an_operator_may_ask_a_given_version_and_the_answer_is_logged_like_any(service):
    body = {"records": records(2, 906)}
    predictor = make_key(service.db, ["predict"], "sis")
    refused = service.anonymous.post("/predict?version=2", json=body, headers={"X-API-Key": predictor})
    assert refused.status_code == 403 and "'operate'" in refused.json()["detail"]
    answer = service.http.post("/predict?version=2", json=body)
    assert answer.status_code == 200 and {p["version"] for p in answer.json()["predictions"]} == {2}
    pinned = logged(service.db, {"request_id": answer.json()["request_id"]})
    assert len(pinned) == 2 and all(doc["pinned"] and doc["version"] == 2 and doc["arm"] is None for doc in pinned)
    assert service.http.post("/predict?version=99", json=body).status_code == 404
