"""Scoring throughput at 10k records: the vectorised path the score flow uses vs a per-record loop, same model.

    python benchmarks/bench_scoring.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.disable(logging.INFO)

from tasks.data.synthetic import generate_batch  # noqa: E402
from tasks.scoring.predict import predict_frame, prediction_documents  # noqa: E402
from tasks.training.dataset import make_training_data  # noqa: E402
from tasks.training.models import fit_model  # noqa: E402
from tasks.training.params import TrainingParams  # noqa: E402
from validation.pandas_twin import pandas_features  # noqa: E402


def main() -> None:
    """Train three models, then time vectorised against per-record scoring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000)
    args = parser.parse_args()
    train = generate_batch(5000, 1)
    training = TrainingParams()
    data = make_training_data(pandas_features(train.records, "t", 1, True), pd.DataFrame(train.truth),
                              "classification", training.split_seed, training.val_size, training.test_size,
                              training.min_rows)
    score = generate_batch(args.rows, 2, labeled=False)
    frame = pandas_features(score.records, "s", 2, False)
    print(f"{'model':<14}{'vectorised rec/s':>18}{'per-record rec/s':>18}{'speed-up':>10}")
    for algorithm in ("linear", "random_forest", "xgboost"):
        model = fit_model(algorithm, data, training.split_seed, training.models, tune=False, trees=100).pipeline
        start = time.perf_counter()
        documents = prediction_documents(predict_frame(model, frame, "classification"), "s", "m", 1, None,
                                         datetime.now(UTC))
        vectorised = time.perf_counter() - start
        loop_rows = min(1000, len(frame))  # the loop is timed on a slice and reported per record
        start = time.perf_counter()
        for i in range(loop_rows):
            predict_frame(model, frame.iloc[[i]], "classification")
        per_record = (time.perf_counter() - start) / loop_rows
        assert len(documents) == len(frame)
        print(f"{algorithm:<14}{len(frame) / vectorised:>18,.0f}{1 / per_record:>18,.0f}"
              f"{per_record * len(frame) / vectorised:>9.0f}x")
    print(f"\n{len(frame)} records; the per-record loop was timed on {min(1000, len(frame))} of them. Vectorised: "
          "preprocessing, prediction and building the prediction documents; per-record: preprocessing and "
          "prediction only (so the speed-up is understated). Neither includes the database write.")


if __name__ == "__main__":
    main()
