"""The training data's rules (pure): the recent window, and the champion/challenger holdout from the newest
batch only."""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.training.dataset import NotEnoughDataError, choose_window, window_split

NEWEST_FIRST = ["b5", "b4", "b3", "b2", "b1"]


@pytest.mark.parametrize(("window", "newest", "expected"), [
    (3, None, ["b5", "b4", "b3"]),
    (1, None, ["b5"]),
    (10, None, NEWEST_FIRST),                 # fewer batches than the window: all of them
    ("all", None, None),                      # None: no filter at all
    (2, "b5", ["b5", "b4"]),
    (2, "b9", ["b9", "b5"]),                  # the batch just brought in is always in, even before it is listed
    (1, "b9", ["b9"]),
])
def test_the_training_window(window, newest, expected):
    assert choose_window(NEWEST_FIRST, window, newest) == expected


def frame(batches: dict[str, int]) -> pd.DataFrame:
    rows, student = [], 0
    for batch, n in batches.items():
        for i in range(n):
            student += 1
            rows.append({"student_id": student, "batch_id": batch, "high_performer": i % 4 == 0})
    return pd.DataFrame(rows)


def test_the_holdout_is_a_share_of_the_newest_batch_and_never_trained_on():
    data = frame({"old": 400, "new": 200})
    split = window_split(data, "new", "classification", seed=1, holdout_share=0.4, val_size=0.2, min_holdout_rows=20)
    newest_ids = set(data.loc[data["batch_id"] == "new", "student_id"])
    assert set(split["test"]) <= newest_ids and len(split["test"]) == 80
    assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))
    assert len(split["train"]) + len(split["val"]) + len(split["test"]) == 600


def test_a_newest_batch_too_small_for_a_holdout_is_a_clear_error():
    with pytest.raises(NotEnoughDataError, match="has 10 labeled students"):
        window_split(frame({"old": 400, "new": 10}), "new", "classification", 1, 0.4, 0.2, min_holdout_rows=20)
