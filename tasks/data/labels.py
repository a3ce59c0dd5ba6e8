"""The labels of a batch that was scored without them (pure): the generator's labeled twin (the same seed,
size and knobs give the same students, now with their outcomes), or the scored records joined with outcomes
posted to the prediction service's ``POST /feedback``.

Retraining on the drifted batch's own labels (``flows/retrain.py --labels-for BATCH_ID``, and the drift event's
trigger) measures and retrains on the world that drifted, not on an unrelated fresh batch.
"""

from __future__ import annotations

import hashlib
import json

from infra.errors import UserError
from tasks.data.synthetic import DriftKnobs


class LabelsNotFoundError(UserError, LookupError):
    """The batch is unknown, or no labels for its students are known yet."""


def generator_twin(source: dict) -> tuple[int, int, DriftKnobs] | None:
    """(students, seed, knobs) of a generated batch's labeled twin; None when the batch was not generated."""
    if source.get("type") != "generator":
        return None
    return int(source["students"]), int(source["seed"]), DriftKnobs(**source.get("drift", {}))


def attach_labels(batch_id: str, records: list[dict], outcomes: dict[int, dict]) -> tuple[str, list[dict], dict]:
    """The batch's records that have a usable outcome, labeled: (labels batch id, records, counts).

    A labeled record needs ``final_score`` (the batch's label rule makes the class from it, whatever class was
    posted beside it); an outcome with ``high_performer`` alone cannot make one. The id carries a hash of the
    labels, so labels posted later make a new batch instead of being mistaken for ones already ingested."""
    labeled, only_class = [], 0
    for record in records:
        outcome = outcomes.get(record.get("student_id"))
        if outcome is None:
            continue
        if outcome.get("final_score") is None:
            only_class += 1
            continue
        labeled.append({**record, "final_score": outcome["final_score"]})
    counts = {"records": len(records), "labeled": len(labeled), "no_outcome": len(records) - len(labeled) - only_class,
              "high_performer_only": only_class}
    if not labeled:
        raise LabelsNotFoundError(
            f"no labels for batch {batch_id!r} yet: none of its {len(records)} students has a final_score posted "
            f"({only_class} have high_performer only). Post outcomes to the prediction service's POST /feedback "
            "(student_id, final_score) and run again")
    digest = hashlib.sha256(json.dumps([(r["student_id"], r["final_score"]) for r in labeled])
                            .encode()).hexdigest()[:8]
    return f"labels-{batch_id}-{digest}", labeled, counts
