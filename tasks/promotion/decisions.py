"""Champion decisions: pure functions that decide and return their numbers; the stage's tasks write the
registry. The first champion, the promotion gate (exact McNemar / paired bootstrap plus a margin), and whether
to retrain at all."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from tasks.monitoring.results import LivePerformance
from tasks.promotion.params import GateParams
from tasks.training.results import RegisteredModel
from validation.contracts import problem_spec


@dataclass(frozen=True)
class ChampionDecision:
    """A decision about the champion, with the reason and the numbers behind it."""

    promote: bool
    version: int | None
    reason: str
    numbers: dict = field(default_factory=dict)


def choose_first_champion(candidates: list[RegisteredModel], baseline: float, current_champion: int | None,
                          metric: str, higher_is_better: bool) -> ChampionDecision:
    """The first champion is the best model of the first run by ``metric`` (validation, or cross-validated on small
    data), if it beats the baseline: on small data its 95% interval has to clear the baseline, not only its mean.

    Ties go to the earlier version. Once a champion exists this never replaces it: that takes the retraining
    flow's promotion gate.
    """
    if current_champion is not None:
        return ChampionDecision(False, None, f"champion v{current_champion} exists; only the retraining flow's "
                                             "promotion gate replaces it", {"current_champion": current_champion})
    scored = [c for c in candidates if c.score is not None and not math.isnan(c.score)]
    if not scored:
        return ChampionDecision(False, None, "no model with a usable validation score", {})
    sign = 1 if higher_is_better else -1
    best = max(scored, key=lambda c: (sign * c.score, -c.version))
    numbers = {"metric": metric, "best": best.score, "baseline": baseline, "candidates": len(scored)}
    if sign * best.score <= sign * baseline:
        return ChampionDecision(False, None, f"no model beats the baseline on {best.basis} {metric} "
                                             f"(best {best.score:.4f} vs baseline {baseline:.4f})", numbers)
    if best.interval is not None:  # small data: the best's 95% interval has to clear the baseline
        low, high = best.interval
        numbers |= {"best_low": low, "best_high": high}
        if (low if higher_is_better else high) * sign <= baseline * sign:
            return ChampionDecision(False, None, f"no model clearly beats the baseline on {best.basis} {metric}: "
                                                 f"{best.algorithm} {best.score:.4f} [{low:.4f}, {high:.4f}] holds the "
                                                 f"baseline's {baseline:.4f}; more students or more informative "
                                                 "fields, or no champion", numbers)
    return ChampionDecision(True, best.version, f"first champion: {best.algorithm} v{best.version} has the "
                            f"best {best.basis} {metric} ({best.score:.4f}) of {len(scored)} models, baseline "
                            f"{baseline:.4f}", numbers)


def best_challenger(registered: list[RegisteredModel], higher_is_better: bool) -> RegisteredModel:
    """The challenger that goes through the gate: the best new model by validation score."""
    return max(registered, key=lambda r: r.score if higher_is_better else -r.score)


def mcnemar_one_sided(champion_correct, challenger_correct) -> dict:
    """Exact one-sided McNemar: among rows where exactly one model is right, is it the challenger more often?"""
    champion_correct = np.asarray(champion_correct, dtype=bool)
    challenger_correct = np.asarray(challenger_correct, dtype=bool)
    b = int((challenger_correct & ~champion_correct).sum())  # only the challenger is right
    c = int((champion_correct & ~challenger_correct).sum())  # only the champion is right
    p_value = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue)
    return {"challenger_only_right": b, "champion_only_right": c, "p_value": p_value,
            "improvement": (b - c) / len(champion_correct) if len(champion_correct) else 0.0}


def paired_bootstrap(champion_loss, challenger_loss, samples: int, seed: int) -> dict:
    """95% lower bound of the mean improvement (champion loss minus challenger loss), resampling rows."""
    diff = np.asarray(champion_loss, dtype=float) - np.asarray(challenger_loss, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    return {"improvement": float(diff.mean()), "lower_95": float(np.quantile(means, 0.05)),
            "p_value": float((means <= 0).mean())}


def should_promote(problem: str, y_true, champion_pred, challenger_pred, gate: GateParams) -> ChampionDecision:
    """Decide on the same holdout: classification by exact McNemar, regression by a paired bootstrap of MAE.

    Promote only if significant AND the improvement is at least the margin; a tie never promotes.
    """
    y_true = np.asarray(y_true)
    if problem_spec(problem).classifies:
        test = mcnemar_one_sided(np.asarray(champion_pred) == y_true, np.asarray(challenger_pred) == y_true)
        significant = test["p_value"] < gate.gate_alpha
        measure = "accuracy"
    else:
        champion_loss = np.abs(np.asarray(champion_pred) - y_true)
        challenger_loss = np.abs(np.asarray(challenger_pred) - y_true)
        test = paired_bootstrap(champion_loss, challenger_loss, gate.bootstrap_samples, gate.bootstrap_seed)
        significant = test["lower_95"] > 0
        measure = "MAE"
    enough = test["improvement"] >= gate.margin and test["improvement"] > 0
    numbers = {**test, "rows": int(len(y_true)), "alpha": gate.gate_alpha, "margin": gate.margin,
               "measure": measure, "significant": bool(significant), "beats_margin": bool(enough)}
    small = too_small(numbers, problem_spec(problem).classifies, gate)
    if small:
        numbers["too_small"] = True
        return ChampionDecision(False, None, f"keep the champion: too little evidence for a decision ({small})",
                                numbers)
    if significant and enough:
        reason = (f"challenger is better on {measure} by {test['improvement']:.4f} (>= margin {gate.margin}), "
                  f"p = {test['p_value']:.4g} < {gate.gate_alpha}")
        return ChampionDecision(True, None, reason, numbers)
    why = "not significant" if not significant else f"improvement {test['improvement']:.4f} below the margin"
    return ChampionDecision(False, None, f"keep the champion: {why} ({measure}, p = {test['p_value']:.4g}, "
                                         f"{numbers['rows']} holdout rows)", numbers)


def too_small(numbers: dict, classifies: bool, gate: GateParams) -> str | None:
    """Why this holdout cannot decide, whatever the models did (None: it can). McNemar: even if every disagreement
    went the challenger's way, p would stay at or above alpha (a small holdout, or models that almost always agree).
    Regression: fewer than 30 rows for a bootstrap."""
    rows = numbers["rows"]
    if not classifies:
        return f"{rows} holdout rows; a paired bootstrap needs at least 30" if rows < 30 else None
    disagreements = numbers["challenger_only_right"] + numbers["champion_only_right"]
    if disagreements == 0:
        return None  # the same predictions: no difference to decide on
    if 0.5 ** disagreements >= gate.gate_alpha:
        return (f"the models disagree on {disagreements} of {rows} holdout rows; even if the challenger were right on "
                f"all of them, p = {0.5 ** disagreements:.3g} would not be below {gate.gate_alpha}")
    return None


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, and every reason that says so (or why not)."""

    retrain: bool
    reasons: list[str]


def decide_retrain(drift_status: str, live: LivePerformance, force: bool, max_live_drop: float) -> RetrainDecision:
    """Retrain on material drift, on a live-performance drop past the threshold, or when forced."""
    reasons = []
    if force:
        reasons.append("forced by parameter")
    if drift_status == "drift":
        reasons.append("material drift against the champion's reference")
    if live.status == "ok" and live.drop > max_live_drop:
        reasons.append(f"live {live.metric} is worse than at registration by {live.drop:.4f} "
                       f"(threshold {max_live_drop})")
    return RetrainDecision(bool(reasons), reasons or ["no material drift and no performance drop"])
