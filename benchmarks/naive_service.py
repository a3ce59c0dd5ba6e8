"""The prediction service a user would write in one file, for bench_api.py to measure ours against: load the
champion once, compute each request's features in Python, predict, insert one log document per prediction. No
record checks, no batching across requests, no A/B tests, no keys, no parity check: the least work that answers.

    MONGO_URI=... MONGO_DB=... uvicorn benchmarks.naive_service:app --port 8138

``NAIVE_LOG=indexed`` logs into a collection with the prediction log's own indexes (its unique key, the batch and
the A/B indexes), each request its own batch id as ours: the same store work as our log, the rest still naive.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pandas as pd
from fastapi import FastAPI
from pymongo import MongoClient

from benchmarks.bench_log_shape import DOCUMENT_INDEXES
from infra.storage import get_database
from tasks.registry.store import get_champion, load_binary
from validation.pandas_twin import student_features

INDEXED = os.environ.get("NAIVE_LOG", "bare") == "indexed"
db = MongoClient(os.environ["MONGO_URI"])[os.environ["MONGO_DB"]]
log = db["naive_predictions_indexed" if INDEXED else "naive_predictions"]
if INDEXED:
    log.create_indexes(DOCUMENT_INDEXES)  # a document per prediction, found by student and by batch
champion = get_champion(get_database(), "high_performer")
model = load_binary(get_database(), champion)
app = FastAPI()


@app.post("/predict")
def predict(body: dict) -> dict:
    """Features, probabilities, one log document each."""
    frame = pd.DataFrame([student_features(r, "naive", 0, labeled=False) for r in body["records"]])
    probabilities = model.predict_proba(frame)[:, 1]
    now = datetime.now(UTC)
    answers = [{"student_id": int(s), "prediction": int(p >= 0.5), "probability": float(p)}
               for s, p in zip(frame["student_id"], probabilities, strict=True)]
    keyed = {"batch_id": f"naive:{uuid.uuid4().hex}", "model": champion.name} if INDEXED else {}
    log.insert_many([{**a, "version": champion.version, "scored_at": now, **keyed} for a in answers])
    return {"predictions": answers}
