"""Champion decisions: pure functions that decide and return their numbers; tasks write the registry."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ChampionDecision:
    promote: bool
    version: int | None
    reason: str
    numbers: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def choose_first_champion(candidates: list[dict], baseline: float, current_champion: int | None, metric: str,
                          higher_is_better: bool) -> ChampionDecision:
    """The first champion is the best model of the first run by validation ``metric``, if it beats the baseline.

    ``candidates``: ``{"version", "algorithm", "score"}``. Ties go to the earlier version. Once a champion
    exists this never replaces it: that takes the retraining flow's promotion gate.
    """
    if current_champion is not None:
        return ChampionDecision(False, None, f"champion v{current_champion} exists; only the retraining flow's "
                                             "promotion gate replaces it", {"current_champion": current_champion})
    scored = [c for c in candidates if c["score"] is not None and not math.isnan(c["score"])]
    if not scored:
        return ChampionDecision(False, None, "no model with a usable validation score", {})
    sign = 1 if higher_is_better else -1
    best = max(scored, key=lambda c: (sign * c["score"], -c["version"]))
    numbers = {"metric": metric, "best": best["score"], "baseline": baseline, "candidates": len(scored)}
    if sign * best["score"] <= sign * baseline:
        return ChampionDecision(False, None, f"no model beats the baseline on validation {metric} "
                                             f"(best {best['score']:.4f} vs baseline {baseline:.4f})", numbers)
    return ChampionDecision(True, best["version"], f"first champion: {best['algorithm']} v{best['version']} has the "
                            f"best validation {metric} ({best['score']:.4f}) of {len(scored)} models, baseline "
                            f"{baseline:.4f}", numbers)
