"""A/B tests between two model versions (pure): sticky assignment, the sample size planned up front, the
sample-ratio check, the current estimate with its interval, and the fixed-horizon conclusion.

Two designs. *Split* (the default): each student is answered by one arm, the arms are compared as two
independent samples; use it when the prediction changes what happens to the student (an adviser calls the
flagged ones), since only then does each arm's answer meet the world. *Shadow*: every student is answered by A
and also scored by B (B's prediction is logged, never returned), and the arms are compared pairwise on the same
students: the exact McNemar test on the students exactly one arm got right (accuracy), or a paired bootstrap of
the absolute errors (MAE). Two models trained on the same features disagree on few students, and only those
carry evidence, so a pairwise comparison needs several times fewer labelled students than a split one
(``shadow_sample_size`` against ``sample_size_proportions``); it is valid only when B's answer would not have
changed the outcome it is judged on.

The design (docs/statistics.md, "A/B tests"): a unit (a student) is assigned by sha256(salt + ":" + id), so it
always sees the same arm; the sample size per arm is computed before the test starts; a chi-square test on the
arms' unit counts flags a broken split (p < 0.001: the test is invalid and cannot promote); at the horizon, a
two-proportion z-test (accuracy) or a Welch t-test on absolute error (regression) names the winner; a look before
the horizon has to be forced, is labelled so, and is held to half the significance level. Only a winner that is
the challenger, better by at least the margin, in a valid test, replaces the champion.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from tasks.alerting.alerts import Alert

BUCKETS = 10_000


def looser_than_policy(params, classifies: bool, max_alpha: float, min_power: float, min_margin: float,
                       max_mde: float) -> list[str]:
    """What a test's requested thresholds loosen against the server's policy (a client may ask for stricter, never
    looser): each problem in words, none when the request is within the policy."""
    problems = []
    if params.alpha > max_alpha:
        problems.append(f"alpha {params.alpha:g} is looser than the server's {max_alpha:g}")
    if params.power < min_power:
        problems.append(f"power {params.power:g} is below the server's {min_power:g}")
    if params.margin < min_margin:
        problems.append(f"margin {params.margin:g} is below the server's {min_margin:g}")
    if classifies and params.mde > max_mde:
        problems.append(f"mde {params.mde:g} is beyond the server's {max_mde:g} (a test planned for so large a "
                        "difference is too small to decide anything)")
    return problems


def assign_arm(salt: str, unit: int | str, split: float) -> str:
    """``"B"`` when sha256(salt:unit) falls in the first ``split`` of 10,000 buckets, else ``"A"``; sticky."""
    bucket = int.from_bytes(hashlib.sha256(f"{salt}:{unit}".encode()).digest()[:8], "big") % BUCKETS
    return "B" if bucket < split * BUCKETS else "A"


def sample_size_proportions(p_a: float, mde: float, alpha: float, power: float) -> int:
    """Units per arm to detect accuracy ``p_a`` -> ``p_a + mde`` with a two-sided two-proportion z-test."""
    p_b = min(max(p_a + mde, 1e-6), 1 - 1e-6)
    p_bar = (p_a + p_b) / 2
    z_alpha, z_beta = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    n = (z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) + z_beta * math.sqrt(p_a * (1 - p_a) + p_b * (1 - p_b))) ** 2
    return math.ceil(n / (p_b - p_a) ** 2)


def sample_size_means(sd: float, mde: float, alpha: float, power: float) -> int:
    """Units per arm to detect a difference ``mde`` in mean absolute error whose spread is ``sd``."""
    z_alpha, z_beta = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    return math.ceil(2 * ((z_alpha + z_beta) * sd / mde) ** 2)


SRM_ALPHA = 0.001  # the chance a healthy test is ever marked invalid, however often it is looked at
SRM_CONCENTRATION = 100.0  # the mixture's prior weight (in units): how far from the split it looks first


def sample_ratio_check(units_a: int, units_b: int, split: float, alpha: float = SRM_ALPHA,
                       concentration: float = SRM_CONCENTRATION) -> dict:
    """An anytime-valid sample-ratio check: the mixture sequential probability ratio test of Lindon & Malek (2022)
    for multinomial counts, here two arms. The Bayes factor of a Beta(c(1 - split), c split) mixture against the
    planned split is a martingale while the split holds, so by Ville's inequality the chance that it ever reaches
    1 / alpha is at most alpha, whether the test is looked at once or after every unit (a chi-square test at
    p < 0.001 on every look would be wrong about 20 times as often). ``p_value`` is 1 / the Bayes factor (capped at
    1); the plain chi-square p-value is kept for reference."""
    total = units_a + units_b
    if total == 0:
        return {"p_value": 1.0, "bayes_factor": 1.0, "chi_square_p": 1.0, "valid": True, "observed_b_share": None,
                "method": "mSPRT", "alpha": alpha}
    prior_a, prior_b = concentration * (1 - split), concentration * split
    log_bf = float(special.betaln(prior_a + units_a, prior_b + units_b) - special.betaln(prior_a, prior_b)
                   - units_a * math.log(1 - split) - units_b * math.log(split))
    expected = np.array([total * (1 - split), total * split])
    _, chi_p = stats.chisquare([units_a, units_b], expected)
    return {"p_value": float(min(1.0, math.exp(-log_bf))), "bayes_factor": float(math.exp(min(log_bf, 700))),
            "chi_square_p": float(chi_p), "valid": bool(log_bf < math.log(1 / alpha)),
            "observed_b_share": units_b / total, "method": "mSPRT", "alpha": alpha}


def srm_log_bayes_factors(units_b: np.ndarray, totals: np.ndarray, split: float,
                          concentration: float = SRM_CONCENTRATION) -> np.ndarray:
    """The check's log Bayes factors for many (B units, total units) at once (the simulation's fast path)."""
    prior_a, prior_b = concentration * (1 - split), concentration * split
    units_a = totals - units_b
    return (special.betaln(prior_a + units_a, prior_b + units_b) - special.betaln(prior_a, prior_b)
            - units_a * math.log(1 - split) - units_b * math.log(split))


def mcnemar_power(discordant: int, p_b: float, alpha: float) -> float:
    """The two-sided exact McNemar test's power with ``discordant`` students exactly one arm got right, of whom B
    gets a share ``p_b`` (0.5: no difference)."""
    k = np.arange(discordant + 1)
    null = stats.binom.pmf(k, discordant, 0.5)
    upper = np.cumsum(null[::-1])[::-1]  # P(X >= k)
    lower = np.cumsum(null)  # P(X <= k)
    reject = (np.minimum(1.0, 2 * np.minimum(upper, lower)) < alpha)
    return float(stats.binom.pmf(k[reject], discordant, p_b).sum())


def shadow_sample_size(mde: float, disagreement: float, alpha: float, power: float) -> int:
    """Labelled students in all (each scored by both arms) for the two-sided exact McNemar test to find B better
    by ``mde`` in accuracy with probability ``power``, when the arms disagree on a share ``disagreement`` of
    students: B is right on a share 1/2 + mde / (2 disagreement) of the discordant ones. The fewest discordant
    students whose exact power (and every larger count's, up to the normal approximation's size) reaches
    ``power``, over the disagreement rate."""
    if not 0 < mde <= disagreement:
        raise ValueError(f"a shadow test cannot show a difference of {mde:g} when the arms disagree on only "
                         f"{disagreement:.0%} of students (the difference is at most the disagreement)")
    p_b = 0.5 + mde / (2 * disagreement)
    z_alpha, z_beta = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    approximate = math.ceil(((z_alpha * 0.5 + z_beta * math.sqrt(p_b * (1 - p_b))) / (p_b - 0.5)) ** 2)
    # the exact power saw-tooths in the count: take the first count from which it stays above ``power``
    counts = range(max(2, approximate // 2), 2 * approximate + 20)
    powers = [mcnemar_power(m, p_b, alpha) for m in counts]
    needed = next(m for i, m in enumerate(counts) if all(p >= power for p in powers[i:i + 10]))
    return math.ceil(needed / disagreement)


def compare_paired(values_a: np.ndarray, values_b: np.ndarray, metric: str, alpha: float,
                   samples: int = 4000, seed: int = 0) -> dict:
    """B against A on the same students (B better is positive): ``accuracy`` from each student's right/wrong per
    arm, by the exact two-sided McNemar test (the difference and a Wald interval of the paired differences);
    ``mae`` from each student's absolute error per arm, by a paired bootstrap of A - B (percentile interval,
    two-sided p-value from the bootstrap distribution)."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    n = len(a)
    base = {"metric": metric, "a": float(a.mean()) if n else None, "b": float(b.mean()) if n else None,
            "n_a": n, "n_b": n, "design": "shadow"}
    if n < 2:
        return {**base, "difference": None, "ci_low": None, "ci_high": None, "p_value": None}
    z = stats.norm.ppf(1 - alpha / 2)
    if metric == "accuracy":
        only_b, only_a = int(((b == 1) & (a == 0)).sum()), int(((a == 1) & (b == 0)).sum())
        paired = b - a
        difference = float(paired.mean())
        p_value = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_b, only_a + only_b, 0.5).pvalue)
        se = float(paired.std(ddof=1) / math.sqrt(n))
        return {**base, "difference": difference, "ci_low": difference - z * se, "ci_high": difference + z * se,
                "p_value": p_value, "b_only_right": only_b, "a_only_right": only_a}
    paired = a - b  # absolute errors: lower is better
    rng = np.random.default_rng(seed)
    means = paired[rng.integers(0, n, size=(samples, n))].mean(axis=1)
    p_value = float(min(1.0, 2 * min((means <= 0).mean(), (means >= 0).mean())))
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return {**base, "difference": float(paired.mean()), "ci_low": float(low), "ci_high": float(high),
            "p_value": p_value}


