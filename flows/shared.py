"""What the flows share: bringing one batch in (a subflow), training the candidate models in parallel, and the
task runner training runs on (the flow's threads, or a Dask cluster)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prefect import flow

from infra.errors import UserError
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


class DaskUnavailableError(UserError, RuntimeError):
    """``--task-runner dask`` without Dask installed, or a cluster whose workers cannot reach the flow's API."""


def on_training_runner(subflow: Callable, training: TrainingParams) -> Callable:
    """``subflow`` (a training subflow) as it should run: on the flow's threads, or with ``--task-runner dask`` on a
    Dask cluster: the one at ``DASK_SCHEDULER_ADDRESS``, else a local cluster of ``--dask-workers`` processes
    made for the run and closed after it. Dask's workers talk to the flow's own Prefect API (a worker left to
    itself starts a temporary Prefect server of its own)."""
    if training.task_runner == "threads":
        return subflow

    def run(*args, **kwargs):
        with _dask_runner(training) as runner:
            return subflow.with_options(task_runner=runner)(*args, **kwargs)

    return run


@contextmanager
def _dask_runner(training: TrainingParams) -> Iterator:
    from prefect.client.orchestration import get_client
    from prefect.context import get_settings_context

    from infra.settings import get_settings

    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise DaskUnavailableError("--task-runner dask needs Dask: pip install '.[dask]' (prefect-dask, "
                                   "distributed), or train on threads (the default)") from exc
    address = get_settings().dask_scheduler_address
    given = os.environ.get("PREFECT_API_URL")
    configured = given or get_settings_context().settings.api.url  # the environment, or the Prefect profile
    if address and not configured:
        raise DaskUnavailableError(f"the Dask cluster at {address} cannot reach this run's temporary Prefect server "
                                   "(it lives on this machine's loopback): set PREFECT_API_URL to a running server, "
                                   "for this process and the cluster's workers")
    os.environ["PREFECT_API_URL"] = str(configured or get_client().api_url)  # the local cluster inherits it
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # the cluster's chatter (dozens of lines) off
    logging.getLogger("distributed").setLevel(logging.WARNING)
    try:
        yield DaskTaskRunner(address=address) if address else DaskTaskRunner(cluster_kwargs={
            "n_workers": training.dask_workers, "threads_per_worker": 1, "processes": True,
            "dashboard_address": None})
    finally:
        if given is None:
            os.environ.pop("PREFECT_API_URL", None)


def train_candidates(data: TrainingData, training: TrainingParams) -> list[TrainedModel]:
    """The baseline and every chosen algorithm, trained in parallel on the task runner (threads, or Dask)."""
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
