"""How a drift check reads (pure): the table, the markdown decision, the alert, and the dashboard's reading of
checks stored before findings had kinds; on a hand-made report with known numbers."""

from __future__ import annotations

import pytest

from tasks.monitoring.alerts import drift_alert, estimated_performance_alert, performance_alert
from tasks.monitoring.drift import KINDS, describe_drifted, tagged
from tasks.monitoring.findings import DriftReport, Finding, upgrade_document
from tasks.monitoring.report import drift_markdown, drift_rows, estimate_caveat
from tasks.monitoring.results import PerformanceEstimate


def report() -> DriftReport:
    findings = [
        Finding("distribution", "avg_grade", "ks", 0.21, 1e-12, 0.52, "wasserstein_norm", 2e-11, True, True),
        Finding("distribution", "major", "chi2", 3.1, 0.2, 0.03, "jensen_shannon", 1.0, False, False,
                {"unseen_categories": ["Astrology"]}),
        Finding("missing", "study_hours", "two_proportion_z", 9.0, 1e-15, 0.4, "cohen_h", 3e-14, True, True,
                {"reference_share": 0.0, "current_share": 0.04}),
        Finding("prediction", "prediction", "chi2", 0.5, 0.48, 0.01, "jensen_shannon", 0.48, False, False),
    ]
    return DriftReport("drift", 800, 2000, findings, ["a note"], {"min_effect": 0.1}, 20, ("distribution", "missing"))


def test_the_report_counts_material_findings_per_kind_and_the_deciding_features_once():
    checked = report()
    assert checked.drifted == {"distribution": ["avg_grade"], "missing": ["study_hours"], "prediction": []}
    assert checked.flagged == ["avg_grade", "study_hours"] and checked.share_drifted == 0.1
    assert [f.feature for f in checked.of_kind("distribution")] == ["avg_grade", "major"]
    stored = checked.as_dict()
    assert stored["drifted"] == checked.drifted and stored["share_drifted"] == 0.1
    assert stored["deciding"] == ["distribution", "missing"] and len(stored["findings"]) == 4


def test_the_table_has_one_row_per_finding_with_its_kind():
    rows = drift_rows(report())
    assert [(r["kind"], r["feature"], r["material"]) for r in rows] == [
        ("distribution", "avg_grade", True), ("distribution", "major", False), ("missing values", "study_hours", True),
        ("predicted classes", "prediction", False)]
    assert rows[0] == {"kind": "distribution", "feature": "avg_grade", "test": "ks", "statistic": 0.21,
                       "p_value": 1e-12, "p_adjusted": 2e-11, "significant": True, "effect_size": 0.52,
                       "effect": "wasserstein_norm", "material": True}


def test_the_decision_in_words_names_every_kind_that_drifted():
    text = drift_markdown("b7", "high_performer", 3, report(), "http://x/drift/1")
    assert "Decision: **drift** (2000 current rows, 800 reference rows)" in text
    assert "Materially drifted: avg_grade; missing values in study_hours; share of features 0.10." in text
    assert "- predicted classes: chi2 p = 0.48, jensen_shannon 0.010 -> stable." in text
    assert "- note: a note" in text and text.endswith("Every feature's histograms and numbers: http://x/drift/1")
    assert describe_drifted({"distribution": [], "missing": []}) == "none"
    assert tagged("missing", "study_hours") == "study_hours (missing)" and tagged("distribution", "age") == "age"


def test_the_drift_alert_carries_each_material_findings_numbers_under_its_kind():
    alert = drift_alert("b7", "high_performer", 3, report())
    assert alert.kind == "drift" and alert.severity == "warning" and (alert.model, alert.version) == (
        "high_performer", 3)
    assert alert.message == ("batch b7: material drift against high_performer v3 in avg_grade; missing values in "
                             "study_hours")
    assert alert.numbers["flagged"] == ["avg_grade", "study_hours"] and alert.numbers["share_drifted"] == 0.1
    assert alert.numbers["by_kind"] == {
        "distribution": {"avg_grade": {"effect_size": 0.52, "effect": "wasserstein_norm", "p_adjusted": 2e-11}},
        "missing": {"study_hours": {"effect_size": 0.4, "effect": "cohen_h", "p_adjusted": 3e-14,
                                    "reference_share": 0.0, "current_share": 0.04}}}


