"""Stores in known states, built with the tasks' own functions (no Prefect server needed)."""

from __future__ import annotations

from infra import prediction_log
from infra.storage import Db
from tasks.data.ingest import BatchInput
from tasks.data.synthetic import DriftKnobs, generate_batch
from tasks.data.tasks import aggregate_features, ingest_batch
from tasks.promotion.tasks import promote_first_champion
from tasks.registry.tasks import register_models
from tasks.training.evaluation import baseline_score
from tasks.training.params import TrainingParams
from tasks.training.results import RegisteredModel
from tasks.training.tasks import evaluate_models, load_training_data, train_model
from validation.contracts import DEFAULT_LABEL_RULE


def add_batch(students: int, seed: int, labeled: bool = True, knobs: DriftKnobs | None = None) -> str:
    """Generate, ingest and featurize a batch; its id."""
    batch = generate_batch(students, seed, labeled, knobs)
    ingest_batch.fn(BatchInput(batch.batch_id, labeled, batch.records, {"type": "generator", "seed": seed},
                               batch.truth), 1000)
    aggregate_features.fn(batch.batch_id)
    return batch.batch_id


def train_and_register(training: TrainingParams) -> list[RegisteredModel]:
    """Train, evaluate and register models on the labeled window; name the first champion if there is none."""
    data = load_training_data.fn(training, DEFAULT_LABEL_RULE)
    trained = [train_model.fn(name, data, training) for name in ["baseline", *training.algorithms]]
    evaluation = evaluate_models.fn(trained, data, training)
    registered = register_models.fn(trained, evaluation, data, training.split_seed, ("val", "test"))
    promote_first_champion.fn(data.target, registered, baseline_score(evaluation, training.problem), training.problem)
    return registered


def copy_database(source: Db, target: Db) -> None:
    """Every collection of ``source`` into ``target`` (GridFS included), and the contract indexes."""
    from infra.collections import ensure_indexes

    for collection in source.list_collection_names():
        documents = list(source[collection].find())
        if documents:
            target[collection].insert_many(documents)
    ensure_indexes(target)


def logged(db: Db, query: dict | None = None) -> list[dict]:
    """Every logged prediction that matches ``query``, a document each (the log's buckets unwound), without ids."""
    return prediction_log.predictions(db, {}, query)
