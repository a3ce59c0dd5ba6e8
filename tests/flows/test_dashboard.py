"""The dashboard, the run reports and the alerts, on a store the real flows filled: every page over real HTTP
with its key numbers, the static report of a run, alerts stored and acknowledged, and the pages as a browser
draws them."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from flows.main import main_flow
from flows.params import MainParams, RetrainParams, ScoreParams
from flows.retrain import retrain_flow
from flows.score import score_flow
from infra.collections import ALERTS, PERFORMANCE
from tasks.data.synthetic import DriftKnobs
from tasks.training.params import TrainingParams
from tests.api.conftest import serve, stop
from tests.conftest import drop_database, use_store

FAST = TrainingParams(algorithms=["linear", "xgboost"])
SHIFT = DriftKnobs(grade_inflation=8, concept_drift=1.0)


@pytest.fixture(scope="module")
def history(prefect_harness, mongo_server, tmp_path_factory):
    """A store with a week of history: the first champion, a calm scoring run, a drifted scoring run, the drifted
    batch's labels (retrained, promoted), and a batch stopped by the quality gate; the service over it."""
    from infra.storage import get_database

    name = f"dashboard_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_store(monkeypatch, mongo_server, name, tmp_path_factory.mktemp("dashboard"))
        runs = {"main": main_flow(MainParams(students=2500, seed=0, export=False, training=FAST)),
                "calm": score_flow(ScoreParams(students=1000, seed=1)),
                "drifted": score_flow(ScoreParams(students=1000, seed=2, drift=SHIFT)),
                "retrain": retrain_flow(RetrainParams(students=1000, seed=2, drift=SHIFT, training=FAST))}
        with pytest.raises(Exception, match="above the 5.0% threshold"):
            main_flow(MainParams(students=300, seed=3, drift=DriftKnobs(malformed_rate=0.4), train=False))
        server, thread, url = serve(monkeypatch)
        try:
            yield {"runs": runs, "url": url, "db": get_database(), "http": httpx.Client(base_url=url, timeout=30)}
        finally:
            stop(server, thread)
    drop_database(mongo_server, name)


def test_the_overview_shows_the_champion_its_history_performance_and_open_alerts(history):
    page = history["http"].get("/dashboard")
    champion = history["runs"]["retrain"]["promotion"]["champion_after"]
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    text = page.text
    assert f">v{champion}</a></div>" in text and "challenger is better on accuracy" in text  # champion card, history
    assert "<svg" in text and "batch (sequence number)" in text  # live performance per version across batches
    assert "material drift against high_performer" in text and "rejected-share gate failed" in text  # alerts
    assert "<script" not in text and "cdn" not in text.lower()  # offline: nothing from elsewhere


def test_drift_pages_show_every_feature_with_its_numbers_and_histograms(history):
    drifted = history["runs"]["drifted"]["drift"]
    listing = history["http"].get("/dashboard/drift").text
    assert history["runs"]["drifted"]["batch_id"] in listing and history["runs"]["calm"]["batch_id"] in listing
    page = history["http"].get(f"/dashboard/drift/{drifted['report_id']}")
    assert page.status_code == 200
    text = page.text
    for feature in drifted["flagged"]:
        assert re.search(rf"<td>{feature}</td>.*?material", text, re.S)
    assert text.count("<svg") >= 18  # a reference-vs-current chart per feature
    assert "corrected p" in text and "effect size" in text
    assert history["http"].get("/dashboard/drift/000000000000000000000000").status_code == 404
    assert history["http"].get("/dashboard/drift/not-an-id").status_code == 404


def test_data_quality_shows_each_batch_with_its_reasons(history):
    text = history["http"].get("/dashboard/quality").text
    assert "gen-s3-n300-L" in text and "quality gate failed" in text
    assert re.search(r"courses\[\]\.grades\[\] (type|range) ×\d+", text)  # the most common reasons, counted
    assert "gen-s0-n2500-L" in text and "featurized" in text