def test_performance_alerts_say_the_numbers_behind_them():
    live = performance_alert("b8", "high_performer", 3, "accuracy", 0.78, 0.86, 0.08, 0.05, 400)
    assert live.severity == "critical" and live.message == (
        "high_performer v3: live accuracy 0.7800 on batch b8, 0.0800 worse than at registration (0.8600; "
        "threshold 0.05)")
    estimate = PerformanceEstimate("ok", 3, "accuracy", 0.79, 0.77, 0.81, 2000, "platt", 0.86, 0.07)
    estimated = estimated_performance_alert("b9", "high_performer", 3, estimate, 0.05)
    assert estimated.kind == "estimated_performance" and "[0.7700, 0.8100] without labels" in estimated.message
    assert estimated.numbers["drop"] == pytest.approx(0.07) and estimated.numbers["calibration"] == "platt"
    assert "avg_grade, age still relate" in estimate_caveat(0.8, ["avg_grade", "age"])


def test_a_check_stored_before_findings_had_kinds_reads_as_findings():
    old = {"_id": 1, "status": "drift", "drifted": ["age"], "share_drifted": 0.05,
           "findings": ["age moved"],
           "features": [{"feature": "age", "kind": "numeric", "test": "ks", "statistic": 0.3, "p_value": 1e-9,
                         "effect_size": 0.4, "effect_measure": "wasserstein_norm", "p_adjusted": 2e-8,
                         "significant": True, "material": True, "unseen_categories": []}],
           "missing": {"features": [{"feature": "study_hours", "reference_share": 0.0, "current_share": 0.3,
                                     "test": "two_proportion_z", "statistic": 8.0, "p_value": 1e-12,
                                     "effect_size": 1.1, "effect_measure": "cohen_h", "p_adjusted": 1e-11,
                                     "significant": True, "drifted": True}], "drifted": ["study_hours"]},
           "prediction_drift": {"statistic": 1.0, "p_value": 0.3, "effect_size": 0.02, "drifted": False}}
    new = upgrade_document(old)
    assert new["drifted"] == {"distribution": ["age"], "missing": ["study_hours"], "prediction": []}
    assert new["notes"] == ["age moved"] and [f["kind"] for f in new["findings"]] == [
        "distribution", "missing", "prediction"]
    assert new["findings"][1]["numbers"] == {"reference_share": 0.0, "current_share": 0.3}
    assert upgrade_document(new) is new  # today's shape is left as it is
    assert set(KINDS) == {"distribution", "missing", "multivariate", "prediction"}


def test_a_new_kind_of_check_flows_through_report_alert_and_table_without_code_for_it():
    """The extension point: a kind declared once (here in the test, as a module would in CHECKS) is tested in the
    family, decides the batch, and appears in the table, the words, the alert and the drill's names."""
    import numpy as np
    import pandas as pd

    from tasks.monitoring.drift import CHECKS, CheckKind, detect_drift
    from tasks.monitoring.drill import DrillRun
    from tasks.monitoring.params import DriftParams

    def mean_shift(reference, current, numeric, categorical, settings):  # a toy statistic: z of the mean of x0
        gap = current["x0"].mean() - reference["x0"].mean()
        z = gap / np.sqrt(reference["x0"].var() / len(reference) + current["x0"].var() / len(current))
        from scipy.stats import norm
        return [Finding("mean", "x0", "z", float(z), float(2 * norm.sf(abs(z))), float(abs(gap)), "raw")]

    kind = CheckKind("mean", "means", "mean", "the mean of {features}", mean_shift, lambda f: None, lambda f: "")
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x0": rng.standard_normal(1000)})
    current = pd.DataFrame({"x0": rng.standard_normal(1000) + 0.3})
    checked = detect_drift(reference, current, ["x0"], [], DriftParams(), checks=(*CHECKS, kind))
    assert checked.drifted["mean"] == ["x0"] and checked.status == "drift" and "mean" in checked.deciding
    [found] = checked.of_kind("mean")
    assert found.p_adjusted == pytest.approx(min(1.0, found.p_value * 2))  # one family with the distribution test
    assert [r["kind"] for r in drift_rows(checked)] == ["distribution", "mean"]
    assert "mean: x0" in drift_markdown("b", "m", 1, checked, "page")
    alert = drift_alert("b", "m", 1, checked)
    assert alert.numbers["by_kind"]["mean"]["x0"]["effect"] == "raw" and "mean: x0" in alert.message
    run = DrillRun("no_drift", 1, 1000, "drift", {"distribution": ["x0"]}, [], 0.8, 0.78, 0.82, 0.8)
    assert run.named == ["x0"]
