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


def two_terms(n: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same n students labeled in two terms (batch 1, then batch 2), with features and the truth per term."""
    from tasks.data.synthetic import generate_batch
    from validation.pandas_twin import pandas_features

    frames, truths = [], []
    for seq, batch_id in ((1, "term1"), (2, "term2")):
        batch = generate_batch(n, 70 + seq)
        records = [{**r, "student_id": i + 1} for i, r in enumerate(batch.records)]
        frames.append(pandas_features(records, batch_id, seq, labeled=True))
        truths.append(pd.DataFrame(batch.truth).assign(student_id=range(1, n + 1), batch_id=batch_id))
    return pd.concat(frames, ignore_index=True), pd.concat(truths, ignore_index=True)


def test_a_student_with_two_labeled_terms_is_one_unit_of_the_split_with_both_rows():
    from tasks.training.dataset import make_training_data

    frame, truth = two_terms()
    data = make_training_data(frame, truth, "classification", seed=3, val_size=0.2, test_size=0.2, min_rows=100)
    parts = {part: set(ids) for part, ids in data.split_ids.items()}
    assert sum(map(len, parts.values())) == 300 and not (parts["train"] & parts["test"])
    assert {part: len(data.X[part]) for part in parts} == {part: 2 * len(ids) for part, ids in parts.items()}
    assert data.lineage["rows"] == 600 and data.lineage["students"] == 300
    assert data.truth["test"]["p_high_performer"].notna().all()  # each row's truth is its own term's


def test_the_holdout_is_the_newest_term_alone_and_its_students_train_nothing():
    from tasks.training.dataset import make_training_data, without_holdouts_other_terms

    frame, truth = two_terms()
    split = window_split(frame, "term2", "classification", 1, 0.4, 0.2, min_holdout_rows=20)
    assert len(split["test"]) == 120 and not set(split["test"]) & (set(split["train"]) | set(split["val"]))
    kept = without_holdouts_other_terms(frame, split["test"], "term2")
    data = make_training_data(kept, truth, "classification", 1, 0.2, 0.2, 100, split_ids=split)
    assert len(data.X["test"]) == 120  # the holdout students' newest term only
    assert len(data.X["train"]) + len(data.X["val"]) == 2 * 180  # every other student with both terms


@pytest.mark.parametrize(("positives", "refused"), [(0, True), (4, True), (5, False)])
def test_a_label_with_one_class_or_too_few_of_one_is_a_clear_error(positives, refused):
    from tasks.training.dataset import TooFewOfAClassError, make_training_data

    frame, truth = two_terms(150)
    frame = frame[frame["batch_id"] == "term1"].copy()
    frame["high_performer"] = [i < positives for i in range(len(frame))]
    if refused:
        with pytest.raises(TooFewOfAClassError, match=rf"true for {positives} and false for {150 - positives} of "
                                                      r"150 labeled rows.*scale"):
            make_training_data(frame, truth, "classification", 1, 0.2, 0.2, 100)
    else:
        assert make_training_data(frame, truth, "classification", 1, 0.2, 0.2, 100).lineage["rows"] == 150
