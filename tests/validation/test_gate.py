"""The gate's decisions on a table of cases, and its messages."""

from __future__ import annotations

import pytest

from validation.gate import decide_rejected_share, rejected_share_message, top_reasons


@pytest.mark.parametrize(("input_count", "rejected", "threshold", "passed"), [
    (100, 0, 0.05, True),
    (100, 5, 0.05, True),     # exactly at the threshold passes
    (100, 6, 0.05, False),
    (1000, 49, 0.05, True),
    (10, 10, 1.0, True),      # a threshold of 1 lets everything through
    (10, 1, 0.0, False),      # a threshold of 0 tolerates nothing
    (0, 0, 0.05, False),      # an empty batch never passes
])
def test_rejected_share_decisions(input_count, rejected, threshold, passed):
    assert decide_rejected_share(input_count, rejected, threshold).passed is passed


def test_threshold_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        decide_rejected_share(10, 1, 1.5)


def test_top_reasons_fold_list_positions_and_the_message_says_what_to_do():
    docs = [{"reasons": [{"field": "courses[0].grades[2]", "rule": "range"}]},
            {"reasons": [{"field": "courses[3].grades[0]", "rule": "range"}, {"field": "age", "rule": "range"}]},
            {"reasons": [{"field": "$", "rule": "type"}]}]
    reasons = top_reasons(docs)
    assert reasons[0] == ("courses[].grades[] range", 2)
    message = rejected_share_message("b7", decide_rejected_share(10, 3, 0.05), reasons)
    assert "3 of 10 records rejected (30.0%)" in message and "courses[].grades[] range x2" in message
