"""Models: one preprocessing pipeline fitted on training data only and saved inside every model.

Logistic / linear regression, a decision tree, a random forest grown in steps of 10 trees (reporting its
validation score as it grows), XGBoost, and a majority-class / mean baseline. Optional small grid search
with cross-validation on the training split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE
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

from infra.progress import Progress, run_logger
from tasks.dataset import BOOLEAN, CATEGORICAL, NUMERIC, Problem, TrainingData

ALGORITHMS = ["baseline", "linear", "decision_tree", "random_forest", "xgboost"]
GRIDS: dict[str, dict[str, list]] = {
    "linear": {"model__C": [0.1, 1.0, 10.0]},
    "decision_tree": {"model__max_depth": [3, 5, 8], "model__min_samples_leaf": [5, 20]},
    "xgboost": {"model__max_depth": [3, 4, 6], "model__learning_rate": [0.05, 0.1]},
}


def _as_float(frame):
    return frame.astype(float)


def build_preprocessor() -> ColumnTransformer:
    """Impute, scale numbers; booleans as 0/1 with the most frequent value for gaps; one-hot the major."""
    return ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
        ("boolean", make_pipeline(FunctionTransformer(_as_float, feature_names_out="one-to-one"),
                                  SimpleImputer(strategy="most_frequent")), BOOLEAN),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore", sparse_output=False)), CATEGORICAL),
    ], verbose_feature_names_out=False)


def make_estimator(algorithm: str, problem: Problem, seed: int, trees: int = 200):
    """The estimator with its defaults (the random forest starts small and grows)."""
    classify = problem == "classification"
    if algorithm == "baseline":
        return DummyClassifier(strategy="most_frequent") if classify else DummyRegressor(strategy="mean")
    if algorithm == "linear":
        return LogisticRegression(max_iter=2000, C=1.0) if classify else LinearRegression()
    if algorithm == "decision_tree":
        kind = DecisionTreeClassifier if classify else DecisionTreeRegressor
        return kind(max_depth=5, min_samples_leaf=20, random_state=seed)
    if algorithm == "random_forest":
        kind = RandomForestClassifier if classify else RandomForestRegressor
        return kind(n_estimators=10, warm_start=True, min_samples_leaf=5, random_state=seed, n_jobs=1)
    if algorithm == "xgboost":
        kind = XGBClassifier if classify else XGBRegressor
        return kind(n_estimators=300, learning_rate=0.05, max_depth=4, subsample=0.9, colsample_bytree=0.9,
                    random_state=seed, n_jobs=1, **({"eval_metric": "logloss"} if classify else {}))
    raise ValueError(f"unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")


def validation_score(model, X, y, problem: Problem) -> float:
    """ROC AUC for classification, MAE for regression (the metric the forest reports as it grows)."""
    if problem == "classification":
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
    algorithm: str
    pipeline: Pipeline
    params: dict
    seconds: float
    curve: list[dict] = field(default_factory=list)


def fit_model(algorithm: str, data: TrainingData, seed: int, tune: bool = False, trees: int = 200,
              report: Callable[[int, float], None] | None = None) -> TrainedModel:
    """Fit one algorithm on the training split (preprocessing included); pure apart from CPU time."""
    start = time.perf_counter()
    pipeline = Pipeline([("pre", build_preprocessor()), ("model", make_estimator(algorithm, data.problem, seed))])
    curve: list[dict] = []
    if algorithm == "random_forest":
        curve = grow_forest(pipeline, data, trees, 10, report or (lambda n, s: None))
    elif tune and algorithm in GRIDS and not (algorithm == "linear" and data.problem == "regression"):
        scoring = "roc_auc" if data.problem == "classification" else "neg_mean_absolute_error"
        search = GridSearchCV(pipeline, GRIDS[algorithm], cv=3, scoring=scoring, n_jobs=1)
        pipeline = search.fit(data.X["train"], data.y["train"]).best_estimator_
    else:
        pipeline.fit(data.X["train"], data.y["train"])
    params = {k: _plain(v) for k, v in pipeline.named_steps["model"].get_params().items()
              if isinstance(v, (int, float, str, bool, type(None)))}
    return TrainedModel(algorithm, pipeline, params, round(time.perf_counter() - start, 3), curve)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


@task(name="train-model", cache_policy=NO_CACHE)
def train_model(algorithm: str, data: TrainingData, seed: int, tune: bool, trees: int) -> TrainedModel:
    """Train one model; the random forest reports its validation score every 10 trees as it grows."""
    logger = run_logger(__name__)
    progress = Progress(f"random forest ({trees} trees)", trees) if algorithm == "random_forest" else None

    def report(n: int, score: float) -> None:
        logger.info("random forest: %d trees, validation %s %.4f", n,
                    "ROC AUC" if data.problem == "classification" else "MAE", score)
        progress(n)

    trained = fit_model(algorithm, data, seed, tune, trees, report)
    logger.info("trained %s in %.2f s", algorithm, trained.seconds)
    return trained
