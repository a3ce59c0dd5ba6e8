"""The scoring task: predict every student of a batch with the champion in bulk and log every prediction
(idempotently: re-scoring with the same model adds nothing)."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task

from infra.progress import run_logger
from infra.retry import DB_TASK, stopwatch
from infra.storage import get_database
from tasks.data.store import batch_contract
from tasks.registry.store import get_champion, load_binary
from tasks.scoring import store
from tasks.scoring.predict import distribution, predict_frame, prediction_documents, retention_words
from tasks.scoring.reasons import contributions, top_reasons
from tasks.scoring.results import Scored
from validation.features import FeatureContractError, features_frame


@task(name="roll-up-predictions", **DB_TASK)
def roll_up_predictions() -> dict:
    """Roll the prediction log's closed days up into counts per day, version, source and arm (equal to the raw
    counts, or nothing is stamped), after which the raw predictions expire ``PIPELINE_PREDICTION_RETENTION_DAYS``
    later: the log stays bounded however long the service runs. Then every other kind of student data older than
    its retention goes (tasks/privacy/retention.py)."""
    from infra.settings import get_settings
    from tasks.privacy import retention

    settings, db = get_settings(), get_database()
    result = store.roll_up(db, settings.prediction_retention_days)
    run_logger(__name__).info("prediction log: %d predictions rolled up in %d groups (raw kept %s)",
                              result.rolled_up, result.groups, retention_words(result.retention_days))
    expired = {kind: n for kind, n in retention.apply(db, retention.days_for(settings.retention_days)).items() if n}
    if expired:  # counts only: what expired is gone, and which students it held is nobody's business now
        run_logger(__name__).info("retention: removed %s", ", ".join(f"{n} {kind}" for kind, n in expired.items()))
    return {"rolled_up": result.rolled_up, "groups": result.groups, "retention_days": result.retention_days,
            "expired": expired}


@task(name="score-batch", **DB_TASK)
def score_batch(batch_id: str, name: str, explain: bool = False) -> Scored:
    """Predict every student of the batch with the champion; re-scoring with the same model adds nothing. With
    ``explain``, each prediction is logged with its reasons (the inputs that moved it most)."""
    with stopwatch() as timing:
        db = get_database()
        champion = get_champion(db, name)
        version, problem = champion.version, champion.problem
        mismatch = champion.inputs_missing_from(batch_contract(db, batch_id))
        if mismatch:
            raise FeatureContractError(f"batch {batch_id} cannot be scored: {mismatch}")
        model = load_binary(db, champion)
        frame = features_frame(store.batch_features(db, batch_id), champion.contract)
        if frame.empty:
            raise LookupError(f"batch {batch_id!r} has no feature documents to score")
        predictions = predict_frame(model, frame, problem)
        documents = prediction_documents(predictions, batch_id, name, version, None, datetime.now(UTC))
        if explain:
            for document, reasons in zip(documents, top_reasons(contributions(model, frame), frame), strict=True):
                document["explanation"] = reasons
        counts = store.log_predictions(db, documents)
    run_logger(__name__).info("scored %d students of %s with %s v%d: %d new predictions", len(predictions),
                              batch_id, name, version, counts.inserted)
    return Scored(batch_id, name, version, len(predictions), counts.inserted, counts.unchanged,
                  distribution(predictions, problem), timing["seconds"])
