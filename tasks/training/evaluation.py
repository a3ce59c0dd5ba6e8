"""How models are judged (pure): metrics on validation (to choose) and test (to report), the oracle (the
generator's truth: the best any model could do), feature importance, the leaderboard with the best model's
gap to the oracle, and the baseline's score that a first champion has to beat."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error, r2_score, roc_auc_score, root_mean_squared_error
from sklearn.pipeline import Pipeline

from tasks.training.dataset import TrainingData
from tasks.training.results import Evaluation, RegisteredModel
from validation.contracts import Problem, problem_spec


def classification_metrics(y_true, y_pred, y_score) -> dict:
    """Accuracy, precision, recall, F1, MCC and ROC AUC (NaN when the labels hold one class)."""
    y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
    single_class = len(np.unique(y_true)) < 2
    # from the confusion counts (scikit-learn's definitions with zero_division=0, tested against it): its five metric
    # functions re-validate the labels each time, which cost more than the model's predictions on a fold
    positive, predicted = y_true == 1, y_pred == 1
    tp, fp = float(np.sum(positive & predicted)), float(np.sum(~positive & predicted))
    fn, tn = float(np.sum(positive & ~predicted)), float(np.sum(~positive & ~predicted))
    spread = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return {
        "accuracy": (tp + tn) / len(y_true) if len(y_true) else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "mcc": (tp * tn - fp * fn) / math.sqrt(spread) if spread else 0.0,
        "roc_auc": float("nan") if single_class else float(roc_auc_score(y_true, y_score)),
    }


def regression_metrics(y_true, y_pred) -> dict:
    """MAE, RMSE and R2."""
    return {"mae": float(mean_absolute_error(y_true, y_pred)), "rmse": float(root_mean_squared_error(y_true, y_pred)),
            "r2": float(r2_score(y_true, y_pred))}


def score_model(model, X: pd.DataFrame, y: pd.Series, problem: Problem) -> dict:
    """The problem's metrics of ``model`` on ``X``, ``y``."""
    if not problem_spec(problem).classifies:
        return regression_metrics(y, model.predict(X))
    if isinstance(model, Pipeline) and len(model.steps) > 1:  # the steps Pipeline.predict(_proba) runs, run once
        inputs, model = model[:-1].transform(X), model.steps[-1][1]
    else:
        inputs = X
    return classification_metrics(y, model.predict(inputs), model.predict_proba(inputs)[:, 1])


def oracle_metrics(truth: pd.DataFrame, y: pd.Series, problem: Problem) -> dict | None:
    """Metrics of the true outcome probability / expected score: no model can do better on average."""
    if truth["p_high_performer"].isna().any():
        return None  # data without a known truth (e.g. loaded from a file)
    if problem_spec(problem).classifies:
        p = truth["p_high_performer"].to_numpy()
        return classification_metrics(y, (p >= 0.5).astype(int), p)
    return regression_metrics(y, truth["expected_score"].clip(0, 100))


CV_LEVEL = 0.95  # the level of the interval on a cross-validated mean


def mean_interval(values, k: int, level: float = CV_LEVEL) -> tuple[float, float]:
    """The interval on the mean of repeated k-fold scores (Nadeau and Bengio's corrected resampled t): folds share
    most of their training rows, so the scores are correlated and the plain standard error (sd / sqrt(folds)) is too
    small; the corrected variance is (1/folds + n_test/n_train) * sd^2, n_test/n_train = 1/(k-1)."""
    from scipy.stats import t

    scores = np.asarray(values, dtype=float)
    scores = scores[~np.isnan(scores)]
    if len(scores) < 2:
        return float("nan"), float("nan")
    se = math.sqrt((1 / len(scores) + 1 / (k - 1)) * scores.var(ddof=1))
    half = float(t.ppf(0.5 + level / 2, len(scores) - 1)) * se
    return float(scores.mean() - half), float(scores.mean() + half)


