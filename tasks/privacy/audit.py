"""Who read a student's data, and when: their dashboard page, an export, an erasure. Append-only: no route edits
or deletes an entry (erasure blanks the student's id in it, retention drops old entries)."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.collections import AUDIT, ERASURES
from infra.storage import Db
from tasks.privacy.subject import ERASED, digest

ACTIONS = ("student page", "export", "erase", "find")


def record(db: Db, who: str, action: str, student_id: int | str, via: str) -> None:
    """Note that ``who`` did ``action`` on ``student_id`` (``"erased"`` once they are) through ``via``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audited action {action!r}")
    if isinstance(student_id, int) and db[ERASURES].find_one({"digest": digest(student_id)}, {"_id": 1}):
        student_id = ERASED  # asking after an erased student must not write their pseudonym back
    db[AUDIT].insert_one({"at": datetime.now(UTC), "who": who, "action": action, "student_id": student_id,
                          "via": via})


def entries(db: Db, student_id: int | None = None, limit: int = 200) -> list[dict]:
    """The newest entries (about ``student_id`` only, when given)."""
    query = {} if student_id is None else {"student_id": student_id}
    return list(db[AUDIT].find(query, {"_id": 0}).sort("at", -1).limit(limit))
