"""A/B tests between the champion and another version: create one (its sample size planned up front), see how
it stands, conclude it at its horizon (a winner that beats the champion by the margin is promoted through the
registry's compare-and-set, with the test's numbers in the alias history). Creating and concluding need the
``operate`` scope; reading never writes, and the assignment salt never leaves the server (a client that knew it
could choose students that all land in one arm)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from pymongo.errors import DuplicateKeyError

from api.auth import Operator, require
from api.schemas import ConcludeRequest
from infra.storage import Db
from tasks.alerting.store import raise_alert
from tasks.promotion.store import promote
from tasks.registry.store import find_champion, find_version, get_version, load_reference
from tasks.serving.abtest import (
    ab_invalid_alert,
    compare_arms,
    compare_paired,
    conclude,
    looser_than_policy,
    outcomes_by_arm,
    paired_outcomes,
    sample_ratio_check,
    sample_size_means,
    sample_size_proportions,
    shadow_sample_size,
)
from tasks.serving.params import ABTestParams
from tasks.serving.store import create_test, get_test, labels_for, list_tests, served_predictions, update_test
from validation.contracts import TARGETS, LabelRule

router = APIRouter(prefix="/ab-tests", tags=["A/B tests"])


def plan(db: Db, name: str, version_a: int, params: ABTestParams) -> tuple[str, float, int]:
    """The metric, the baseline it starts from (A's test accuracy, or the spread of A's absolute errors on its
    held-out data) and the units needed per arm in a split test."""
    model = get_version(db, name, version_a)
    metric = model.spec.live_metric
    if model.spec.classifies:
        accuracy = model.test_metric(metric)
        return metric, accuracy, sample_size_proportions(accuracy, params.mde, params.alpha, params.power)
    reference = load_reference(db, name, version_a)
    spread = float((reference["prediction"] - reference[name]).abs().std())
    return metric, spread, sample_size_means(spread, params.mde, params.alpha, params.power)


def measured_disagreement(db: Db, name: str, version_a: int, version_b: int) -> float:
    """The share of A's held-out reference students on which A's and B's predicted classes differ (B may have
    trained on some of them, so this can understate it: the plan takes at least 5%)."""
    from tasks.registry.store import load_model
    from validation.contracts import model_inputs

    reference = load_reference(db, name, version_a).dropna(subset=["prediction"])
    model_b = load_model(db, name, version=version_b)
    predicted_b = model_b.predict(model_inputs(model_b, reference))
    return max(0.05, float((predicted_b.astype(int) != reference["prediction"].astype(int)).mean()))


def plan_shadow(db: Db, name: str, version_a: int, version_b: int, params: ABTestParams, classifies: bool,
                baseline: float) -> dict:
    """A shadow test's plan: labelled students in all for the paired comparison, from the arms' disagreement
    (given, or measured on A's held-out rows); regression plans the paired bootstrap as a paired t-test whose
    differences spread like A's absolute errors."""
    if not classifies:
        return {"n_per_arm": max(30, sample_size_means(baseline, params.mde, params.alpha, params.power) // 2),
                "disagreement": None}
    disagreement = params.disagreement or measured_disagreement(db, name, version_a, version_b)
    try:
        n = shadow_sample_size(params.mde, disagreement, params.alpha, params.power)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"n_per_arm": n, "disagreement": disagreement,
            "disagreement_source": "given" if params.disagreement else "measured on A's held-out students"}


@router.post("", status_code=201, responses={404: {"description": "no such version"},
                                              409: {"description": "a test is already running for this model"}})
def create(params: ABTestParams, request: Request, caller: Operator) -> dict:
    """Start a test: version B against version A (the champion unless given), sample size planned now."""
    state = request.app.state.serving
    db = state.db()
    name = TARGETS[params.problem]
    champion = find_champion(db, name)
    version_a = params.version_a or (champion and champion.version)
    if version_a is None:
        raise HTTPException(409, f"model {name!r} has no champion yet: run python flows/main.py first")
    arms = [find_version(db, name, version) for version in (version_a, params.version_b)]
    for version, found_version in zip((version_a, params.version_b), arms, strict=True):
        if found_version is None:
            raise HTTPException(404, f"model {name!r} has no version {version}")
    if version_a == params.version_b:
        raise HTTPException(422, "version A and version B are the same version")
    policy = state.settings
    looser = looser_than_policy(params, arms[0].spec.classifies, policy.ab_max_alpha, policy.ab_min_power,
                                policy.ab_min_margin, policy.ab_max_mde)
    if looser:
        raise HTTPException(422, "the test asks for looser thresholds than the server allows: " + "; ".join(looser)
                                 + " (PIPELINE_AB_* settings)")
    if arms[0].label_rule != arms[1].label_rule:
        raise HTTPException(409, f"v{version_a} answers '{arms[0].label_rule.text}' and v{params.version_b} "
                                 f"'{arms[1].label_rule.text}': versions trained for different label rules are "
                                 "never compared")
    mismatch = arms[1].inputs_missing_from(arms[0].contract)  # requests carry A's inputs: B must read them
    if mismatch:
        raise HTTPException(409, f"{mismatch}; an A/B test's arms answer the same requests, so B may not need inputs "
                                 f"v{version_a} does not have")
    metric, baseline, n_per_arm = plan(db, name, version_a, params)
    design = {"mode": "split", "split_n_per_arm": n_per_arm}
    if params.mode == "shadow":  # every student in both arms: n_per_arm is the labelled students in all
        design = {"mode": "shadow", "split_n_per_arm": n_per_arm,
                  **plan_shadow(db, name, version_a, params.version_b, params, arms[0].spec.classifies, baseline)}
        n_per_arm = design.pop("n_per_arm")
    test = {"test_id": uuid.uuid4().hex[:12], "name": params.name, "model": name, "problem": params.problem,
            "metric": metric, "arms": {"A": {"version": version_a}, "B": {"version": params.version_b}},
            "split": params.split, "salt": uuid.uuid4().hex, "mde": params.mde, "alpha": params.alpha,
            "power": params.power, "margin": params.margin, "baseline": baseline, "n_per_arm": n_per_arm, **design,
            "state": "running", "created_at": datetime.now(UTC), "result": None,
            "label_rule": arms[0].label_rule.as_dict(), "created_by": caller.who}
    try:
        created = create_test(db, test)
    except DuplicateKeyError:
        raise HTTPException(409, f"a test is already running for model {name!r}: conclude it first") from None
    state.wait_for(lambda snapshot: snapshot.tests.get(name, {}).get("test_id") == test["test_id"], timeout_s=10)
    return public(created)


def public(test: dict) -> dict:
    """A test as clients see it: everything but the assignment salt."""
    return {key: value for key, value in test.items() if key != "salt"}


@router.get("", dependencies=[Depends(require("read"))])
def index(request: Request) -> list[dict]:
    """Every test, newest first."""
    return [public(test) for test in list_tests(request.app.state.serving.db())]


def standing(db: Db, test: dict) -> dict:
    """How a test stands now: units served and labelled per arm, the sample-ratio check, the estimate with its
    interval, and whether the planned horizon is reached."""
    served = served_predictions(db, test["test_id"])
    labels = labels_for(db, served["student_id"].drop_duplicates().tolist(), test["model"],
                        LabelRule.from_dict(test.get("label_rule")))
    units = {arm: int((served["arm"] == arm).sum()) for arm in ("A", "B")}
    if test.get("mode") == "shadow":  # the same students in both arms: compared pairwise, no split to check
        values_a, values_b = paired_outcomes(served, labels, test["model"], test["metric"])
        return {"served": units, "labelled": {"A": len(values_a), "B": len(values_b)},
                "sample_ratio": {"valid": True, "p_value": 1.0, "method": "none: a shadow test scores every student "
                                 "with both arms"},
                "estimate": compare_paired(values_a, values_b, test["metric"], test["alpha"]),
                "horizon_reached": len(values_a) >= test["n_per_arm"]}
    outcomes = outcomes_by_arm(served, labels, test["model"], test["metric"])
    ratio = sample_ratio_check(units["A"], units["B"], test["split"])
    return {"served": units, "labelled": {arm: outcomes[arm].n for arm in ("A", "B")}, "sample_ratio": ratio,
            "estimate": compare_arms(outcomes["A"], outcomes["B"], test["metric"], test["alpha"]),
            "horizon_reached": min(outcomes["A"].n, outcomes["B"].n) >= test["n_per_arm"]}


def found(db: Db, test_id: str) -> dict:
    """The test, or 404."""
    test = get_test(db, test_id)
    if test is None:
        raise HTTPException(404, f"no A/B test {test_id!r}")
    return test


@router.get("/{test_id}", responses={404: {"description": "no such test"}}, dependencies=[Depends(require("read"))])
def show(test_id: str, request: Request) -> dict:
    """A test and how it stands now (computed; a GET changes nothing: a sample-ratio mismatch is shown here and
    acted on when the test is concluded)."""
    db = request.app.state.serving.db()
    test = found(db, test_id)
    return {**public(test), **standing(db, test)}


@router.post("/{test_id}/conclude", responses={404: {"description": "no such test"},
                                               409: {"description": "before the horizon (unless forced), or over"}})
def conclude_test(test_id: str, body: ConcludeRequest, request: Request,
                  caller: Operator) -> dict:
    """Conclude at the horizon (or, forced, before it): name the winner, promote B if it beats the champion
    significantly and by the margin, record why either way, and stop routing. A test whose arms do not match its
    split is marked invalid (with an alert) and promotes nothing."""
    state = request.app.state.serving
    db = state.db()
    test = found(db, test_id)
    if test["state"] not in ("running", "invalid"):
        raise HTTPException(409, f"test {test_id!r} is already {test['state']}")
    now = standing(db, test)
    if test["state"] == "running" and not now["sample_ratio"]["valid"]:
        invalid = update_test(db, test_id, "running", {"state": "invalid", "invalid_at": datetime.now(UTC),
                                                       "invalid_reason": "sample-ratio mismatch"})
        if invalid is not None:
            test = invalid
            raise_alert(db, ab_invalid_alert(test, now["sample_ratio"]))
    if not now["horizon_reached"] and not body.force:
        raise HTTPException(409, f"the horizon is not reached: {now['labelled']} labelled units of "
                                 f"{test['n_per_arm']} per arm; pass force=true for an early look (labelled as "
                                 "such, at half the significance level)")
    champion = find_champion(db, test["model"])
    version_a, version_b = test["arms"]["A"]["version"], test["arms"]["B"]["version"]
    b_is_challenger = champion is not None and champion.version == version_a
    verdict = conclude(now["estimate"], now["sample_ratio"], now["horizon_reached"], test["alpha"], test["margin"],
                       b_is_challenger)
    applied, reason = False, verdict.reason
    if verdict.promote:
        applied = promote(db, test["model"], version_a, version_b, f"A/B test {test_id}: {verdict.reason}",
                          {**verdict.numbers, "ab_test": test_id}, by=f"ab-test:{test_id} ({caller.who})")
        if not applied:
            reason += "; not applied: the champion changed meanwhile"
    result = {"winner": verdict.winner, "promoted": applied, "reason": reason, "numbers": verdict.numbers,
              "forced": body.force and not now["horizon_reached"], "by": caller.who}
    updated = update_test(db, test_id, test["state"], {"state": "concluded", "result": result, "standing": now,
                                                       "concluded_at": datetime.now(UTC)})
    if updated is None:
        raise HTTPException(409, f"test {test_id!r} was concluded by someone else meanwhile")
    state.wait_for(lambda snapshot: test["model"] not in snapshot.tests or
                   snapshot.tests[test["model"]]["test_id"] != test_id, timeout_s=10)
    return {**public(updated), **now}
