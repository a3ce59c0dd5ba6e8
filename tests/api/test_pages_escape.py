"""Every page type the service draws, with a script payload in the free-text fields that reach it (an alert's
message, an A/B test's name, a batch id, a course and a major, a sanity finding): the payload is text in the HTML,
and a real browser that opens the page runs nothing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tasks.alerting.alerts import Alert
from tasks.alerting.store import raise_alert
from tasks.data.ingest import BatchInput
from tasks.data.tasks import aggregate_features, ingest_batch
from tests.conftest import REFERENCE_RECORD

PAYLOAD = "<img src=x onerror=\"document.title='PWNED'\">"
PAGES = ["/dashboard", "/dashboard/quality", "/dashboard/alerts", "/dashboard/ab-tests", "/dashboard/drift",
         "/dashboard/sign-in", "/dashboard/groups", "/dashboard/students/66000001"]


@pytest.fixture(scope="module")
def hostile(service):
    raise_alert(service.db, Alert("drift", "critical", f"drift in {PAYLOAD}", {"feature": PAYLOAD},
                                  batch_id=PAYLOAD))
    created = service.http.post("/ab-tests", json={"name": PAYLOAD[:100], "version_b": 2, "mde": 0.05})
    assert created.status_code == 201
    record = {**REFERENCE_RECORD, "student_id": 66_000_001, "major": PAYLOAD,
              "courses": [{"course": PAYLOAD, "credits": 3, "grades": [50]}]}
    ingest_batch.fn(BatchInput(f"file-{PAYLOAD}", False, [record, "not a record"], {"type": "file"}), 1000)
    aggregate_features.fn(f"file-{PAYLOAD}")
    from tasks.monitoring.params import DriftParams, EstimateParams
    from tasks.monitoring.tasks import check_drift, estimate_performance
    from tasks.scoring.tasks import score_batch

    score_batch.fn(f"file-{PAYLOAD}", "high_performer", explain=True)  # the major reaches the stored reasons
    estimate_performance.fn(f"file-{PAYLOAD}", "high_performer", EstimateParams())  # and the groups page
    drift = check_drift.fn(f"file-{PAYLOAD}", "high_performer", DriftParams(), announce=False)
    PAGES.append(f"/dashboard/drift/{drift.report_id}")
    yield service
    service.http.post(f"/ab-tests/{created.json()['test_id']}/conclude", json={"force": True})


@pytest.mark.parametrize("index", range(len(PAGES) + 1))
def test_text_from_data_and_clients_is_text_on_every_page(hostile, index, tmp_path):
    path = PAGES[index]  # the last one is the drift check of the hostile batch, made by the fixture
    page = hostile.anonymous.get(path)
    assert page.status_code == 200
    assert PAYLOAD not in page.text and "<img src=x" not in page.text
    if path in ("/dashboard/quality", "/dashboard/alerts", "/dashboard/ab-tests", "/dashboard/groups",
                "/dashboard/students/66000001") or "/drift/" in path:
        assert "&lt;img src=x onerror=" in page.text  # it is there, as text
    if shutil.which("chromium"):
        dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
                              hostile.url + path], capture_output=True, text=True, timeout=120, check=True).stdout
        assert dom.split("<title>")[1].split("</title>")[0] != "PWNED"  # the handler would have set it so
