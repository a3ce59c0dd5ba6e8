"""Judging the candidates (``evaluate_models``): every model's validation and test metrics, repeated cross-validation
on small data, permutation importance. Prints CPU seconds (robust to a busy machine) and wall seconds per size for
the pipeline's way against the straightforward one in the same run: scikit-learn's ``permutation_importance`` (a
predict call per column and repeat) and the folds made again for every model. Both give the same numbers; the
script checks that too.

    .venv/bin/python benchmarks/bench_evaluation.py [--sizes 400 800 1600 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@contextmanager
def straightforward():
    """The evaluation as it was: scikit-learn's permutation importance, folds made per model, a fold scored through
    the pipeline twice and the metrics through scikit-learn's functions."""
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, precision_score, recall_score

    from tasks.training import evaluation

    def drops(model, X, y, scoring, repeats, seed, rows_per_call=0):
        return permutation_importance(model, X, y, scoring=scoring, n_repeats=repeats, random_state=seed,
                                      n_jobs=1).importances

    def metrics(y_true, y_pred, y_score):
        import numpy as np

        y_true, y_pred = np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int)
        return {"accuracy": float(accuracy_score(y_true, y_pred)),
                "precision": float(precision_score(y_true, y_pred, zero_division=0)),
                "recall": float(recall_score(y_true, y_pred, zero_division=0)),
                "f1": float(f1_score(y_true, y_pred, zero_division=0)),
                "mcc": float(matthews_corrcoef(y_true, y_pred)),
                "roc_auc": float(evaluation.roc_auc_score(y_true, y_score))}

    def score(model, X, y, problem):
        return metrics(y, model.predict(X), model.predict_proba(X)[:, 1])

    def cv(model, data, k, repeats, seed, folds=None):
        return original_cv(model, data, k, repeats, seed)  # its own folds, every model

    original_cv = evaluation.cross_validate
    with mock.patch.object(evaluation, "permutation_drops", drops), \
            mock.patch.object(evaluation, "classification_metrics", metrics), \
            mock.patch.object(evaluation, "score_model", score), \
            mock.patch("tasks.training.tasks.cross_validate", cv), \
            mock.patch("tasks.training.tasks.cv_folds", lambda *args: None):
        yield


def measure(students: int) -> tuple[tuple[float, float, dict], tuple[float, float, dict]]:
    """(CPU s, wall s, evaluation) both ways on the same trained models of ``students`` generated students."""
    import pandas as pd

    from tasks.data.synthetic import generate_batch
    from tasks.training.dataset import make_training_data
    from tasks.training.models import fit_model
    from tasks.training.params import ALGORITHMS, ModelParams, TrainingParams
    from tasks.training.tasks import evaluate_models
    from validation.pandas_twin import pandas_features

    batch = generate_batch(students, 8)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    data = make_training_data(frame, pd.DataFrame(batch.truth), "classification", seed=3, val_size=0.2,
                              test_size=0.2, min_rows=200)
    training = TrainingParams()
    trained = [fit_model(a, data, 3, ModelParams(), tune=False, trees=training.trees) for a in ALGORITHMS]
    results = []
    for way in ("ours", "straightforward"):
        context = straightforward() if way == "straightforward" else mock.patch.dict({})
        with context:
            cpu, wall = time.process_time(), time.perf_counter()
            evaluation = evaluate_models.fn(trained, data, training)
            results.append((time.process_time() - cpu, time.perf_counter() - wall, evaluation))
    return results[0], results[1]


def same_numbers(ours, theirs) -> float:
    """The largest difference between the two evaluations' figures (metrics, cross-validation, importance)."""
    import math

    worst = 0.0

    def walk(a, b):
        nonlocal worst
        if isinstance(a, dict):
            assert set(a) == set(b), (set(a) ^ set(b))
            for key in a:
                walk(a[key], b[key])
        elif isinstance(a, list):
            for x, y in zip(a, b, strict=True):
                walk(x, y)
        elif isinstance(a, float) and not (math.isnan(a) and math.isnan(b)):
            worst = max(worst, abs(a - b))

    for row_a, row_b in zip(ours.models, theirs.models, strict=True):
        walk({k: v for k, v in row_a.items() if k != "train_seconds"},
             {k: v for k, v in row_b.items() if k != "train_seconds"})
    return worst


def main() -> None:
    """One row per size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[400, 800, 1600, 5000])
    args = parser.parse_args()
    print(f"{'students':>9} {'ours cpu s':>10} {'wall s':>7} {'before cpu s':>12} {'wall s':>7} {'cpu ratio':>9} "
          f"{'max diff':>9}")
    for students in args.sizes:
        (cpu, wall, ours), (cpu0, wall0, theirs) = measure(students)
        print(f"{students:>9,} {cpu:>10.1f} {wall:>7.1f} {cpu0:>12.1f} {wall0:>7.1f} {cpu / cpu0:>9.2f} "
              f"{same_numbers(ours, theirs):>9.1e}", flush=True)


if __name__ == "__main__":
    main()
