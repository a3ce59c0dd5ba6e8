"""The training report (pure): the markdown a person reads and the plots as PNG bytes."""

from __future__ import annotations

import pandas as pd

from tasks.data.synthetic import generate_batch
from tasks.training.dataset import make_training_data
from tasks.training.models import fit_model
from tasks.training.params import ModelParams
from tasks.training.report import make_plots, markdown_table, training_markdown
from tasks.training.results import Evaluation
from validation.pandas_twin import pandas_features

PNG = b"\x89PNG\r\n\x1a\n"


def test_a_markdown_table_from_rows_with_empty_cells_for_none():
    assert markdown_table([{"model": "linear", "version": 3}, {"model": "oracle", "version": None}]) == (
        "| model | version |\n|---|---|\n| linear | 3 |\n| oracle |  |")


def test_the_report_and_its_plots():
    batch = generate_batch(800, 63)
    frame = pandas_features(batch.records, batch.batch_id, 1, labeled=True)
    data = make_training_data(frame, pd.DataFrame(batch.truth), "classification", 3, 0.2, 0.2, 200)
    model = fit_model("linear", data, 3, ModelParams(), tune=False, trees=10)
    rows = [{"model": "linear", "version": 1, "val_roc_auc": 0.9}]
    text = training_markdown(data, rows, "linear", 0.012, "first champion", True,
                             {"confusion_matrix": "http://h/dashboard/files/training/t/confusion.png"},
                             "http://h/dashboard/training/t")
    assert text.startswith("# Training report: high_performer (classification)")
    assert "; split train 480, val 160, test 160; data sha256 `" in text  # words, not a Python dict
    assert "Best by validation roc_auc: **linear**; test gap to the oracle: 0.012." in text
    assert "Champion decision: first champion (applied: True)." in text
    # the plots as images the Prefect UI renders (served by the service), and the report's page
    assert "![confusion matrix](http://h/dashboard/files/training/t/confusion.png)" in text
    assert "On the dashboard: http://h/dashboard/training/t" in text
    importance = {"own": {"avg_grade": 2.0, "age": 0.1}, "permutation": {"avg_grade": 0.2, "age": 0.0}}
    evaluation = Evaluation([{"algorithm": "linear", "importance": importance}], None)
    plots = make_plots([model], "linear", data, evaluation)
    assert set(plots) == {"importance_own", "importance_permutation", "roc", "confusion_matrix"}
    assert {file for file, _ in plots.values()} == {"importance_own.png", "importance_permutation.png", "roc.png",
                                                    "confusion.png"}
    assert all(png.startswith(PNG) and len(png) > 2000 for _, png in plots.values())
