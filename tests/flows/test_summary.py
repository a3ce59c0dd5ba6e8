"""Run summaries and the lines a person reads (pure: built from typed results, no server, no store)."""

from __future__ import annotations

import pytest

from flows.summary import (
    render_retrain,
    render_rollback,
    render_score,
    retrain_summary,
    rollback_summary,
    score_summary,
)
from tasks.data.results import BatchStages, Featurized, Ingested, Quality, StoreCounts
from tasks.monitoring.results import DriftCheck, LivePerformance, PerformanceEstimate
from tasks.promotion.decisions import RetrainDecision
from tasks.promotion.results import GateOutcome, RolledBack
from tasks.reporting.results import RunReport
from tasks.scoring.results import Scored

pytestmark = pytest.mark.pure


def quality(suite: str) -> Quality:
    return Quality(suite, True, 20, [], [{"column": "major"}], 1000, "/gx/index.html", 1.5)


def stages() -> BatchStages:
    return BatchStages(Ingested("b2", 2, False, 1000, 990, 10, 990, 0, 10, 0.8), quality("raw"),
                       Featurized("b2", 990, 0, 1.2), quality("features"), "generate", 0.4)


STORED = StoreCounts("local MongoDB (mongodb://127.0.0.1:27027/)", {"batches": 2})
DRIFT = DriftCheck("drift", {"distribution": ["avg_grade"], "missing": ["study_hours"], "prediction": []},
                   ["avg_grade", "study_hours"], 0.1, ["a note"], "r1", 3, 0.9)
REPORT = RunReport("run1", "http://127.0.0.1:8000/dashboard/runs/run1", "/a/reports/x.html")


def test_the_scoring_summary_and_its_lines():
    scored = Scored("b2", "high_performer", 3, 990, 990, 0, {"0": 700, "1": 290}, 2.0)
    estimate = PerformanceEstimate("ok", 3, "accuracy", 0.851, 0.83, 0.87, 990, "platt", 0.86, 0.009)
    summary = score_summary(stages(), STORED, scored, estimate, DRIFT, REPORT)
    assert summary["accepted"] == 990 and summary["rejected"] == 10 and summary["kind"] == "unlabeled"
    assert summary["label_rule"] is None  # an unlabeled batch answers no question yet
    assert summary["quality"]["raw"] == {"evaluated": 20, "failed": 0, "findings": 1}
    assert summary["drift"]["drifted"]["missing"] == ["study_hours"] and summary["drift"]["flagged"] == [
        "avg_grade", "study_hours"]
    assert summary["seconds"]["score"] == 2.0 and summary["seconds"]["drift"] == 0.9
    text = render_score(summary)
    assert "drift      drift vs v3: drifted avg_grade; missing values in study_hours" in text
    assert "estimate   accuracy 0.8510 [0.8300, 0.8700] without labels (calibration: platt); 0.8600" in text
    assert "scored     990 students with high_performer v3 (990 new predictions, 0 already logged)" in text
    assert "\nlog " not in text  # nothing rolled up: no line
    text = render_score({**summary, "log": {"rolled_up": 12500, "groups": 4, "retention_days": 180}})
    assert "log        12,500 predictions of closed days rolled up; raw predictions kept 180 days after their " \
           "roll-up" in text
    assert "kept for ever" in render_score({**summary, "log": {"rolled_up": 3, "groups": 1, "retention_days": 0}})


def test_the_retraining_summary_and_its_lines():
    live = LivePerformance("ok", 800, 3, "accuracy", 0.79, 0.86, 0.07, 0.84, -0.05)
    outcome = GateOutcome(True, True, "challenger better by 0.08 (p = 1e-6)", {"p_value": 1e-6}, 3, 4, 4)
    summary = retrain_summary(stages(), STORED, DRIFT, live, RetrainDecision(True, ["material drift"]), outcome,
                              REPORT)
    text = render_retrain(summary)
    assert "live       accuracy 0.7900 vs 0.8600 at registration, on 800 students it had scored; the label-free " \
           "estimate for them was 0.8400" in text
    assert "retrain    yes: material drift" in text
    assert "promotion  challenger better by 0.08 (p = 1e-6) (champion v4)" in text


@pytest.mark.parametrize(("live", "says"), [
    (LivePerformance("insufficient_data", 0, 3, needed=100),
     "live       not measured: 0 of this batch's students had been scored by v3 (at least 100 needed; score a "
     "batch first, then bring in its labels: --labels-for BATCH_ID)"),
    (LivePerformance("label_rule_differs", version=3),
     "live       not measured: this batch's labels answer another question than v3's label rule"),
    (LivePerformance("no_champion"), "live       not measured: no champion yet"),
])
def test_a_check_that_measured_nothing_says_so_plainly(live, says):
    thin = DriftCheck("insufficient_data", {}, [], 0.0, ["need at least 500 current rows and 100 reference rows to "
                                                          "say anything about drift (have 300 and 800)"], "r1", 3, 0.1)
    text = render_retrain(retrain_summary(stages(), STORED, thin, live, RetrainDecision(False, ["nothing"]), None,
                                          REPORT))
    assert says in text
    assert "drift      not measured vs v3: need at least 500 current rows" in text


def test_the_rollback_line():
    summary = rollback_summary(RolledBack("high_performer", True, 2, 3))
    assert render_rollback(summary) == "champion   high_performer: v3 -> v2 (rolled back)"


def test_predicted_counts_read_as_words_not_a_python_dict():
    from flows.summary import readable_counts

    assert readable_counts({"1": 436, "0": 1564}) == "1564 x 0, 436 x 1"
    assert readable_counts({"mean": 61.234}) == "mean 61.23"
