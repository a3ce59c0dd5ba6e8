"""Score a batch with the champion in bulk and log every prediction (idempotently)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.collections import MODELS, PREDICTIONS, STUDENTS_FEATURES, ensure_indexes
from infra.progress import run_logger
from infra.retry import DB_RETRIES, retry_on_transient, stopwatch
from infra.storage import get_database
from infra.writes import insert_new
from tasks.dataset import FEATURES
from tasks.registry import CHAMPION, ModelNotFoundError, get_alias, load_model
from validation.features import features_frame


def predict_frame(model, frame: pd.DataFrame, problem: str) -> pd.DataFrame:
    """Vectorised predictions (and the probability of the positive class for classification)."""
    out = pd.DataFrame({"student_id": frame["student_id"].to_numpy()})
    out["prediction"] = model.predict(frame[FEATURES])
    out["probability"] = model.predict_proba(frame[FEATURES])[:, 1] if problem == "classification" else np.nan
    return out


def prediction_documents(predictions: pd.DataFrame, batch_id: str, name: str, version: int, arm: str | None,
                         at: datetime) -> list[dict]:
    rows = predictions.to_dict(orient="records")
    return [{"student_id": int(r["student_id"]), "batch_id": batch_id, "model": name, "version": version,
             "prediction": r["prediction"].item() if hasattr(r["prediction"], "item") else r["prediction"],
             "probability": None if pd.isna(r["probability"]) else float(r["probability"]),
             "arm": arm, "scored_at": at} for r in rows]


@task(name="score-batch", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def score_batch(batch_id: str, name: str) -> dict:
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
    distribution = {str(k): v for k, v in Counter(predictions["prediction"].tolist()).items()} \
        if problem == "classification" else {"mean": float(predictions["prediction"].mean())}
    run_logger(__name__).info("scored %d students of %s with %s v%d: %d new predictions", len(predictions),
                              batch_id, name, version, counts.inserted)
    return {"batch_id": batch_id, "model": name, "version": version, "scored": len(predictions),
            "new_predictions": counts.inserted, "already_logged": counts.unchanged, "distribution": distribution,
            "seconds": timing["seconds"]}
