"""Models (pure apart from CPU time): one preprocessing pipeline fitted on training data only and saved inside
every model; logistic / linear regression, a decision tree, a random forest grown a step of trees at a time
(reporting its validation score as it grows), XGBoost, and a majority-class / mean baseline. Optional small
grid search with cross-validation on the training split. Every hyperparameter comes from ``ModelParams``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import mean_absolute_error, roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from xgboost import XGBClassifier, XGBRegressor

from tasks.training.dataset import TrainingData
from tasks.training.params import ModelParams
from validation.contracts import DEFAULT_CONTRACT, FeatureContract, Problem, problem_spec


def remember_training_inputs(pipeline, X_train: pd.DataFrame) -> None:
    """Keep the preprocessed training inputs' means on the fitted pipeline (a linear model's reasons are measured
    from them); a pipeline fitted before this existed is explained from zero inputs instead."""
    pipeline.input_means_ = np.asarray(pipeline.named_steps["pre"].transform(X_train), dtype=float).mean(axis=0)


def _as_float(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(float)


def build_preprocessor(contract: FeatureContract = DEFAULT_CONTRACT) -> ColumnTransformer:
    """Impute, scale numbers; booleans as 0/1 with the most frequent value for gaps; one-hot the categories (the
    major and the dataset's declared categories). A column with no value at all in the training rows (a school's
    export without study hours) is kept as a constant, not dropped with a warning per fit."""
    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
         contract.numeric),
        ("boolean", make_pipeline(FunctionTransformer(_as_float, feature_names_out="one-to-one"),
                                  SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
         contract.boolean),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent", keep_empty_features=True),
                                      OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         contract.categorical),
    ], verbose_feature_names_out=False)


def make_estimator(algorithm: str, problem: Problem, seed: int, hyper: ModelParams):
    """The estimator with its hyperparameters (the random forest starts with one step of trees and grows)."""
    classify = problem_spec(problem).classifies
    if algorithm == "baseline":
        return DummyClassifier(strategy="most_frequent") if classify else DummyRegressor(strategy="mean")
    if algorithm == "linear":
        return LogisticRegression(max_iter=hyper.linear_max_iter, C=hyper.linear_c) if classify else LinearRegression()
    if algorithm == "decision_tree":
        kind = DecisionTreeClassifier if classify else DecisionTreeRegressor
        return kind(max_depth=hyper.tree_max_depth, min_samples_leaf=hyper.tree_min_leaf, random_state=seed)
    if algorithm == "random_forest":
        kind = RandomForestClassifier if classify else RandomForestRegressor
        return kind(n_estimators=hyper.forest_step, warm_start=True, min_samples_leaf=hyper.forest_min_leaf,
                    random_state=seed, n_jobs=1)
    if algorithm == "xgboost":
        kind = XGBClassifier if classify else XGBRegressor
        return kind(n_estimators=hyper.xgb_trees, learning_rate=hyper.xgb_learning_rate, max_depth=hyper.xgb_max_depth,
                    subsample=hyper.xgb_subsample, colsample_bytree=hyper.xgb_colsample, random_state=seed, n_jobs=1,
                    **({"eval_metric": "logloss"} if classify else {}))
    raise ValueError(f"unknown algorithm {algorithm!r}")


def tuning_grid(algorithm: str, problem: Problem, hyper: ModelParams) -> dict[str, list] | None:
    """What ``--tune`` searches for an algorithm (None: nothing to tune, e.g. ordinary least squares)."""
    grids = {
        "linear": {"model__C": hyper.grid_linear_c} if problem_spec(problem).classifies else None,
        "decision_tree": {"model__max_depth": hyper.grid_tree_depth, "model__min_samples_leaf": hyper.grid_tree_leaf},
        "xgboost": {"model__max_depth": hyper.grid_xgb_depth, "model__learning_rate": hyper.grid_xgb_rate},
    }
    return grids.get(algorithm)


def validation_score(model, X: pd.DataFrame, y: pd.Series, problem: Problem) -> float:
    """ROC AUC for classification, MAE for regression (the metric the forest reports as it grows)."""
    if problem_spec(problem).classifies:
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))
    return float(mean_absolute_error(y, model.predict(X)))


def grow_forest(pipeline: Pipeline, data: TrainingData, trees: int, step: int,
                report: Callable[[int, float], None]) -> list[dict]:
    """Fit the preprocessor once, then add ``step`` trees at a time, scoring on validation after each step."""
    pre, forest = pipeline.named_steps["pre"], pipeline.named_steps["model"]
    X_train = pre.fit_transform(data.X["train"], data.y["train"])
    curve = []
    for n in range(step, trees + step, step):
        forest.set_params(n_estimators=min(n, trees))
        forest.fit(X_train, data.y["train"])
        score = validation_score(pipeline, data.X["val"], data.y["val"], data.problem)
        curve.append({"trees": forest.n_estimators, "val_score": round(score, 5)})
        report(forest.n_estimators, score)
    return curve


@dataclass
class TrainedModel:
    """A fitted pipeline (preprocessing + estimator) with its parameters and training time."""

    algorithm: str
    pipeline: Pipeline
    params: dict
    seconds: float
    curve: list[dict] = field(default_factory=list)


def fit_model(algorithm: str, data: TrainingData, seed: int, hyper: ModelParams, tune: bool, trees: int,
              report: Callable[[int, float], None] | None = None, dask_rows: int = 0) -> TrainedModel:
    """Fit one algorithm on the training split (preprocessing included). XGBoost on a Dask worker with at least
    ``dask_rows`` training rows (0: never) trains across the cluster's workers (``xgboost.dask``)."""
    start = time.perf_counter()
    estimator = make_estimator(algorithm, data.problem, seed, hyper)
    pipeline = Pipeline([("pre", build_preprocessor(data.contract)), ("model", estimator)])
    curve: list[dict] = []
    grid = tuning_grid(algorithm, data.problem, hyper) if tune else None
    across = algorithm == "xgboost" and not grid and 0 < dask_rows <= len(data.X["train"]) and on_dask_worker()
    if algorithm == "random_forest":
        curve = grow_forest(pipeline, data, trees, hyper.forest_step, report or (lambda n, s: None))
    elif across:
        fit_xgboost_across_cluster(pipeline, data)
    elif grid:
        scoring = problem_spec(data.problem).scoring
        search = GridSearchCV(pipeline, grid, cv=hyper.cv_folds, scoring=scoring, n_jobs=1)
        pipeline = search.fit(data.X["train"], data.y["train"]).best_estimator_
    else:
        pipeline.fit(data.X["train"], data.y["train"])
    remember_training_inputs(pipeline, data.X["train"])  # what a linear model's reasons are measured from
    params = {k: _plain(v) for k, v in pipeline.named_steps["model"].get_params().items()
              if isinstance(v, (int, float, str, bool, type(None)))}
    if across:
        params["trained_with"] = "xgboost.dask"
    return TrainedModel(algorithm, pipeline, params, round(time.perf_counter() - start, 3), curve)