def test_a_run_has_a_page_and_a_self_contained_report_with_the_same_numbers(history):
    run = history["runs"]["drifted"]
    html = Path(run["report"]["html"])
    assert html.is_file() and run["report"]["dashboard"].endswith(f"/dashboard/runs/{run['report']['run_id']}")
    report = html.read_text()
    page = history["http"].get(f"/dashboard/runs/{run['report']['run_id']}").text
    for text in (report, page):
        assert run["batch_id"] in text and "Drift: batch" in text and f"{run['scoring']['scored']}</div>" in text
        assert all(f"<td>{feature}</td>" in text for feature in run["drift"]["flagged"])
        assert "<h2>Stages</h2>" in text and "<td>raw quality</td>" in text and "<td>scoring</td>" in text
        assert f"{run['scoring']['scored']:,} scored by v" in text  # what each stage found, in words
    assert "<script" not in report and not re.search(r'(src|href)="https?://(?!127\.0\.0\.1)', report)
    retrain = history["runs"]["retrain"]["report"]
    assert "promoted" in Path(retrain["html"]).read_text()
    assert history["http"].get("/dashboard/runs/nope").status_code == 404
    overview = history["http"].get("/dashboard").text  # every run one click from the overview
    assert f'href="/dashboard/runs/{run["report"]["run_id"]}"' in overview
    assert f'href="/dashboard/runs/{retrain["run_id"]}"' in overview
    assert "at registration</text>" in overview  # the performance chart's line at registration


def test_alerts_are_stored_with_their_numbers_and_acknowledged_from_the_page(history):
    db = history["db"]
    drift = db[ALERTS].find_one({"kind": "drift", "batch_id": history["runs"]["drifted"]["batch_id"]})
    assert drift["severity"] == "warning" and set(drift["numbers"]["flagged"]) == \
        set(history["runs"]["drifted"]["drift"]["flagged"])
    assert drift["numbers"]["report_id"] == history["runs"]["drifted"]["drift"]["report_id"]
    link = f'href="/dashboard/drift/{drift["numbers"]["report_id"]}"'  # one click from the alert to its check
    assert link in history["http"].get("/dashboard/alerts").text and link in history["http"].get("/dashboard").text
    gate = db[ALERTS].find_one({"kind": "quality_gate"})
    assert gate["batch_id"].startswith("gen-s3-n300-L") and gate["numbers"]["share"] > 0.05
    assert db[PERFORMANCE].count_documents({"source": "labels"}) >= 1
    from tests.api.conftest import make_key, sign_in

    key = make_key(db, ["read", "operate"], "on call")
    browser = httpx.Client(base_url=history["url"], timeout=30)  # a person signs in, then uses the page's button
    assert sign_in(browser, key).status_code == 303
    token = browser.get("/dashboard/alerts").text.split('name="csrf" value="')[1].split('"')[0]
    response = browser.post(f"/dashboard/alerts/{gate['alert_id']}/acknowledge", data={"csrf": token},
                            follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/alerts"
    stored = db[ALERTS].find_one({"alert_id": gate["alert_id"]})
    assert stored["acknowledged"] and stored["acknowledged_by"].startswith("dashboard, key:")
    page = browser.get("/dashboard/alerts").text
    assert page.count("acknowledge</button>") == db[ALERTS].count_documents({"acknowledged": False})
    assert gate["alert_id"] not in [a["alert_id"] for a in history["http"].get("/alerts").json()]
    again = history["http"].post(f"/alerts/{gate['alert_id']}/acknowledge", headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 404


def test_groups_of_students_are_compared_with_the_rest_on_labels_and_estimated(history):
    http, db = history["http"], history["db"]
    measured = db[PERFORMANCE].find_one({"source": "labels", "segments": {"$exists": True}})
    groups = {(g["field"], g["group"]) for g in measured["segments"]["groups"]}
    assert {("first_generation", "yes"), ("part_time_job", "no"), ("major", "Math")} <= groups
    page = http.get("/dashboard/groups").text
    assert "Groups of students" in page and "worse than the rest by" in page and "material gap" in page
    assert "Latest on labels" in page and "Latest estimated without labels" in page
    retrain = history["runs"]["retrain"]
    run = http.get(f"/dashboard/runs/{retrain['report']['run_id']}").text
    assert "Groups of students, on labels" in run and "recall" in run  # the run's page: per group, and the rates
    trend = http.get("/dashboard/drift").text
    assert "Effect sizes across checks" in trend and "min effect" in trend and "avg_grade" in trend


def test_a_students_page_shows_their_terms_predictions_and_why(history):
    http = history["http"]
    page = http.get("/dashboard/students/1000005")  # the calm scoring run's fifth student
    text = page.text
    assert page.status_code == 200 and "Student 1000005" in text and "gen-s1-n1000-U" in text
    assert "Why: high_performer v" in text and "computed now from the champion" in text
    assert "contribution (" in text and text.count("<rect") >= 5  # the reasons, as bars
    assert "No term and no prediction" in http.get("/dashboard/students/424242").text
    assert http.get("/dashboard/students?student_id=1000005", follow_redirects=False).headers["location"] == \
        "/dashboard/students/1000005"
    bad = http.get("/dashboard/students?student_id=%3Cscript%3E")
    assert bad.status_code == 422 and "<script>" not in bad.text


def test_the_ab_tests_page_answers_with_no_test(history):
    page = history["http"].get("/dashboard/ab-tests")
    assert page.status_code == 200 and "No A/B test yet" in page.text


def nonblank(png: Path) -> float:
    """The share of pixels that are not the page's background."""
    import matplotlib.image

    pixels = matplotlib.image.imread(png)[..., :3]
    background = pixels[5, -5]
    return float(((abs(pixels - background)).sum(axis=2) > 0.1).mean())


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium: apt-get install -y chromium")
@pytest.mark.parametrize("page", ["", "/drift/{report_id}", "/groups", "/students/1000005", "/drift"])
def test_pages_drawn_by_a_browser_are_not_blank(history, tmp_path, page):
    path = page.format(report_id=history["runs"]["drifted"]["drift"]["report_id"])
    png = tmp_path / "page.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1800",
                    "--virtual-time-budget=5000", f"--screenshot={png}", f"{history['url']}/dashboard{path}"],
                   capture_output=True, timeout=120, check=True)
    assert png.is_file() and nonblank(png) > 0.05


