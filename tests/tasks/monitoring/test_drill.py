"""The drill's scorecard (pure): rates, verdicts, named features and estimate errors on a table of known runs."""

from __future__ import annotations

import pytest

from tasks.monitoring.drill import SCENARIOS, DrillRun, scorecard, scorecard_markdown


def run(scenario, seed, status, drifted=(), missing=(), significant=(), estimate=0.85, realised=0.85,
        interval=0.02, prediction=False) -> DrillRun:
    found = {"distribution": list(drifted), "missing": list(missing),
             "prediction": ["prediction"] if prediction else []}
    return DrillRun(scenario, seed, 2000, status, found, list(significant), estimate, estimate - interval,
                    estimate + interval, realised)


def test_the_scorecard_has_one_row_per_scenario_that_ran_in_the_scenarios_order():
    runs = [
        run("concept_drift", 1, "no_drift", estimate=0.86, realised=0.80),
        run("concept_drift", 2, "drift", drifted=["age"], estimate=0.87, realised=0.83),
        run("no_drift", 1, "no_drift", significant=["major"], estimate=0.86, realised=0.85),
        run("no_drift", 2, "drift", drifted=["age"], estimate=0.84, realised=0.85),
        run("no_drift", 3, "no_drift", estimate=0.85, realised=0.85),
        run("no_drift", 4, "insufficient_data", estimate=0.85, realised=0.90),
    ]
    rows = scorecard(runs)
    assert [row.scenario for row in rows] == ["no_drift", "concept_drift"]
    calm, concept = rows
    assert calm.expected == "no drift" and calm.runs == 4 and calm.flagged == 0.25
    assert calm.verdict == "false alarms 1/4" and calm.named == "age 1/4" and calm.below_effect == "major 1/4"
    assert calm.mean_error == pytest.approx((0.01 - 0.01 + 0 - 0.05) / 4)
    assert calm.max_abs_error == 0.05 and calm.covered == 0.75  # 0.90 is outside [0.83, 0.87]
    assert concept.verdict == "false alarms 1/2" and concept.mean_error == pytest.approx(0.05)
    assert concept.covered == 0.0 and concept.realised == pytest.approx(0.815)


def test_a_drift_counts_as_detected_only_when_it_names_a_feature_the_knob_moved():
    runs = [
        run("grade_inflation_5", 1, "drift", drifted=["avg_grade", "max_grade"], prediction=True),
        run("grade_inflation_5", 2, "drift", drifted=["age"]),  # flagged, but for the wrong reason
        run("grade_inflation_5", 3, "no_drift"),
        run("missing_values", 1, "drift", missing=["study_hours", "attendance_rate"]),
        run("missing_values", 2, "no_drift", significant=["study_hours (missing)"]),
    ]
    grades, missing = scorecard(runs)
    assert grades.flagged == pytest.approx(0.667) and grades.verdict == "detected 1/3"
    assert grades.named == "age 1/3, avg_grade 1/3, max_grade 1/3" and grades.prediction_drift == pytest.approx(0.333)
    assert missing.verdict == "detected 1/2" and missing.knobs == {"missing_rate": 0.25}
    assert missing.named == "attendance_rate (missing) 1/2, study_hours (missing) 1/2"
    assert missing.below_effect == "study_hours (missing) 1/2"
    table = scorecard_markdown([grades, missing], "linear", {"min_effect": 0.1})
    assert "| grade_inflation_5 | drift | 67% | detected 1/3 |" in table and "min_effect" in table


def test_every_scenario_says_what_it_moves():
    for scenario in SCENARIOS.values():
        assert scenario.should_flag == bool(scenario.moves) and scenario.about
    assert not SCENARIOS["no_drift"].should_flag and SCENARIOS["no_drift"].knobs.is_zero()
    assert not SCENARIOS["concept_drift"].should_flag  # the features do not move: only labels can tell
