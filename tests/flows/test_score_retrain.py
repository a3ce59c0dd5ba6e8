"""Scoring and drift-gated retraining end to end, under Prefect's test harness."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from flows.params import RetrainParams, ScoreParams
from flows.retrain import retrain_flow
from flows.score import main as score_main
from flows.score import score_flow
from infra.collections import ALIAS_HISTORY, DRIFT_REPORTS, EVALUATIONS
from tasks.data.synthetic import DriftKnobs
from tasks.registry.store import CHAMPION, PREVIOUS_CHAMPION, ModelNotFoundError, get_alias
from tasks.training.params import TrainingParams
from tests.builders import logged

FAST = TrainingParams(algorithms=["linear", "xgboost"])

def test_scoring_logs_every_prediction_once_and_checks_drift(db, champion):
    first = score_flow(ScoreParams(students=800, seed=1))
    assert first["kind"] == "unlabeled" and first["scoring"]["scored"] == 800
    assert first["scoring"]["version"] == champion and first["scoring"]["new_predictions"] == 800
    doc = logged(db, {"batch_id": first["batch_id"]})[0]
    assert {"student_id", "batch_id", "model", "version", "prediction", "probability", "scored_at"} <= set(doc)
    assert 0 <= doc["probability"] <= 1 and doc["prediction"] in (0, 1)
    again = score_flow(ScoreParams(students=800, seed=1))
    assert again["scoring"]["new_predictions"] == 0 and len(logged(db)) == 800
    assert first["drift"]["status"] == "no_drift" and first["drift"]["drifted"]["prediction"] == []
    assert db[DRIFT_REPORTS].count_documents({"batch_id": first["batch_id"]}) == 2
    reference = db["drift_references"].find_one({"version": champion})
    assert reference["rows"] == 2500  # every student's features (predictions on the 1,000 held out)

DUMMY_RECORD = {"algorithm": "dummy", "problem": "classification"}  # what a registered version needs at least


def test_a_batch_below_the_minimum_size_is_insufficient_data(db, champion):
    small = score_flow(ScoreParams(students=300, seed=3))
    assert small["drift"]["status"] == "insufficient_data" and small["scoring"]["scored"] == 300


def test_no_drift_leaves_the_champion_and_drift_retrains_and_promotes(db, champion, monkeypatch):
    import prefect.events

    events = []
    monkeypatch.setattr(prefect.events, "emit_event", lambda **kwargs: events.append(kwargs))
    score_flow(ScoreParams(students=1000, seed=1))
    calm = retrain_flow(RetrainParams(students=1000, seed=1, training=FAST))
    assert calm["drift"]["status"] == "no_drift" and not calm["retrain"]["retrain"] and calm["promotion"] is None
    assert calm["live"]["status"] == "ok" and calm["live"]["rows"] == 1000 and abs(calm["live"]["drop"]) < 0.05
    assert get_alias(db, "high_performer", CHAMPION)["version"] == champion and events == []

    drifted = retrain_flow(RetrainParams(students=1500, seed=2, training=FAST,
                                         drift=DriftKnobs(grade_inflation=8, concept_drift=1.0)))
    assert drifted["drift"]["status"] == "drift" and "avg_grade" in drifted["drift"]["drifted"]["distribution"]
    assert drifted["retrain"]["retrain"] and drifted["promotion"]["applied"]
    assert drifted["promotion"]["numbers"]["p_value"] < 0.05 and drifted["promotion"]["numbers"]["improvement"] >= 0.01
    new = get_alias(db, "high_performer", CHAMPION)
    assert new["version"] == drifted["promotion"]["challenger"] != champion
    assert get_alias(db, "high_performer", PREVIOUS_CHAMPION)["version"] == champion
    evaluation = db[EVALUATIONS].find_one({})
    assert evaluation["applied"] and "challenger is better" in evaluation["reason"]
    assert evaluation["numbers"]["rows"] == 600  # 40% of the new batch, never trained on
    # a retraining run raises the drift alert but does not announce drift: the event would only start another one
    assert [e["event"] for e in events] == ["student-pipeline.alert.raised"]
    assert events[0]["payload"]["kind"] == "drift" and events[0]["payload"]["batch_id"] == drifted["batch_id"]
    # the reference moved with the champion: the drifted world is now the baseline
    after = retrain_flow(RetrainParams(students=1500, seed=4, training=FAST,
                                       drift=DriftKnobs(grade_inflation=8, concept_drift=1.0)))
    assert after["drift"]["reference_version"] == new["version"] and after["drift"]["status"] == "no_drift"


def test_forced_retraining_of_an_equal_world_keeps_the_champion_with_its_reason(db, champion):
    forced = retrain_flow(RetrainParams(students=1000, seed=5, force=True, training=FAST))
    assert forced["retrain"]["reasons"] == ["forced by parameter"]
    promotion = forced["promotion"]
    assert not promotion["applied"] and "keep the champion" in promotion["reason"]
    assert get_alias(db, "high_performer", CHAMPION)["version"] == champion
    assert db[EVALUATIONS].find_one({})["reason"] == promotion["reason"]


def test_racing_promotions_cannot_both_win_and_rollback_restores(db, champion):
    from sklearn.dummy import DummyClassifier

    from infra.settings import get_settings
    from tasks.promotion.store import promote, rollback
    from tasks.registry.store import register_version

    versions = [register_version(db, "high_performer", DummyClassifier().fit([[0], [1]], [0, 1]),
                                 DUMMY_RECORD, get_settings().artifacts_path)["version"] for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        from infra.storage import get_database

        results = list(pool.map(lambda v: promote(get_database(), "high_performer", champion, v, "race", {},
                                                  by=f"run-{v}"), versions))
    assert sorted(results) == [False, True]
    winner = versions[results.index(True)]
    assert get_alias(db, "high_performer", CHAMPION)["version"] == winner
    restored = rollback(db, "high_performer", by="test")
    assert (restored.rolled_back, restored.champion, restored.from_version) == (True, champion, winner)
    assert get_alias(db, "high_performer", CHAMPION)["version"] == champion
    assert get_alias(db, "high_performer", PREVIOUS_CHAMPION)["version"] == winner
    history = [(h["alias"], h["to_version"]) for h in db[ALIAS_HISTORY].find({}).sort("at", 1)]
    assert history[-2:] == [(CHAMPION, champion), (PREVIOUS_CHAMPION, winner)]


def test_scoring_without_a_champion_is_a_clear_error(db, capsys):
    with pytest.raises(ModelNotFoundError, match="no champion yet"):
        score_flow(ScoreParams(students=50, seed=7))
    assert score_main(["--students", "50", "--seed", "8"]) == 1
    assert "no champion yet" in capsys.readouterr().err


def test_rollback_command_moves_the_champion_back(db, champion, capsys):
    from sklearn.dummy import DummyClassifier

    from flows.rollback import main as rollback_main
    from infra.settings import get_settings
    from tasks.promotion.store import promote
    from tasks.registry.store import register_version

    assert rollback_main([]) == 1 and "no previous champion" in capsys.readouterr().err
    newer = register_version(db, "high_performer", DummyClassifier().fit([[0], [1]], [0, 1]),
                             DUMMY_RECORD, get_settings().artifacts_path)["version"]
    assert promote(db, "high_performer", champion, newer, "test", {}, by="test")
    assert rollback_main([]) == 0
    assert f"v{newer} -> v{champion} (rolled back)" in capsys.readouterr().out
    assert get_alias(db, "high_performer", CHAMPION)["version"] == champion
