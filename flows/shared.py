"""What the flows share: bringing one batch in (a subflow), and training the candidate models in parallel."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow

from tasks.data.params import BatchParams
from tasks.data.results import BatchStages
from tasks.data.tasks import (
    aggregate_features,
    check_store,
    choose_seed,
    generate_students,
    ingest_batch,
    labels_for_batch,
    load_source,
    validate_features,
    validate_raw,
)
from tasks.promotion.results import FirstChampion
from tasks.registry.tasks import current_label_rule
from tasks.training.dataset import TrainingData
from tasks.training.models import TrainedModel
from tasks.training.params import TrainingParams
from tasks.training.results import RegisteredModel, TrainingReport
from tasks.training.tasks import train_model


@flow(name="bring-in-batch")
def bring_in_batch(params: BatchParams, model: str, labeled_by_default: bool,
                   labels_for: str | None = None) -> BatchStages:
    """One batch from its source to validated features: check the store, generate or load (or bring in the labels
    of the scored batch ``labels_for``), ingest, validate the records, aggregate in MongoDB, validate the
    features. Its label rule: the run's (``--label-rule``), else a mapped source's, else the one ``model``'s
    champion answers (the generator's before there is a champion)."""
    check_store()
    current = current_label_rule(model)
    rule = params.given_rule() or current
    if labels_for:
        batch = labels_for_batch(labels_for, rule)
    elif params.source:
        batch = load_source(params.source, params.kind, params.given_rule(), params.mapping, current)
    else:
        labeled = labeled_by_default if params.kind == "auto" else params.kind == "labeled"
        batch = generate_students(params.students, choose_seed(params.seed), labeled, params.drift, rule)
    ingested = ingest_batch(batch, params.truth_bucket)
    raw_quality = validate_raw(ingested.batch_id, params.max_rejected_share)
    features = aggregate_features(ingested.batch_id)
    feature_quality = validate_features(ingested.batch_id)
    return BatchStages(ingested, raw_quality, features, feature_quality,
                       "labels" if labels_for else "load" if params.source else "generate", batch.seconds)


def train_candidates(data: TrainingData, training: TrainingParams) -> list[TrainedModel]:
    """The baseline and every chosen algorithm, trained in parallel on the task runner's threads."""
    futures = [train_model.submit(name, data, training) for name in ["baseline", *training.algorithms]]
    return [future.result() for future in futures]


@dataclass(frozen=True)
class TrainingRun:
    """The main flow's training: the registered versions, the report, the first-champion decision (or why
    training was skipped)."""

    registered: list[RegisteredModel]
    report: TrainingReport | None
    decision: FirstChampion | None
    skipped: str | None = None
