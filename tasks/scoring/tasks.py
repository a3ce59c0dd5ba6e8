"""The scoring task: predict every student of a batch with the champion in bulk and log every prediction
(idempotently: re-scoring with the same model adds nothing)."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task

from infra.collections import MODELS, PREDICTIONS, STUDENTS_FEATURES, ensure_indexes
from infra.progress import run_logger
from infra.retry import DB_TASK, stopwatch
from infra.storage import get_database
from infra.writes import insert_new
from tasks.registry.store import CHAMPION, ModelNotFoundError, get_alias, load_model
from tasks.scoring.predict import distribution, predict_frame, prediction_documents
from tasks.scoring.results import Scored
from validation.features import features_frame


@task(name="score-batch", **DB_TASK)
def score_batch(batch_id: str, name: str) -> Scored:
    """Predict every student of the batch with the champion; re-scoring with the same model adds nothing."""
    with stopwatch() as timing:
        db = get_database()
        ensure_indexes(db, [PREDICTIONS])
        champion = get_alias(db, name, CHAMPION)
        if champion is None:
            raise ModelNotFoundError(f"model {name!r} has no champion yet: run python flows/main.py on a labeled "
                                     "batch first")
        version = champion["version"]
        model = load_model(db, name, version=version)
        problem = db[MODELS].find_one({"name": name, "version": version})["problem"]
        frame = features_frame(list(db[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0})))
        if frame.empty:
            raise LookupError(f"batch {batch_id!r} has no feature documents to score")
        predictions = predict_frame(model, frame, problem)
        counts = insert_new(db[PREDICTIONS],
                            prediction_documents(predictions, batch_id, name, version, None, datetime.now(UTC)))
    run_logger(__name__).info("scored %d students of %s with %s v%d: %d new predictions", len(predictions),
                              batch_id, name, version, counts.inserted)
    return Scored(batch_id, name, version, len(predictions), counts.inserted, counts.unchanged,
                  distribution(predictions, problem), timing["seconds"])