def paired_outcomes(served, labels, target: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """A shadow test's students scored by both arms and labelled: per student, each arm's right/wrong (accuracy)
    or absolute error (mae), in the same order."""
    joined = served.astype({"student_id": "int64"}).merge(labels.astype({"student_id": "int64"}), on="student_id")
    wide = joined.pivot_table(index="student_id", columns="arm", values="prediction", aggfunc="first")
    wide = wide.dropna(subset=[arm for arm in ("A", "B") if arm in wide.columns])
    if not {"A", "B"} <= set(wide.columns):
        return np.array([]), np.array([])
    truth = joined.drop_duplicates("student_id").set_index("student_id").loc[wide.index, target]
    if metric == "accuracy":
        return ((wide["A"].astype(int) == truth.astype(int)).to_numpy(dtype=float),
                (wide["B"].astype(int) == truth.astype(int)).to_numpy(dtype=float))
    return ((wide["A"].astype(float) - truth.astype(float)).abs().to_numpy(),
            (wide["B"].astype(float) - truth.astype(float)).abs().to_numpy())


@dataclass(frozen=True)
class ArmOutcomes:
    """What one arm's labelled units say: per unit, correct or not (classification) or the absolute error."""

    values: np.ndarray

    @property
    def n(self) -> int:
        """Labelled units."""
        return len(self.values)

    @property
    def mean(self) -> float | None:
        """Accuracy, or mean absolute error (None before any unit is labelled)."""
        return float(self.values.mean()) if self.n else None


def compare_arms(a: ArmOutcomes, b: ArmOutcomes, metric: str, alpha: float) -> dict:
    """B against A: the difference (B better is positive), its confidence interval and the two-sided p-value.

    ``accuracy``: two-proportion z-test (pooled for the p-value, unpooled for the interval).
    ``mae``: Welch's t-test on absolute errors (lower is better, so the difference is A - B)."""
    if a.n < 2 or b.n < 2:
        return {"metric": metric, "a": a.mean, "b": b.mean, "difference": None, "ci_low": None, "ci_high": None,
                "p_value": None, "n_a": a.n, "n_b": b.n}
    z = stats.norm.ppf(1 - alpha / 2)
    if metric == "accuracy":
        p_a, p_b = a.mean, b.mean
        difference = p_b - p_a
        pooled = (p_a * a.n + p_b * b.n) / (a.n + b.n)
        se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / a.n + 1 / b.n))
        p_value = 1.0 if se_pooled == 0 else float(2 * stats.norm.sf(abs(difference) / se_pooled))
        se = math.sqrt(p_a * (1 - p_a) / a.n + p_b * (1 - p_b) / b.n)
    else:
        difference = a.mean - b.mean
        result = stats.ttest_ind(a.values, b.values, equal_var=False)
        p_value = 1.0 if np.isnan(result.pvalue) else float(result.pvalue)
        se = math.sqrt(a.values.var(ddof=1) / a.n + b.values.var(ddof=1) / b.n)
    return {"metric": metric, "a": a.mean, "b": b.mean, "difference": difference, "ci_low": difference - z * se,
            "ci_high": difference + z * se, "p_value": p_value, "n_a": a.n, "n_b": b.n}