def test_reports_plots_and_data_docs_are_served_from_the_store_over_http(history):
    """Nothing a link points at lives on one disk: the training report, its plots, the Data Docs pages and the run
    reports come from GridFS through the service (an HTML file sandboxed), one click from the pages."""
    http, main = history["http"], history["runs"]["main"]
    stamp = main["training"]["page"].rsplit("/", 1)[1]
    overview = http.get("/dashboard").text
    assert f'href="/dashboard/training/{stamp}"' in overview
    page = http.get(f"/dashboard/training/{stamp}").text
    assert "Training report: high_performer (classification)" in page and "<td>linear</td>" in page
    assert f'src="/dashboard/files/training/{stamp}/roc.png"' in page
    plot = http.get(f"/dashboard/files/training/{stamp}/roc.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content == (Path(main["training"]["report"]) / "roc.png").read_bytes()
    quality = http.get("/dashboard/quality").text
    docs = f"/dashboard/files/data-docs/{main['batch_id']}/features.html"
    assert f'href="{docs}"' in quality and main["data_docs"].endswith(docs)
    served = http.get(docs)
    assert served.status_code == 200 and "students-features-labeled" in served.text
    assert served.headers["content-security-policy"].startswith("sandbox;")
    assert "<script" not in served.text.lower()
    report = history["runs"]["drifted"]["report"]
    kept = http.get(f"/dashboard/files/reports/{Path(report['html']).name}")
    assert kept.status_code == 200 and kept.text == Path(report["html"]).read_text()
    assert http.get("/dashboard/files/reports/nope.html").status_code == 404
    assert http.get("/dashboard/training/nope").status_code == 404


def test_every_model_version_has_a_page_one_click_from_where_it_is_named(history):
    http, champion = history["http"], history["runs"]["retrain"]["promotion"]["champion_after"]
    overview = http.get("/dashboard").text
    link = f'href="/dashboard/models/high_performer/versions/{champion}"'
    assert overview.count(link) >= 3  # the champion card, the history, the versions table
    page = http.get(f"/dashboard/models/high_performer/versions/{champion}")
    assert page.status_code == 200
    text = page.text
    assert f"high_performer v{champion}: " in text and "Trained on" in text and "challenger is better" in text
    assert "champion</span>" in text and "<h2>Since registration</h2>" in text
    assert http.get("/dashboard/models/high_performer/versions/999").status_code == 404
    assert http.get("/dashboard/models/high_performer/versions/x").status_code == 422
