"""Feature documents read into a frame a part at a time: the same frame, types included, as all at once."""

from __future__ import annotations

import pandas as pd

from tasks.data.synthetic import DriftKnobs, generate_batch
from validation.features import features_frame, frame_in_parts
from validation.pandas_twin import pandas_features


def test_a_frame_built_in_parts_equals_the_frame_built_whole():
    batch = generate_batch(60, 5, True, DriftKnobs(missing_rate=0.5))
    documents = pandas_features(batch.records, batch.batch_id, 1, True).to_dict(orient="records")
    documents[3]["latest_grade"] = None
    documents[:7] = [{**doc, "tutoring": None, "grade_trend": None} for doc in documents[:7]]  # a part all null
    columns = list(documents[0])
    whole = pd.DataFrame.from_records(documents, columns=columns)
    parts = frame_in_parts(iter(documents), columns, part=7)
    pd.testing.assert_frame_equal(parts, whole)
    assert frame_in_parts([], columns).columns.tolist() == columns
    pd.testing.assert_frame_equal(features_frame(iter(documents)), features_frame(documents))