def cv_folds(data: TrainingData, k: int, repeats: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``k * repeats`` (train, test) row positions of repeated stratified group k-fold over every labeled row (a
    student's rows always in one fold; repeat ``r`` shuffles with ``seed + r``). They depend on the labels and the
    students only, so one call serves every model of a run (scikit-learn assigns students to folds one by one in
    Python: about 0.25 s a repeat at 800 students)."""
    from sklearn.model_selection import StratifiedGroupKFold

    from tasks.training.dataset import stratify_labels

    y = pd.concat(list(data.y.values()), ignore_index=True)
    groups = pd.concat(list(data.students.values()), ignore_index=True)
    strata = stratify_labels(y, data.problem)
    return [fold for repeat in range(repeats)
            for fold in StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed + repeat).split(
                np.zeros(len(y)), strata, groups)]


def cross_validate(model, data: TrainingData, k: int, repeats: int, seed: int,
                   folds: list[tuple[np.ndarray, np.ndarray]] | None = None) -> dict:
    """Repeated stratified k-fold cross-validation of ``model``'s configuration (refitted from scratch per fold) over
    every labeled row, a student's rows always in one fold: each metric's mean over the ``k * repeats`` folds with its
    95% interval (``ci_low``, ``ci_high``: where the mean, what a school should expect, lies), its sd, and the
    2.5-97.5% range of the fold scores (``low``, ``high``: what one test split of this size could have shown).
    ``folds``: those of ``cv_folds(data, k, repeats, seed)`` when the caller made them already."""
    from sklearn.base import clone

    X = pd.concat(list(data.X.values()), ignore_index=True)
    y = pd.concat(list(data.y.values()), ignore_index=True)
    groups = pd.concat(list(data.students.values()), ignore_index=True)
    scores: dict[str, list[float]] = {}
    for train, test in folds if folds is not None else cv_folds(data, k, repeats, seed):
        fitted = clone(model).fit(X.iloc[train], y.iloc[train])
        for metric, value in score_model(fitted, X.iloc[test], y.iloc[test], data.problem).items():
            scores.setdefault(metric, []).append(value)
    summary = {metric: {"mean": float(np.nanmean(values)), "sd": float(np.nanstd(values, ddof=1)),
                        "low": float(np.nanquantile(values, 0.025)), "high": float(np.nanquantile(values, 0.975)),
                        **dict(zip(("ci_low", "ci_high"), mean_interval(values, k), strict=True))}
               for metric, values in scores.items()}
    return {"k": k, "repeats": repeats, "folds": k * repeats, "rows": len(X), "students": int(groups.nunique()),
            "metrics": summary}


def chosen_metric(problem: str, choose_by: str | None = None) -> tuple[str, bool]:
    """The metric that chooses models (the problem's primary one unless the school chose another: ``choose_by``), and
    whether higher is better."""
    spec = problem_spec(problem)
    metric = choose_by or spec.primary
    return metric, spec.higher_is_better if metric == spec.primary else metric not in LOWER_IS_BETTER


LOWER_IS_BETTER = frozenset({"mae", "rmse"})


def small_data_note(evaluation: Evaluation, problem: str, metric: str | None = None) -> str | None:
    """What the leaderboard says when the data was small (cross-validated): how the numbers were made, and which
    models cannot be told apart from the best (their mean inside the 95% interval on the best's mean)."""
    rows = [row for row in evaluation.models if row.get("cv")]
    if not rows:
        return None
    metric, higher = chosen_metric(problem, metric)
    sign = 1 if higher else -1
    best = max(rows, key=lambda row: sign * row["cv"]["metrics"][metric]["mean"])
    low, high = best["cv"]["metrics"][metric]["ci_low"], best["cv"]["metrics"][metric]["ci_high"]
    alike = [row["algorithm"] for row in rows
             if row is not best and low <= row["cv"]["metrics"][metric]["mean"] <= high]
    cv = best["cv"]
    return (f"Small data ({cv['students']} students): every metric is the mean of {cv['repeats']} x {cv['k']}-fold "
            f"cross-validation, with a {CV_LEVEL:.0%} interval on the mean (corrected for the folds' overlap; one "
            f"test split could have shown much more or less). Models are chosen by the cross-validated {metric}. "
            + (f"Too small to tell {', '.join(alike)} from {best['algorithm']} (their means lie in its interval "
               f"{low:.3f}-{high:.3f})." if alike else f"{best['algorithm']} is ahead of every other model's mean."))


def primary_score(row: dict, problem: str, metric: str | None = None) -> float:
    """The score that chooses models: the cross-validated mean when the data was small, else validation."""
    metric = metric or problem_spec(problem).primary
    return row["cv"]["metrics"][metric]["mean"] if row.get("cv") else row["val"][metric]


def score_interval(row: dict, problem: str, metric: str | None = None) -> tuple[float, float] | None:
    """The 95% interval on the cross-validated score that chooses (None when validation chose)."""
    metric = metric or problem_spec(problem).primary
    found = (row.get("cv") or {}).get("metrics", {}).get(metric)
    if not found or found.get("ci_low") is None or math.isnan(found["ci_low"]):
        return None
    return float(found["ci_low"]), float(found["ci_high"])


def base_rate(y) -> dict:
    """What calling every student the majority class scores: the share of the positive class, and that accuracy."""
    labels = np.asarray(y).astype(int)
    share = float(labels.mean()) if len(labels) else float("nan")
    return {"rows": int(len(labels)), "positive_share": round(share, 4), "majority": bool(share >= 0.5),
            "accuracy": round(max(share, 1 - share), 4)}


def skill(row: dict, base: dict) -> dict:
    """A classifier's accuracy at its threshold against the base rate: the cross-validated mean (with the low end of
    its interval) on small data, else the test split's; ``verdict`` is ``better``, ``not clearly better`` (the
    interval reaches the base rate) or ``no better``."""
    cv = (row.get("cv") or {}).get("metrics", {}).get("accuracy")
    accuracy = cv["mean"] if cv else row["test"]["accuracy"]
    low = cv["ci_low"] if cv else None
    mcc = (row.get("cv") or {}).get("metrics", {}).get("mcc", {}).get("mean") if cv else row["test"]["mcc"]
    verdict = ("no better" if accuracy <= base["accuracy"] else
               "not clearly better" if low is not None and low <= base["accuracy"] else "better")
    return {"accuracy": round(accuracy, 4), "low": None if low is None else round(low, 4),
            "base": base["accuracy"], "margin": round(accuracy - base["accuracy"], 4) + 0.0,
            "mcc": None if mcc is None or math.isnan(mcc) else round(mcc, 4), "verdict": verdict,
            "basis": "cross-validated" if cv else "test"}


def skill_warning(evaluation: Evaluation, algorithm: str, label: str) -> str | None:
    """The words when ``algorithm`` (the best model) does not clearly beat calling everyone the majority class (on
    the ``label`` rule's name), else None."""
    row = next((r for r in evaluation.models if r["algorithm"] == algorithm), None)
    if row is None or not row.get("skill") or row["skill"]["verdict"] == "better":
        return None
    found, base = row["skill"], evaluation.base
    majority = "everyone" if base["majority"] else "nobody"
    interval = f" (95% interval from {found['low']:.4f})" if found["low"] is not None else ""
    return (f"{algorithm} is {found['verdict']} than calling {majority} '{label}': {found['basis']} accuracy "
            f"{found['accuracy']:.4f}{interval} against {base['accuracy']:.4f}, MCC {found['mcc']}. Its ranking "
            "(by ROC AUC, unless chosen otherwise) does not make it useful: choose by the decision the school acts "
            "on (--choose-by mcc, f1 or recall), give it more informative fields, or do not act on its predictions")


def evaluate(model, data: TrainingData) -> dict:
    """Validation metrics (used to choose) and test metrics (reported)."""
    return {part: score_model(model, data.X[part], data.y[part], data.problem) for part in ("val", "test")}


def feature_importance(model, data: TrainingData, seed: int, repeats: int, rows: int | None = None) -> dict:
    """The model's own importance (when it has one) and permutation importance on validation data: on at most
    ``rows`` students of it (a seeded sample), since each feature's shuffles predict the whole set again. Measured at
    24,000 validation students: 5,000 moved no importance by more than 0.0015 (ROC AUC), kept each model's top three,
    and took the random forest's 48.5 s to 14.3 s."""
    pre, estimator = model.named_steps["pre"], model.named_steps["model"]
    own: dict[str, float] = {}
    names = list(pre.get_feature_names_out())
    if hasattr(estimator, "feature_importances_"):
        own = dict(zip(names, map(float, estimator.feature_importances_), strict=True))
    elif hasattr(estimator, "coef_"):
        own = dict(zip(names, map(float, np.abs(np.ravel(estimator.coef_))), strict=True))
    scoring = problem_spec(data.problem).scoring
    X, y = data.X["val"], data.y["val"]
    if rows is not None and len(X) > rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), size=rows, replace=False))
        X, y = X.iloc[keep], y.iloc[keep] if hasattr(y, "iloc") else y[keep]
    drops = permutation_drops(model, X, y, scoring, repeats, seed)
    permutation = dict(zip(X.columns, map(float, drops.mean(axis=1)), strict=True))
    return {"own": own, "permutation": permutation}


def _scorer(model, scoring: str):
    """(the model's response to inputs, the metric of true values and responses) for scikit-learn's ``scoring`` name,
    as its scorer does: ``roc_auc`` ranks the decision function where the model has one, else the positive
    probability; ``neg_mean_absolute_error`` is minus the MAE of the predictions."""
    if scoring == "roc_auc":
        respond = model.decision_function if hasattr(model, "decision_function") else (
            lambda X: model.predict_proba(X)[:, 1])
        return respond, roc_auc_score
    if scoring == "neg_mean_absolute_error":
        return model.predict, lambda y, predicted: -mean_absolute_error(y, predicted)
    raise ValueError(f"no permutation scorer for {scoring!r}")


def permutation_drops(model, X: pd.DataFrame, y, scoring: str, repeats: int, seed: int,
                      rows_per_call: int = 100_000) -> np.ndarray:
    """Permutation importance (the score's drop when one column is shuffled), shape (columns, repeats): the numbers
    of scikit-learn's ``permutation_importance(model, X, y, scoring=scoring, n_repeats=repeats, random_state=seed)``
    (its shuffles, drawn in its order), but the shuffled copies are stacked and predicted in a few calls instead of
    one call per column and repeat: a pipeline's per-call cost (column checks, the transformers) dominated on a few
    hundred rows (1.9 s -> 0.2 s for the linear model at 800 students)."""
    respond, score = _scorer(model, scoring)
    y = np.asarray(y)
    n = len(X)
    column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)  # scikit-learn's draw
    shuffled: list[tuple[int, np.ndarray]] = []  # (column, its values) per (column, repeat), in scikit-learn's order
    for column in range(X.shape[1]):
        rng, order, values = np.random.RandomState(column_seed), np.arange(n), X.iloc[:, column].to_numpy()
        for _ in range(repeats):
            rng.shuffle(order)
            values = values[order]
            shuffled.append((column, values))
    blocks = max(1, rows_per_call // max(n, 1))
    drops = []
    baseline = score(y, respond(X))
    for start in range(0, len(shuffled), blocks):
        chunk = shuffled[start:start + blocks]
        stacked = {name: np.tile(X[name].to_numpy(), len(chunk)) for name in X.columns}
        for place, (column, values) in enumerate(chunk):
            stacked[X.columns[column]][place * n:(place + 1) * n] = values
        frame = pd.DataFrame({name: pd.Series(stacked[name], dtype=X[name].dtype) for name in X.columns})
        responses = np.asarray(respond(frame))
        drops += [baseline - score(y, responses[place * n:(place + 1) * n]) for place in range(len(chunk))]
    return np.asarray(drops, dtype=float).reshape(X.shape[1], repeats)


def leaderboard(evaluation: Evaluation, registered: list[RegisteredModel], problem: str,
                metric: str | None = None) -> list[dict]:
    """One row per model plus the baseline and the oracle, best first by the choosing ``metric``; plain floats only.
    On small data every figure is cross-validated (``cv_``: the mean, with the 95% interval on it for the choosing
    metric and accuracy), the oracle's on every labeled row; else validation chooses and the test split reports.
    A classifier's rows say how far its accuracy is above the base rate (``vs_base``)."""
    spec = problem_spec(problem)
    metric, higher = chosen_metric(problem, metric)
    versions = {r.algorithm: r.version for r in registered}
    small = any(row.get("cv") for row in evaluation.models)
    with_interval = [metric, *(["accuracy"] if spec.classifies and metric != "accuracy" else [])]
    shown = [metric, *(m for m in spec.shown if m != metric)]

    def figures(values: dict, cv: dict | None) -> dict:
        if small:
            means = {f"cv_{m}": _round(cv[m]["mean"] if cv else values.get(m)) for m in shown}
            for m in with_interval:
                means[f"cv_{m}_low"] = _round(cv[m]["ci_low"]) if cv else None
                means[f"cv_{m}_high"] = _round(cv[m]["ci_high"]) if cv else None
            return dict(sorted(means.items(), key=lambda item: _column_order(item[0], shown)))
        return {f"val_{metric}": _round(values["val"][metric]), **{f"test_{m}": _round(values["test"][m])
                                                                   for m in shown}}

    rows = []
    for row in evaluation.models:
        cv = row["cv"]["metrics"] if row.get("cv") else None
        rows.append({"model": row["algorithm"], "version": versions.get(row["algorithm"]), **figures(row, cv),
                     **({"vs_base": row["skill"]["margin"]} if row.get("skill") else {}),
                     "train_seconds": row["train_seconds"]})
    sign = -1 if higher else 1
    key = f"cv_{metric}" if small else f"val_{metric}"

    def order(row: dict) -> tuple:  # best first, unscored models after scored ones, the baseline last
        score = row[key]
        return row["model"] == "baseline", score is None, 0.0 if score is None else sign * score

    rows.sort(key=order)
    if evaluation.oracle:
        oracle = (evaluation.oracle.get("all") or {}) if small else evaluation.oracle
        rows.append({"model": spec.oracle, "version": None, **figures(oracle, None),
                     **({"vs_base": None} if evaluation.base else {}), "train_seconds": None})
    return rows


def _column_order(column: str, shown: list[str]) -> tuple:
    name = column.removeprefix("cv_").removesuffix("_low").removesuffix("_high")
    return shown.index(name), column.endswith("_high"), column.endswith("_low")


def _round(value) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 4) + 0.0  # + 0.0: a -0.0 reads as 0


def best_and_gap(rows: list[dict], problem: str, metric: str | None = None) -> tuple[str, float | None]:
    """The leaderboard's best model (its first row) and its distance to the oracle (its last row, when the truth is
    known) on the choosing metric: cross-validated against the oracle on every row on small data, else on test."""
    metric = metric or problem_spec(problem).primary
    best, oracle = rows[0], rows[-1]
    column = f"cv_{metric}" if f"cv_{metric}" in best else f"test_{metric}"
    if not oracle["model"].startswith("oracle") or best[column] is None or oracle[column] is None:
        return best["model"], None
    return best["model"], round(abs(oracle[column] - best[column]), 4)


def baseline_score(evaluation: Evaluation, problem: str, metric: str | None = None) -> float:
    """The baseline's score on the choosing metric (what a champion has to beat)."""
    return next(primary_score(row, problem, metric) for row in evaluation.models if row["algorithm"] == "baseline")
