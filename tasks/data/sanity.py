"""What looks wrong about a batch although every record passed its checks (pure): a school's export can be valid
record by record and still be misread as a whole. Reported on the batch, in the run summary and on the dashboard's
quality page; nothing is rejected for them.

- An unconverted scale: every grade (or every final score) at most 20 where 0..100 is expected.
- A label that is one class: nobody (or everybody) meets the batch's label rule.
- Likely dropouts: a final score of 0 with no recorded activity (no attendance, no study hours).
- Students without grades (new students: valid, their grade features are missing).
- Students already in earlier batches of a file source (next term's return is expected; one term's two files,
  say two subjects of one school, would count each student twice).
"""

from __future__ import annotations

from validation.contracts import LabelRule

SMALL_SCALE = 20  # a 0-20 (or 0-10) scale read as 0-100 keeps every value at or below this
MIN_VALUES = 20  # below this many values, a small maximum says nothing


def _most(values: list[float]) -> float:
    return max(values) if values else 0.0


def sanity_findings(records: list[dict], labeled: bool, label_rule: LabelRule) -> list[dict]:
    """Each finding: ``check``, a ``message`` that says what to do, and the ``numbers`` behind it."""
    found = []
    grades = [g for r in records for c in r.get("courses") or [] for g in c.get("grades") or []]
    if len(grades) >= MIN_VALUES and _most(grades) <= SMALL_SCALE:
        found.append({"check": "grade_scale", "numbers": {"grades": len(grades), "highest": _most(grades)},
                      "message": f"every one of {len(grades)} grades is at most {_most(grades):g} on a 0..100 scale: "
                                 "an unconverted 0-20 (or 0-10) scale? declare the source's scale in the mapping "
                                 "(grades.scale: [0, 20])"})
    ungraded = sum(1 for r in records if not any(c.get("grades") for c in r.get("courses") or []))
    if ungraded:
        found.append({"check": "no_grades", "numbers": {"students": ungraded, "of": len(records)},
                      "message": f"{ungraded} of {len(records)} students have no grades yet (new students): valid, "
                                 "their grade features are missing and the models predict from the rest"})
    if not labeled:
        return found
    scores = [r["final_score"] for r in records if isinstance(r.get("final_score"), int | float)]
    if len(scores) >= MIN_VALUES and _most(scores) <= SMALL_SCALE:
        found.append({"check": "score_scale", "numbers": {"scores": len(scores), "highest": _most(scores)},
                      "message": f"every one of {len(scores)} final scores is at most {_most(scores):g} on a 0..100 "
                                 "scale: an unconverted scale? declare it in the mapping (labels.score.scale)"})
    positive = sum(label_rule.applies(score) for score in scores)
    if scores and positive in (0, len(scores)):
        found.append({"check": "one_class", "numbers": {"scores": len(scores), "positive": positive},
                      "message": f"{'every' if positive else 'no'} student of {len(scores)} is '{label_rule.name}' "
                                 f"({label_rule.text}): a model cannot learn a one-class label; check the rule and "
                                 "the score's scale"})
    dropouts = [r["student_id"] for r in records if r.get("final_score") == 0 and not _active(r)]
    if dropouts:
        found.append({"check": "likely_dropouts", "numbers": {"students": len(dropouts), "first": dropouts[:5]},
                      "message": f"{len(dropouts)} student(s) have a final score of 0 and no recorded activity: "
                                 "likely dropouts, not failures; leave them out of the export, or expect them to "
                                 "teach the model that ability does not matter"})
    return found


def returning_finding(students: int, overlaps: dict[str, int]) -> list[dict]:
    """The students of a file's batch already in earlier batches (``overlaps``: batch id -> students), or nothing."""
    returning = max(overlaps.values(), default=0)
    if not returning:
        return []
    top = sorted(overlaps.items(), key=lambda item: -item[1])[:3]
    where = ", ".join(f"{batch}: {count}" for batch, count in top)
    return [{"check": "returning_students", "numbers": {"students": students, "batches": dict(top)},
             "message": f"{returning} of {students} students are already in an earlier batch ({where}): expected "
                        "when they come back for another term (each term is a row of its own); if it is the same "
                        "term (one school's two files), bring them in as one file, or each counts twice in training"}]


def _active(record: dict) -> bool:
    """Some attendance or study time on record."""
    study = record.get("study") or {}
    return bool(study.get("attendance_rate")) or bool(study.get("hours_per_week"))
