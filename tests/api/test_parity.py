"""The live feature-parity check: a sampled batch is computed again through the store's aggregation in the
background; equal features count as checked, a difference raises the ``feature_parity`` alert naming it."""

from __future__ import annotations

from api.parity import ParitySampler
from infra.collections import ALERTS
from tasks.serving.features import in_process_features
from tests.tasks.serving.test_features_parity import edge_cases


def test_sampled_batches_are_checked_off_the_answer_path_and_a_difference_raises_an_alert(db):
    from infra.storage import get_database

    records = edge_cases()[:6]
    frame = in_process_features(records, "r1")
    sampler = ParitySampler(1.0, get_database, seed=1)
    try:
        assert sampler.offer("high_performer", records, "r1", _contract(), frame)
        sampler.drain()
        assert sampler.counts == {"checked": 1, "records": 6, "mismatched": 0, "skipped": 0, "failed": 0}
        assert db[ALERTS].count_documents({}) == 0

        answered = in_process_features(records, "r2")
        wrong = answered.assign(avg_grade=answered["avg_grade"] + 0.5)  # an in-process definition that drifted
        assert sampler.offer("high_performer", records, "r2", _contract(), wrong)
        sampler.drain()
        assert sampler.counts["mismatched"] == 1
        alert = db[ALERTS].find_one({"kind": "feature_parity"})
        assert alert["severity"] == "critical" and alert["model"] == "high_performer"
        assert "PIPELINE_API_FEATURES=store" in alert["message"] and "avg_grade" in alert["message"]
        assert {d["feature"] for d in alert["numbers"]["differences"]} == {"avg_grade"}
        assert alert["numbers"]["request_id"] == "r2"
    finally:
        sampler.stop()
    assert not ParitySampler(0.0, get_database).offer("high_performer", records, "r3", _contract(), frame)


def _contract():
    from validation.contracts import DEFAULT_CONTRACT

    return DEFAULT_CONTRACT
