"""The registry's Prefect tasks: register a run's models (once per identity), and check the champion before a
run writes anything."""

from __future__ import annotations

from prefect import task
from prefect.context import FlowRunContext
from pymongo.errors import DuplicateKeyError

from infra.retry import DB_TASK
from infra.settings import get_settings
from infra.storage import get_database
from tasks.registry.records import common_record, model_calibration, reference_frame, version_record
from tasks.registry.results import ModelVersion
from tasks.registry.store import (
    code_version,
    find_by_identity,
    find_champion,
    get_champion,
    load_binary,
    load_reference,
    model_identity,
    register_version,
    save_reference,
)
from tasks.training.dataset import TrainingData
from tasks.training.evaluation import primary_score, score_interval
from tasks.training.models import TrainedModel
from tasks.training.results import Evaluation, RegisteredModel
from tasks.training.store import save_split
from validation.contracts import DEFAULT_LABEL_RULE, LabelRule


def flow_run_id() -> str | None:
    """The current flow run's id, for lineage (None outside a run)."""
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else None


@task(name="register-models", **DB_TASK)
def register_models(trained: list[TrainedModel], evaluation: Evaluation, data: TrainingData, seed: int,
                    reference_parts: tuple[str, ...], feature_parts: tuple[str, ...] | None = None,
                    metric: str | None = None) -> list[RegisteredModel]:
    """Register every real model (not the baseline) as a new version with metrics, schema and lineage.

    Each version keeps the rows of ``feature_parts`` (``reference_parts`` unless given) as its drift reference,
    with its predictions on ``reference_parts`` (held-out data, never trained on). A model
    whose identity (algorithm, parameters, training data, split, reference) is registered already is not
    registered again: the existing version is returned (``existing``).
    """
    db = get_database()
    rows = {row["algorithm"]: row for row in evaluation.models}
    split_id = save_split(db, data.split_ids, seed)
    common = common_record(data, evaluation, split_id, code_version(), flow_run_id())
    registered = []
    for model in (m for m in trained if m.algorithm != "baseline"):
        identity = model_identity(model.algorithm, data.problem, model.params, data.lineage["data_sha256"], split_id,
                                  reference_parts)
        found = find_by_identity(db, data.target, identity)
        existing = found is not None
        if not existing:
            try:
                found = ModelVersion.from_document(register_version(
                    db, data.target, model.pipeline,
                    version_record(model, rows[model.algorithm], common, identity,
                                   model_calibration(model.pipeline, data)),
                    get_settings().artifacts_path))
            except DuplicateKeyError:  # a concurrent run registered the same model first
                found, existing = find_by_identity(db, data.target, identity), True
        reference = reference_frame(model.pipeline, data, feature_parts or reference_parts, reference_parts)
        save_reference(db, found.name, found.version, reference)
        registered.append(RegisteredModel(found.name, found.version, model.algorithm,
                                          primary_score(rows[model.algorithm], data.problem, metric), found.sha256,
                                          found.binary_path, existing,
                                          "cross-validated" if rows[model.algorithm].get("cv") else "validation",
                                          score_interval(rows[model.algorithm], data.problem, metric)))
    return registered


@task(name="verify-champion", **DB_TASK)
def verify_champion(name: str) -> int:
    """Before a run writes anything: the store answers, the champion exists, and its binary and drift reference
    still match the hashes recorded when they were written. Returns the champion's version."""
    db = get_database()
    champion = get_champion(db, name)
    load_binary(db, champion)
    load_reference(db, name, champion.version)
    return champion.version


@task(name="current-label-rule", **DB_TASK)
def current_label_rule(name: str) -> LabelRule:
    """The question the store answers now: the champion's label rule (the generator's before there is one). A run
    that names no rule of its own labels by it, so a school's "pass: >= 50" stays its question run after run."""
    champion = find_champion(get_database(), name)
    return champion.label_rule if champion is not None else DEFAULT_LABEL_RULE
