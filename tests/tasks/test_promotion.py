"""The first-champion rule on a table of cases."""

from __future__ import annotations

import math

import pytest

from tasks.promotion import choose_first_champion

MODELS = [{"version": 1, "algorithm": "linear", "score": 0.90}, {"version": 2, "algorithm": "tree", "score": 0.85},
          {"version": 3, "algorithm": "forest", "score": 0.92}]


@pytest.mark.parametrize(("candidates", "baseline", "current", "higher", "promote", "version", "reason"), [
    (MODELS, 0.5, None, True, True, 3, "first champion: forest v3"),
    (MODELS, 0.5, 4, True, False, None, "champion v4 exists"),
    (MODELS, 0.95, None, True, False, None, "no model beats the baseline"),
    (MODELS, 0.92, None, True, False, None, "no model beats the baseline"),  # equal to the baseline is no win
    ([{"version": 5, "algorithm": "a", "score": 0.8}, {"version": 6, "algorithm": "b", "score": 0.8}],
     0.5, None, True, True, 5, "a v5"),                                        # a tie goes to the earlier version
    (MODELS, 0.95, None, False, True, 2, "tree v2"),                           # lower is better (MAE)
    ([], 0.5, None, True, False, None, "no model with a usable"),
    ([{"version": 1, "algorithm": "a", "score": math.nan}], 0.5, None, True, False, None, "no model with a usable"),
])
def test_first_champion_cases(candidates, baseline, current, higher, promote, version, reason):
    decision = choose_first_champion(candidates, baseline, current, "metric", higher)
    assert (decision.promote, decision.version) == (promote, version)
    assert reason in decision.reason