@dataclass(frozen=True)
class Conclusion:
    """A test's verdict: the winner (or none), whether B replaces the champion, why, and the numbers."""

    winner: str | None
    promote: bool
    reason: str
    numbers: dict


def conclude(comparison: dict, ratio: dict, horizon_reached: bool, alpha: float, margin: float,
             b_is_challenger: bool) -> Conclusion:
    """The fixed-horizon decision. The winner is the arm that is significantly better (two-sided, at ``alpha``,
    halved for a forced look before the horizon); B replaces the champion only when the test is valid, B won,
    B is the challenger, and B is better by at least ``margin``."""
    early = not horizon_reached
    level = alpha / 2 if early else alpha
    numbers = {**comparison, "alpha_used": level, "forced_early_look": early, "sample_ratio": ratio}
    label = " (a forced look before the horizon, at half the significance level)" if early else ""
    if not ratio["valid"]:
        return Conclusion(None, False, f"invalid test: the arms' sizes do not match the split (sample-ratio p = "
                                       f"{ratio['p_value']:.2g}); no winner, nothing is promoted{label}", numbers)
    if comparison["p_value"] is None:
        return Conclusion(None, False, f"not enough labelled units to compare the arms{label}", numbers)
    difference, p_value, metric = comparison["difference"], comparison["p_value"], comparison["metric"]
    if p_value >= level:
        return Conclusion(None, False, f"no winner: the difference {difference:+.4f} ({metric}) is not significant "
                                       f"(p = {p_value:.3g} >= {level}); the champion stays{label}", numbers)
    if difference < 0:
        return Conclusion("A", False, f"A wins by {-difference:.4f} ({metric}, p = {p_value:.3g}); the champion "
                                      f"stays{label}", numbers)
    if not b_is_challenger:
        return Conclusion("B", False, f"B wins by {difference:.4f} ({metric}, p = {p_value:.3g}), but A is not the "
                                      f"champion, so nothing is promoted{label}", numbers)
    if difference < margin:
        return Conclusion("B", False, f"B wins by {difference:.4f} ({metric}, p = {p_value:.3g}), below the margin "
                                      f"{margin}: the champion stays{label}", numbers)
    return Conclusion("B", True, f"B wins by {difference:.4f} ({metric}, p = {p_value:.3g} < {level}, at least the "
                                 f"margin {margin}): B becomes champion{label}", numbers)


