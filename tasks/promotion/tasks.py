"""The promotion stage's Prefect tasks: the main flow's first champion, whether to retrain, the promotion gate
(decide on a shared holdout, then one atomic pointer move), and rollback. Decisions are pure
(``decisions.py``); these tasks read, decide, write and publish."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task

from infra.artifacts import publish_markdown
from infra.retry import DB_TASK
from infra.storage import get_database
from tasks.monitoring.results import LivePerformance
from tasks.promotion.decisions import RetrainDecision, choose_first_champion, decide_retrain, should_promote
from tasks.promotion.params import GateParams
from tasks.promotion.results import FirstChampion, GateOutcome, RolledBack
from tasks.promotion.store import move_alias, promote, record_evaluation, rollback
from tasks.registry.store import (
    CHALLENGER,
    CHAMPION,
    change_aliases,
    find_champion,
    get_champion,
    get_version,
    load_binary,
    set_alias,
)
from tasks.registry.tasks import flow_run_id
from tasks.training.dataset import TrainingData
from tasks.training.results import RegisteredModel
from validation.contracts import model_inputs


@task(name="promote-first-champion", **DB_TASK)
def promote_first_champion(name: str, registered: list[RegisteredModel], baseline_score: float,
                           problem: str, metric: str | None = None) -> FirstChampion:
    """Decide (pure) whether this run makes the first champion (by ``metric``, the problem's primary one unless the
    school chose another), then write the pointer if it does."""
    from tasks.training.evaluation import chosen_metric

    db = get_database()
    metric, higher = chosen_metric(problem, metric)
    current = find_champion(db, name)
    decision = choose_first_champion(registered, baseline_score, current and current.version, metric, higher)
    applied = False
    if decision.promote:
        applied = set_alias(db, name, CHAMPION, decision.version, None, decision.reason, decision.numbers,
                            by=f"flow-run:{flow_run_id()}")
    return FirstChampion(decision.promote, decision.version, decision.reason, applied, decision.numbers)


@task(name="decide-retrain")
def decide_retraining(drift_status: str, live: LivePerformance, force: bool, max_live_drop: float) -> RetrainDecision:
    """Whether the evidence (drift, a live-performance drop) or a parameter says to retrain."""
    return decide_retrain(drift_status, live, force, max_live_drop)


def gate_markdown(name: str, champion: int, challenger: int, algorithm: str, numbers: dict, applied: bool,
                  reason: str) -> str:
    """The promotion decision as a person reads it, with every number behind it."""
    return "\n".join([
        f"# Promotion decision: {name}", "",
        f"Champion v{champion} vs challenger v{challenger} ({algorithm}) on {numbers['rows']} recent holdout rows "
        "neither trained on.", "",
        f"**{'PROMOTED' if applied else 'kept the champion'}**: {reason}", "",
        "| number | value |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in numbers.items()),
    ])


@task(name="promotion-gate", **DB_TASK)
def promotion_gate(name: str, challenger_version: int, data: TrainingData, gate: GateParams, batch_id: str,
                   by: str) -> GateOutcome:
    """Score champion and challenger on the same recent holdout, decide, and apply the decision atomically."""
    db = get_database()
    champion, challenger = get_champion(db, name), get_version(db, name, challenger_version)
    incomparable = champion.inputs_missing_from(data.contract)
    if champion.label_rule != challenger.label_rule:
        incomparable = (f"the champion v{champion.version} answers '{champion.label_rule.text}', the challenger "
                        f"v{challenger_version} '{challenger.label_rule.text}'; versions trained for different label "
                        "rules are never compared (promote by hand if the question itself changed)")
    if incomparable:
        reason = f"not compared: {incomparable}"
        record_evaluation(db, {"name": name, "at": datetime.now(UTC), "batch_id": batch_id,
                               "champion_version": champion.version, "challenger_version": challenger_version,
                               "promote": False, "applied": False, "reason": reason, "numbers": {}, "by": by})
        publish_markdown("promotion-decision", f"# Promotion decision: {name}\n\n{reason}",
                         f"Promotion decision for {name}")
        return GateOutcome(False, False, reason, {}, champion.version, challenger_version, champion.version)
    X, y = data.X["test"], data.y["test"]
    champion_model, challenger_model = load_binary(db, champion), load_binary(db, challenger)
    champion_pred = champion_model.predict(model_inputs(champion_model, X))
    challenger_pred = challenger_model.predict(model_inputs(challenger_model, X))
    decision = should_promote(data.problem, y, champion_pred, challenger_pred, gate)
    change_aliases(db, lambda session: move_alias(db, session, name, CHALLENGER, challenger_version,
                                                  "latest challenger", decision.numbers, by))
    applied = False
    reason = decision.reason
    if decision.promote:
        applied = promote(db, name, champion.version, challenger_version, decision.reason, decision.numbers, by)
        if not applied:
            reason += "; not applied: another run changed the champion first"
    record_evaluation(db, {
        "name": name, "at": datetime.now(UTC), "batch_id": batch_id, "champion_version": champion.version,
        "challenger_version": challenger_version, "promote": decision.promote, "applied": applied, "reason": reason,
        "numbers": decision.numbers, "holdout_ids": data.split_ids["test"], "by": by})
    publish_markdown("promotion-decision", gate_markdown(name, champion.version, challenger_version,
                                                         challenger.algorithm, decision.numbers, applied, reason),
                     f"Promotion decision for {name}")
    return GateOutcome(decision.promote, applied, reason, decision.numbers, champion.version, challenger_version,
                       challenger_version if applied else champion.version)


@task(name="rollback-champion", **DB_TASK)
def rollback_champion(name: str) -> RolledBack:
    """Move the champion pointer back to the previous champion (compare-and-set, recorded in the history)."""
    result = rollback(get_database(), name, by="rollback")
    state = "done" if result.rolled_back else "not applied: the champion changed meanwhile"
    publish_markdown("rollback", f"# Rollback: {name}\n\nChampion v{result.from_version} -> v{result.champion} "
                                 f"({state}).", f"Rollback of {name}")
    return result
