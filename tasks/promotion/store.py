"""Writing champion decisions: a verdict becomes one compare-and-set of the champion pointer, with the
previous champion remembered, in one transaction; rollback moves it back the same way."""

from __future__ import annotations

from pymongo.client_session import ClientSession

from infra.collections import EVALUATIONS, ensure_indexes
from infra.storage import Db
from tasks.promotion.results import RolledBack
from tasks.registry.store import (
    CHAMPION,
    PREVIOUS_CHAMPION,
    ModelNotFoundError,
    change_aliases,
    compare_and_set,
    get_alias,
)


def move_alias(db: Db, session: ClientSession | None, name: str, alias: str, version: int, reason: str, numbers: dict,
               by: str) -> bool:
    """Point ``alias`` at ``version`` with compare-and-set against what it points at now."""
    current = get_alias(db, name, alias, session)
    if current and current["version"] == version:
        return True
    return compare_and_set(db, session, name, alias, version, current and current["version"], reason, numbers, by)


def promote(db: Db, name: str, champion_version: int, challenger_version: int, reason: str, numbers: dict,
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


def rollback(db: Db, name: str, by: str) -> RolledBack:
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
    return RolledBack(name, won, previous["version"] if won else champion["version"], champion["version"])


def record_evaluation(db: Db, document: dict) -> None:
    """Keep a promotion gate's decision with the numbers behind it (``evaluations``)."""
    ensure_indexes(db, [EVALUATIONS])
    db[EVALUATIONS].insert_one(document)
