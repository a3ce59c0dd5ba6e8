"""What looks wrong about a batch although every record passed its checks (pure): a school's export can be valid
record by record and still be misread as a whole. Reported on the batch, in the run summary and on the dashboard's
quality page; nothing is rejected for them.

- An unconverted scale: every grade (or every final score) at most 20 where 0..100 is expected.
- A label that is one class: nobody (or everybody) meets the batch's label rule.
- Likely dropouts: a final score of 0 with no recorded activity (no attendance, no study hours).
- Other zero final scores: a 0 beside a record of study or grades during the term. A school's system often writes 0
  for "did not sit the final" or "left"; a real result of 0 out of 100 is rare.
- Students without grades (new students: valid, their grade features are missing).
- Students already in earlier batches of a file source (next term's return is expected; one term's two files,
  say two subjects of one school, would count each student twice).
"""

from __future__ import annotations

from validation.contracts import LabelRule

SMALL_SCALE = 20  # a 0-20 (or 0-10) scale read as 0-100 keeps every value at or below this
MIN_VALUES = 20  # below this many values, a small maximum says nothing


def sanity_findings(records: list[dict], labeled: bool, label_rule: LabelRule) -> list[dict]:
    """Each finding: ``check``, a ``message`` that says what to do, and the ``numbers`` behind it."""
    tally = SanityTally(labeled, label_rule)
    tally.add(records)
    return tally.findings()


class SanityTally:
    """What the findings need, counted a part of the batch at a time (a batch too large to hold is checked so)."""

    def __init__(self, labeled: bool, label_rule: LabelRule) -> None:
        self.labeled, self.label_rule = labeled, label_rule
        self.students = self.grades = self.ungraded = self.scores = self.positive = 0
        self.highest_grade = self.highest_score = 0.0
        self.dropouts = self.zeros = 0
        self.first_dropouts: list = []
        self.zero_grades: list[float] = []  # the term's mean grade of each active student scored 0

    def add(self, records: list[dict]) -> None:
        """Count the accepted records of one part."""
        self.students += len(records)
        for record in records:
            graded = False
            for course in record.get("courses") or []:
                grades = course.get("grades") or []
                if grades:
                    graded = True
                    self.grades += len(grades)
                    self.highest_grade = max(self.highest_grade, max(grades))
            self.ungraded += not graded
            if not self.labeled:
                continue
            score = record.get("final_score")
            if isinstance(score, int | float):
                self.scores += 1
                self.highest_score = max(self.highest_score, score)
                self.positive += self.label_rule.applies(score)
            if score == 0 and not _active(record):
                self.dropouts += 1
                if len(self.first_dropouts) < 5:
                    self.first_dropouts.append(record["student_id"])
            elif score == 0:
                self.zeros += 1
                grades = [g for course in record.get("courses") or [] for g in course.get("grades") or []]
                if grades:
                    self.zero_grades.append(sum(grades) / len(grades))

    def findings(self) -> list[dict]:
        """Each finding: ``check``, a ``message`` that says what to do, and the ``numbers`` behind it."""
        found = []
        grades, highest = self.grades, self.highest_grade
        if grades >= MIN_VALUES and highest <= SMALL_SCALE:
            found.append({"check": "grade_scale", "numbers": {"grades": grades, "highest": highest},
                          "message": f"every one of {grades} grades is at most {highest:g} on a 0..100 scale: an "
                                     "unconverted 0-20 (or 0-10) scale? declare the source's scale in the mapping "
                                     "(grades.scale: [0, 20])"})
        if self.ungraded:
            found.append({"check": "no_grades", "numbers": {"students": self.ungraded, "of": self.students},
                          "message": f"{self.ungraded} of {self.students} students have no grades yet (new "
                                     "students): valid, their grade features are missing and the models predict "
                                     "from the rest"})
        if not self.labeled:
            return found
        scores, highest, rule = self.scores, self.highest_score, self.label_rule
        if scores >= MIN_VALUES and highest <= SMALL_SCALE:
            found.append({"check": "score_scale", "numbers": {"scores": scores, "highest": highest},
                          "message": f"every one of {scores} final scores is at most {highest:g} on a 0..100 "
                                     "scale: an unconverted scale? declare it in the mapping (labels.score.scale)"})
        if scores and self.positive in (0, scores):
            found.append({"check": "one_class", "numbers": {"scores": scores, "positive": self.positive},
                          "message": f"{'every' if self.positive else 'no'} student of {scores} is '{rule.name}' "
                                     f"({rule.text}): a model cannot learn a one-class label; check the rule and the "
                                     "score's scale"})
        if self.dropouts:
            found.append({"check": "likely_dropouts", "numbers": {"students": self.dropouts,
                                                                  "first": self.first_dropouts},
                          "message": f"{self.dropouts} student(s) have a final score of 0 and no recorded activity: "
                                     "likely dropouts, not failures; leave them out of the export, or expect them to "
                                     "teach the model that ability does not matter"})
        if self.zeros:
            graded = self.zero_grades
            during = (f"; {len(graded)} of them had grades during the term (mean {sum(graded) / len(graded):.1f} "
                      "of 100)" if graded else "")
            found.append({"check": "zero_scores", "numbers": {
                "students": self.zeros, "of": scores, "with_grades": len(graded),
                "mean_grade": round(sum(graded) / len(graded), 1) if graded else None},
                "message": f"{self.zeros} of {scores} students have a final score of 0 although their record shows "
                           f"study or attendance{during}: if 0 means 'did not sit the final' or 'left' in your "
                           "system, leave them out of the export or give them no score (a real 0 is rare), or the "
                           "model learns that they failed"})
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
