"""Predictions (pure): one vectorised predict over a frame of features, the documents that log them, and what
they look like in aggregate. Batch scoring and the prediction service share these."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np
import pandas as pd

from validation.contracts import model_inputs, problem_spec


def predict_frame(model, frame: pd.DataFrame, problem: str) -> pd.DataFrame:
    """Vectorised predictions (and the probability of the positive class for classification).

    Classifiers are asked once, for probabilities; the predicted class is the likelier one, as their own
    ``predict`` decides (a tie goes to the first class), at half the cost of asking twice. The model reads the
    columns it was fitted on (its dataset's contract: ours plus the declared extras)."""
    inputs = model_inputs(model, frame)
    out = pd.DataFrame({"student_id": frame["student_id"].to_numpy()})
    if problem_spec(problem).classifies:
        probabilities = model.predict_proba(inputs)
        out["prediction"] = model.classes_[probabilities.argmax(axis=1)]
        out["probability"] = probabilities[:, 1]
    else:
        out["prediction"] = model.predict(inputs)
        out["probability"] = np.nan
    return out


def prediction_documents(predictions: pd.DataFrame, batch_id: str, name: str, version: int, arm: str | None,
                         at: datetime, **extra) -> list[dict]:
    """One prediction per student, as the log's readers see it: the model version, the A/B arm (or None), the
    time (``infra/prediction_log.py`` keeps them in buckets)."""
    rows = predictions.to_dict(orient="records")
    return [{"student_id": int(r["student_id"]), "batch_id": batch_id, "model": name, "version": version,
             "prediction": r["prediction"].item() if hasattr(r["prediction"], "item") else r["prediction"],
             "probability": None if pd.isna(r["probability"]) else float(r["probability"]),
             "arm": arm, "scored_at": at, **extra} for r in rows]


def distribution(predictions: pd.DataFrame, problem: str) -> dict:
    """Counts per predicted class (classification), or the mean prediction (regression)."""
    if problem_spec(problem).classifies:
        return {str(k): v for k, v in Counter(predictions["prediction"].tolist()).items()}
    return {"mean": float(predictions["prediction"].mean())}


def retention_words(days: int) -> str:
    """How long raw predictions are kept, in words."""
    return f"{days} days after their roll-up" if days else "for ever"
