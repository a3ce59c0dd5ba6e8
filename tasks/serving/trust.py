"""Which logged predictions the monitors count (pure): live performance, A/B arms, per-group figures and drift on
served data measure only predictions that a trusted producer made on the school's own stored record of the student.

A prediction *counts* when either
- the scoring flow made it (it reads the batch's stored feature documents: the record is the school's by
  construction), or
- the service made it for a key with the ``official`` scope (the school's SIS integration, say) **and** the record
  the request carried gives exactly the features stored for that student in one of their batches (the record is
  the school's, not whatever the caller sent).

Every other prediction (no key, a ``predict`` key, an official key sending a record the store does not hold) is
answered and logged with who asked and why it does not count, and never measured. The rule lives here, once, as a
query (``COUNTED``) every reader of the log adds to its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tasks.serving.features import same_value

OFFICIAL = "official"

# Logged predictions that count. Documents logged before the rule (no ``counts`` field) count when the scoring flow
# made them (no ``source``: the service always wrote ``source: "api"``): the migration is this query, not a rewrite.
COUNTED: dict = {"$or": [{"counts": True}, {"counts": {"$exists": False}, "source": {"$ne": "api"}}]}

UNTRUSTED = "not an official producer (a key with the 'official' scope)"
NOT_STORED = "no stored record of this student"
DIFFERENT = "the record differs from every stored record of this student"
PINNED = "a version an operator asked for by number"


@dataclass(frozen=True)
class Provenance:
    """Whether one served prediction counts, and why not, or which stored batch its record matched."""

    counts: bool
    why: str | None = None
    record_batch: str | None = None

    def as_fields(self) -> dict:
        """The fields a prediction document carries."""
        if self.counts:
            return {"counts": True, "record_batch": self.record_batch}
        return {"counts": False, "not_counted": self.why}


def provenance(request: pd.DataFrame, stored: list[dict], features: list[str],
               official: set[int]) -> dict[int, Provenance]:
    """For each student of ``request`` (one row each, the features computed from what the caller sent): counted
    when the student's request was official and a stored feature row of that student (``stored``: student_id,
    batch_id, the features, as stored) has the same value for every one of ``features`` (numbers within the features'
    tolerance, missing equal to missing)."""
    by_student: dict[int, list[dict]] = {}
    for held in stored:
        by_student.setdefault(held["student_id"], []).append(held)
    out: dict[int, Provenance] = {}
    for row in request.to_dict(orient="records"):
        student = int(row["student_id"])
        if student not in official:
            out[student] = Provenance(False, UNTRUSTED)
            continue
        candidates = by_student.get(student)
        if candidates is None:
            out[student] = Provenance(False, NOT_STORED)
            continue
        match = next((held["batch_id"] for held in candidates
                      if all(same_value(row[name], held.get(name)) for name in features)), None)
        out[student] = Provenance(True, record_batch=match) if match is not None else Provenance(False, DIFFERENT)
    return out