def on_dask_worker() -> bool:
    """Whether this code runs as a task on a Dask worker (the Dask task runner's)."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def fit_xgboost_across_cluster(pipeline: Pipeline, data: TrainingData) -> None:
    """Fit the pipeline's XGBoost through ``xgboost.dask``: the preprocessing is fitted here, the training matrix is
    split by rows across the cluster's workers, and each builds its share of every tree's histograms. The booster
    then goes into the pipeline's own (plain) XGBoost estimator, so the version is saved, loaded and scored like any
    other, without Dask."""
    import dask.array as da
    from dask import delayed
    from distributed import worker_client
    from xgboost import dask as dxgb

    pre, model = pipeline.named_steps["pre"], pipeline.named_steps["model"]
    X = pre.fit_transform(data.X["train"], data.y["train"])
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float32)
    y = np.asarray(data.y["train"], dtype=np.float32)
    kind = dxgb.DaskXGBClassifier if isinstance(model, XGBClassifier) else dxgb.DaskXGBRegressor
    with worker_client() as client:  # gives up this task's thread while the cluster trains
        rows = -(-len(X) // max(1, len(client.scheduler_info()["workers"])))
        starts = range(0, len(X), rows)  # a share of the rows per worker, sent to the cluster (not in the graph)
        X_parts = client.scatter([X[i:i + rows] for i in starts])
        y_parts = client.scatter([y[i:i + rows] for i in starts])
        shares = [min(rows, len(X) - i) for i in starts]
        distributed = kind(**model.get_params())
        distributed.client = client
        distributed.fit(
            da.concatenate([da.from_delayed(delayed(part), (n, X.shape[1]), X.dtype)
                            for part, n in zip(X_parts, shares, strict=True)]),
            da.concatenate([da.from_delayed(delayed(part), (n,), y.dtype)
                            for part, n in zip(y_parts, shares, strict=True)]))
        booster = distributed.get_booster().save_raw()
    model.load_model(bytearray(booster))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
