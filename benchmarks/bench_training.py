"""Each model's test metrics and training time at several sizes, beside the baseline and the oracle.

Features are computed with the pandas reference (identical to the pipeline, see tests) so that this measures
training, not the store.    python benchmarks/bench_training.py [--sizes 5000 20000] [--problem classification]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.disable(logging.INFO)

from tasks.data.synthetic import generate_batch  # noqa: E402
from tasks.training.dataset import make_training_data  # noqa: E402
from tasks.training.evaluation import leaderboard  # noqa: E402
from tasks.training.models import fit_model  # noqa: E402
from tasks.training.params import ALGORITHMS, TrainingParams  # noqa: E402
from tasks.training.tasks import evaluate_models  # noqa: E402
from validation.contracts import problem_spec  # noqa: E402
from validation.pandas_twin import pandas_features  # noqa: E402


def run(n: int, problem: str) -> list[dict]:
    """Train and evaluate every model at one size; one leaderboard row each."""
    batch = generate_batch(n, seed=100 + n % 997)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    training = TrainingParams(problem=problem)
    data = make_training_data(frame, pd.DataFrame(batch.truth), problem, training.split_seed, training.val_size,
                              training.test_size, training.min_rows)
    trained = [fit_model(name, data, training.split_seed, training.models, training.tune, training.trees)
               for name in ALGORITHMS]
    return leaderboard(evaluate_models.fn(trained, data, training), [], problem)


def main() -> None:
    """Run every size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--problem", choices=["classification", "regression"], default="classification")
    args = parser.parse_args()
    metrics = list(problem_spec(args.problem).shown)
    print(f"{'students':>8}  {'model':<26}" + "".join(f"{m:>10}" for m in metrics) + f"{'gap':>8}{'train s':>9}")
    for n in args.sizes:
        rows = run(n, args.problem)
        oracle = rows[-1] if rows[-1]["model"].startswith("oracle") else None
        for row in rows:
            first = row[f"test_{metrics[0]}"]
            gap = "" if oracle is None or first is None else f"{abs(oracle[f'test_{metrics[0]}'] - first):.4f}"
            secs = "" if row["train_seconds"] is None else f"{row['train_seconds']:.2f}"
            print(f"{n:>8}  {row['model']:<26}" + "".join(f"{row[f'test_{m}']:>10.4f}" for m in metrics)
                  + f"{gap:>8}{secs:>9}")
    print(f"\ngap: distance to the oracle on test {metrics[0]}; train s: fit time including preprocessing.")


if __name__ == "__main__":
    main()
