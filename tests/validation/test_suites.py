"""Great Expectations suites through a Checkpoint: clean data passes, each broken contract is reported."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tasks.data.synthetic import DriftKnobs, generate_batch
from tests.conftest import REFERENCE_RECORD
from validation.contracts import LabelRule
from validation.gx_runner import run_suite
from validation.suites import raw_frame, raw_suite


def failed_columns(result) -> set[tuple[str, str]]:
    return {(f["expectation"], f["column"]) for f in result.failed}


def test_clean_generated_batch_passes_every_expectation_and_builds_data_docs(tmp_path):
    batch = generate_batch(300, 30)
    result = run_suite(raw_frame(batch.records), raw_suite(labeled=True), "raw", tmp_path / "gx", "clean")
    assert result.success and result.failed == [] and result.findings == [] and result.evaluated == 15
    index = Path(result.data_docs.removeprefix("file://"))
    assert index.is_file() and "<html" in index.read_text().lower()


def test_broken_records_fail_their_expectations(tmp_path):
    records = [REFERENCE_RECORD,
               {**REFERENCE_RECORD, "student_id": 4, "age": -5},
               {**REFERENCE_RECORD, "student_id": 5, "courses": [REFERENCE_RECORD["courses"][0]] * 31},
               {**REFERENCE_RECORD, "student_id": 3},
               {**REFERENCE_RECORD, "student_id": 6, "major": "Astrology"},
               {**REFERENCE_RECORD, "student_id": 7,
                "courses": [{"course": "X", "credits": 3, "grades": ["85", 140]}]},
               [1, 2]]
    result = run_suite(raw_frame(records), raw_suite(labeled=False), "raw", tmp_path / "gx", "broken")
    assert not result.success
    assert {("expect_column_values_to_be_between", "age"), ("expect_column_values_to_be_between", "num_courses"),
            ("expect_column_values_to_be_unique", "student_id"), ("expect_column_values_to_not_be_null", "student_id"),
            ("expect_column_values_to_be_in_set", "grades_numeric"),
            ("expect_column_values_to_be_between", "max_grade")} <= failed_columns(result)
    # an unknown major is a finding, not a failure
    assert [(f["column"], f["sample"]) for f in result.findings] == [("major", ["Astrology"])]


@pytest.mark.parametrize("labeled", [True, False])
def test_labels_are_checked_only_on_labeled_batches(tmp_path, labeled):
    records = generate_batch(50, 31, labeled=False).records
    result = run_suite(raw_frame(records), raw_suite(labeled=labeled), "raw", tmp_path / "gx", f"l{labeled}")
    assert result.success is (not labeled)


def test_a_class_that_disagrees_with_the_label_rule_fails_the_raw_suite(tmp_path):
    batch = generate_batch(100, 33)
    batch.records[0]["high_performer"] = not batch.records[0]["high_performer"]
    result = run_suite(raw_frame(batch.records), raw_suite(labeled=True), "raw", tmp_path / "gx", "rule")
    assert not result.success and failed_columns(result) == {("expect_column_values_to_be_in_set", "label_agrees")}
    at_risk = LabelRule.parse("at risk: < 50")
    other = generate_batch(100, 33, label_rule=at_risk)  # the same students, asked another question
    assert run_suite(raw_frame(other.records, at_risk), raw_suite(labeled=True), "raw", tmp_path / "gx",
                     "at-risk").success


def test_missing_optional_fields_do_not_fail_the_raw_suite(tmp_path):
    batch = generate_batch(300, 32, knobs=DriftKnobs(missing_rate=0.3))
    assert run_suite(raw_frame(batch.records), raw_suite(labeled=True), "raw", tmp_path / "gx", "missing").success


def test_the_feature_suite_checks_every_feature_column(tmp_path):
    from validation.pandas_twin import pandas_features
    from validation.suites import features_suite

    batch = generate_batch(200, 33, knobs=DriftKnobs(missing_rate=0.3))
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    assert run_suite(frame, features_suite(labeled=True), "features", tmp_path / "gx", "clean").success
    broken = frame.astype(object)
    broken.loc[0, "tutoring"], broken.loc[1, "grade_range"], broken.loc[2, "study_hours"] = "sometimes", 140.0, -3.0
    broken.loc[3, "enrollment_year"], broken.loc[4, "batch_seq"] = 1850, None
    result = run_suite(broken, features_suite(labeled=True), "features", tmp_path / "gx", "broken")
    assert {("expect_column_values_to_be_in_set", "tutoring"), ("expect_column_values_to_be_between", "grade_range"),
            ("expect_column_values_to_be_between", "study_hours"),
            ("expect_column_values_to_be_between", "enrollment_year"),
            ("expect_column_values_to_not_be_null", "batch_seq")} == failed_columns(result)


PAYLOAD = "<img src=x onerror=\"document.title='PWNED'\">"  # 44 characters: a major the rules accept


def validation_pages(result) -> list[Path]:
    site = Path(result.data_docs.removeprefix("file://")).parent
    return sorted((site / "validations").rglob("*.html"))


def test_values_from_the_data_are_text_in_data_docs_never_markup(tmp_path):
    """A hostile major (accepted: unknown majors are a finding) reaches Great Expectations' Data Docs as text."""
    records = [REFERENCE_RECORD, {**REFERENCE_RECORD, "student_id": 4, "major": PAYLOAD}]
    result = run_suite(raw_frame(records), raw_suite(labeled=False), "raw", tmp_path / "gx", "hostile")
    [finding] = [f for f in result.findings if f["column"] == "major"]
    assert finding["unexpected_count"] == 1  # escaping changed no outcome
    [page] = validation_pages(result)
    text = page.read_text()
    assert "onerror" in text and PAYLOAD not in text and "<img src=x" not in text  # shown, as text
    if shutil.which("chromium"):  # and a browser that opens it runs nothing
        dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
                              page.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
        assert dom.split("<title>")[1].split("</title>")[0] != "PWNED"  # the handler would have set it so
        assert "onerror" in dom


def test_a_data_docs_page_made_offline_keeps_its_results_and_loses_everything_remote():
    from validation.gx_runner import offline_page

    page = ('<html><head><link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/b.css">'
            '<link href="../../static/styles/x.css" rel="stylesheet"><script src="https://code.jquery.com/j.js">'
            '</script></head><body><img src="https://great-expectations-web-assets.s3.amazonaws.com/logo.png?id=1">'
            '<a href="../../index.html">home</a><a href="#age">age</a><SCRIPT>\nalert(1)\n</SCRIPT>'
            '<table class="table"><tr><td><i class="fas fa-check-circle text-success"></i></td>'
            '<td>values must never be null.</td></tr></table></body></html>')
    out = offline_page(page)
    assert "<script" not in out.lower() and "https://" not in out and "../" not in out
    assert 'href="#"' in out and 'href="#age"' in out  # links into the GX folder dropped, anchors kept
    assert "values must never be null." in out and '<table class="table">' in out
    assert out.count("<style>") == 1 and ".table" in out and '.fa-check-circle::before { content: "\\2714"; }' in out
    assert "@font-face" not in out
