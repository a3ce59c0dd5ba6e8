"""The training stage's Prefect tasks: read the labeled window, train one model per task (in parallel), and
evaluate them against the baseline and the oracle. (The training report, which also tells the champion decision,
is published by the reporting stage.)"""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.progress import Progress, run_logger
from infra.retry import DB_TASK
from infra.storage import get_database
from tasks.data.store import refeaturize_stale
from tasks.training import store
from tasks.training.dataset import (
    NotEnoughDataError,
    TrainingData,
    choose_window,
    make_training_data,
    window_split,
    without_holdouts_other_terms,
)
from tasks.training.evaluation import (
    base_rate,
    cross_validate,
    cv_folds,
    evaluate,
    feature_importance,
    oracle_metrics,
    skill,
)
from tasks.training.models import TrainedModel, fit_model
from tasks.training.params import HoldoutParams, TrainingParams
from tasks.training.results import Evaluation
from validation.contracts import DEFAULT_CONTRACT, FeatureContract, LabelRule, problem_spec


@task(name="load-training-data", **DB_TASK)
def load_training_data(training: TrainingParams, label_rule: LabelRule,
                       contract: FeatureContract = DEFAULT_CONTRACT) -> TrainingData | None:
    """The labeled features of the recent window of batches labeled by ``label_rule`` with the dataset's
    ``contract`` (or all of them), with the generator's truth (when known) for the oracle. Returns None (and says
    why in the log) when there are too few labeled students."""
    db = get_database()
    batches = _window(db, training, label_rule, contract)
    frame, truth = store.read_labeled(db, problem_spec(training.problem).target, batches, contract)
    try:
        data = make_training_data(frame, truth, training.problem, training.split_seed, training.val_size,
                                  training.test_size, training.min_rows, contract=contract)
    except NotEnoughDataError as exc:
        run_logger(__name__).warning("training skipped: %s", exc)
        return None
    data.lineage["window_batches"] = training.window_batches
    data.lineage["label_rule"] = label_rule.as_dict() if data.spec.classifies else None
    return data


@task(name="load-window", **DB_TASK)
def load_window(newest_batch: str, training: TrainingParams, holdout: HoldoutParams,
                label_rule: LabelRule, contract: FeatureContract = DEFAULT_CONTRACT) -> TrainingData:
    """The recent labeled window only (older batches are never read), split for a fair champion/challenger test:
    the holdout is a share of the newest batch that neither model trained on."""
    db = get_database()
    batches = _window(db, training, label_rule, contract, newest_batch)
    frame, truth = store.read_labeled(db, problem_spec(training.problem).target, batches, contract)
    split = window_split(frame, newest_batch, training.problem, training.split_seed, holdout.holdout_share,
                         training.val_size, holdout.min_holdout_rows)
    data = make_training_data(without_holdouts_other_terms(frame, split["test"], newest_batch), truth,
                              training.problem, training.split_seed, training.val_size, training.test_size,
                              training.min_rows, split_ids=split, contract=contract)
    data.lineage["window_batches"] = training.window_batches
    data.lineage["label_rule"] = label_rule.as_dict() if data.spec.classifies else None
    return data


def _window(db, training: TrainingParams, label_rule: LabelRule, contract: FeatureContract,
            newest: str | None = None) -> list[str]:
    """The batches to train on: the recent window of this dataset's batches labeled by this rule (``all``: every
    one of them, never another dataset's or rule's), their features made by today's aggregation."""
    labeled = store.labeled_batches(db, label_rule, contract)
    batches = choose_window(labeled, training.window_batches, newest=newest)
    batches = labeled if batches is None else batches
    refreshed = refeaturize_stale(db, batches)
    if refreshed:
        run_logger(__name__).info("features of %d batch(es) made by an earlier aggregation, computed again: %s",
                                  len(refreshed), ", ".join(refreshed))
    return batches


@task(name="train-model", cache_policy=NO_CACHE)
def train_model(algorithm: str, data: TrainingData, training: TrainingParams) -> TrainedModel:
    """Train one model; the random forest reports its validation score as it grows (a line a second at most: its
    whole growth curve is kept with the version)."""
    logger = run_logger(__name__)
    progress = Progress("random forest trees", training.trees) if algorithm == "random_forest" else None

    def report(n: int, score: float) -> None:
        progress(n, note=f"validation {problem_spec(data.problem).label} {score:.4f}")

    trained = fit_model(algorithm, data, training.split_seed, training.models, training.tune, training.trees, report,
                        training.dask_xgboost_rows if training.task_runner == "dask" else 0)
    logger.info("trained %s in %.2f s", algorithm, trained.seconds)
    return trained


@task(name="evaluate-models", cache_policy=NO_CACHE)
def evaluate_models(trained: list[TrainedModel], data: TrainingData, training: TrainingParams) -> Evaluation:
    """Every model's validation and test metrics, importance for the real models, and the oracle's metrics; on small
    data (fewer than ``cv_below`` students) also repeated stratified k-fold cross-validation, which then chooses."""
    rows = []
    small = data.lineage["students"] < training.cv_below
    classifies = problem_spec(data.problem).classifies
    labeled = pd.concat(list(data.y.values()), ignore_index=True) if small else data.y["test"]
    base = base_rate(labeled) if classifies else None  # where the figures come from: every row (small) or test
    folds = cv_folds(data, training.cv_k, training.cv_repeats, training.split_seed) if small else None
    for model in trained:
        row = {"algorithm": model.algorithm, **evaluate(model.pipeline, data), "train_seconds": model.seconds,
               "curve": model.curve}
        if small:
            row["cv"] = cross_validate(model.pipeline, data, training.cv_k, training.cv_repeats, training.split_seed,
                                       folds)
        if base is not None:
            row["skill"] = skill(row, base)
        if model.algorithm != "baseline":
            row["importance"] = feature_importance(model.pipeline, data, training.split_seed,
                                                   training.importance_repeats, training.importance_rows)
        rows.append(row)
    parts = ("val", "test", "all") if small else ("val", "test")
    oracle = {part: oracle_metrics(*_part(data, part), data.problem) for part in parts}
    return Evaluation(rows, oracle if oracle["test"] is not None else None, base)


def _part(data: TrainingData, part: str) -> tuple:
    """The truth and labels of one split, or of every labeled row (``all``)."""
    if part != "all":
        return data.truth[part], data.y[part]
    parts = list(data.y)
    return (pd.concat([data.truth[p] for p in parts], ignore_index=True),
            pd.concat([data.y[p] for p in parts], ignore_index=True))
