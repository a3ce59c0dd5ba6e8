"""Writing promotion decisions: the gate's verdict becomes one compare-and-set of the champion pointer."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from pymongo.client_session import ClientSession
from prefect.cache_policies import NO_CACHE

from infra.artifacts import publish_markdown
from infra.collections import EVALUATIONS, MODELS, ensure_indexes
from infra.retry import DB_RETRIES, retry_on_transient
from infra.storage import get_database
from tasks.dataset import TrainingData
from tasks.promotion import GateSettings, should_promote
from tasks.registry import (
    CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, ModelNotFoundError, change_aliases, compare_and_set, get_alias, load_model,
)


def move_alias(db, session: ClientSession | None, name: str, alias: str, version: int, reason: str, numbers: dict,
               by: str) -> bool:
    """Point ``alias`` at ``version`` with compare-and-set against what it points at now."""
    current = get_alias(db, name, alias, session)
    if current and current["version"] == version:
        return True
    return compare_and_set(db, session, name, alias, version, current and current["version"], reason, numbers, by)


def promote(db, name: str, champion_version: int, challenger_version: int, reason: str, numbers: dict,
            by: str) -> bool:
    """Champion <- challenger only if the champion is still ``champion_version``, and previous_champion <- the
    old one: one transaction, so the two pointers and their history never disagree."""
    def change(session: ClientSession | None) -> bool:
        won = compare_and_set(db, session, name, CHAMPION, challenger_version, champion_version, reason, numbers, by)
        if won:
            move_alias(db, session, name, PREVIOUS_CHAMPION, champion_version, f"replaced by v{challenger_version}",
                       numbers, by)
        return won

    return change_aliases(db, change)


def rollback(db, name: str, by: str) -> dict:
    """Move the champion back to the previous champion (and remember the one rolled back), in one transaction."""
    champion, previous = get_alias(db, name, CHAMPION), get_alias(db, name, PREVIOUS_CHAMPION)
    if champion is None or previous is None:
        raise ModelNotFoundError(f"model {name!r} has no previous champion to roll back to")

    def change(session: ClientSession | None) -> bool:
        won = compare_and_set(db, session, name, CHAMPION, previous["version"], champion["version"],
                              f"rollback from v{champion['version']}", {}, by)
        if won:
            move_alias(db, session, name, PREVIOUS_CHAMPION, champion["version"], "rolled back", {}, by)
        return won

    won = change_aliases(db, change)
    return {"rolled_back": won, "champion": previous["version"] if won else champion["version"],
            "from": champion["version"]}


@task(name="promotion-gate", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def promotion_gate(name: str, challenger_version: int, data: TrainingData, settings: GateSettings, batch_id: str,
                   by: str) -> dict:
    """Score champion and challenger on the same recent holdout, decide, and apply the decision atomically."""
    db = get_database()
    ensure_indexes(db, [EVALUATIONS])
    champion = get_alias(db, name, CHAMPION)
    if champion is None:
        raise ModelNotFoundError(f"model {name!r} has no champion to compare with")
    X, y = data.X["test"], data.y["test"]
    champion_pred = load_model(db, name, version=champion["version"]).predict(X)
    challenger_pred = load_model(db, name, version=challenger_version).predict(X)
    decision = should_promote(data.problem, y, champion_pred, challenger_pred, settings)
    change_aliases(db, lambda session: move_alias(db, session, name, CHALLENGER, challenger_version,
                                                  "latest challenger", decision.numbers, by))
    applied = False
    reason = decision.reason
    if decision.promote:
        applied = promote(db, name, champion["version"], challenger_version, decision.reason, decision.numbers, by)
        if not applied:
            reason += "; not applied: another run changed the champion first"
    record = {"name": name, "at": datetime.now(UTC), "batch_id": batch_id, "champion_version": champion["version"],
              "challenger_version": challenger_version, "promote": decision.promote, "applied": applied,
              "reason": reason, "numbers": decision.numbers, "holdout_ids": data.split_ids["test"], "by": by}
    db[EVALUATIONS].insert_one(record)
    challenger_doc = db[MODELS].find_one({"name": name, "version": challenger_version}, {"algorithm": 1})
    publish_markdown("promotion-decision", "\n".join([
        f"# Promotion decision: {name}", "",
        f"Champion v{champion['version']} vs challenger v{challenger_version} ({challenger_doc['algorithm']}) on "
        f"{decision.numbers['rows']} recent holdout rows neither trained on.", "",
        f"**{'PROMOTED' if applied else 'kept the champion'}**: {reason}", "",
        "| number | value |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in decision.numbers.items()),
    ]), f"Promotion decision for {name}")
    return {"promote": decision.promote, "applied": applied, "reason": reason, "numbers": decision.numbers,
            "champion_before": champion["version"], "challenger": challenger_version,
            "champion_after": challenger_version if applied else champion["version"]}