def route(student_ids: list[int], champion_version: int, test: dict | None) -> list[tuple[str | None, int]]:
    """The (arm, version) that answers each student: the champion, or the running test's sticky arm (a shadow
    test's A answers everyone; B is scored beside it, not routed)."""
    if test is None:
        return [(None, champion_version)] * len(student_ids)
    if test.get("mode") == "shadow":
        return [("A", test["arms"]["A"]["version"])] * len(student_ids)
    arms = []
    for student in student_ids:
        arm = assign_arm(test["salt"], student, test["split"])
        arms.append((arm, test["arms"][arm]["version"]))
    return arms


def outcomes_by_arm(served, labels, target: str, metric: str) -> dict[str, ArmOutcomes]:
    """Join each unit's served prediction with its true outcome: per arm, correct or not (accuracy) or the
    absolute error (mae). ``served``: student_id, arm, prediction; ``labels``: student_id, target."""
    joined = served.astype({"student_id": "int64"}).merge(labels.astype({"student_id": "int64"}), on="student_id")
    outcomes = {}
    for arm in ("A", "B"):
        part = joined[joined["arm"] == arm]
        if metric == "accuracy":
            values = (part["prediction"].astype(int) == part[target].astype(int)).to_numpy(dtype=float)
        else:
            values = (part["prediction"].astype(float) - part[target].astype(float)).abs().to_numpy()
        outcomes[arm] = ArmOutcomes(values)
    return outcomes


def ab_invalid_alert(test: dict, ratio: dict) -> Alert:
    """An A/B test whose arms do not match its split."""
    return Alert("ab_test_invalid", "critical", f"A/B test {test['test_id']} ({test['name']}) is invalid: its arms do "
                                                f"not match the {test['split']:.0%} split (sample-ratio p = "
                                                f"{ratio['p_value']:.2g}); it stopped routing and cannot promote",
                 {"test_id": test["test_id"], **ratio}, None, test["model"], test["arms"]["B"]["version"])
