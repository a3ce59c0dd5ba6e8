"""The dashboard's SVG charts (pure): what the performance chart draws for measured, estimated and realised points."""

from __future__ import annotations

import re

from tasks.reporting.charts import line_chart
from tasks.reporting.pages import performance_chart


def test_the_estimate_is_dashed_at_the_scored_batch_with_what_its_labels_said_beside_it():
    points = [
        {"version": 1, "source": "estimate", "batch_seq": 2, "value": 0.878, "realised": 0.8645},
        {"version": 1, "source": "estimate", "batch_seq": 3, "value": 0.851, "realised": 0.687},
        {"version": 1, "source": "estimate", "batch_seq": 6, "value": 0.86},  # no labels yet
        {"version": 1, "source": "live", "batch_seq": 4, "value": 0.8645},
        {"version": 1, "source": "live", "batch_seq": 5, "value": 0.687},
        {"version": 2, "source": "live", "batch_seq": None, "value": 0.9},  # not placeable: left out
    ]
    svg = performance_chart(points, "accuracy")
    titles = re.findall(r"<title>([^<]*)</title>", svg)
    assert titles == ["v1 estimated: 0.878", "v1 estimated: 0.851", "v1 estimated: 0.86", "v1 realised later: 0.865",
                      "v1 realised later: 0.687", "v1: 0.865", "v1: 0.687"]
    assert svg.count("<polyline") == 2 and svg.count('stroke-dasharray="6 4"') == 1  # realised: markers only
    assert svg.count('fill="white"') == 2
    assert [label for label in re.findall(r">(#\d+)<", svg)] == ["#2", "#3", "#4", "#5", "#6"]


def test_a_chart_without_values_says_so():
    assert line_chart({"v1": [(1.0, None)]}, "batch", "accuracy") == '<p class="muted">No accuracy measured yet.</p>'
