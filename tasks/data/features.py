"""The feature pipeline: nested raw records to one flat, ML-ready document per student, run inside MongoDB.

It unwinds ``courses`` once, summarises each course's grades with array operators, then groups back per
student, so ``num_courses`` is the real number of courses (the original design unwound the grades too and
counted grades). Pure: it builds the stages; the data stage's task runs them and ``$merge``s the output, and the
prediction service runs the same stages over a request's records with ``$documents``.
"""

from __future__ import annotations

from validation.contracts import DEFAULT_LABEL_RULE, LABELS, LabelRule

_STUDENT_FIELDS = {
    "age": "$age", "major": "$major", "fullTime": "$fullTime", "enrollment_year": "$enrollment_year",
    "study_hours": "$study.hours_per_week", "attendance_rate": "$study.attendance_rate",
    "tutoring": "$study.tutoring", "first_generation": "$demographics.first_generation",
    "part_time_job": "$demographics.part_time_job",
}


def _ratio(numerator: str, denominator: str) -> dict:
    return {"$cond": [{"$gt": [denominator, 0]}, {"$divide": [numerator, denominator]}, None]}


def feature_pipeline(batch_id: str, batch_seq: int, labeled: bool,
                     label_rule: LabelRule = DEFAULT_LABEL_RULE) -> list[dict]:
    """The aggregation from ``students_raw`` (one batch) to flat feature documents, sorted by student_id."""
    return [{"$match": {"batch_id": batch_id}}, *feature_stages(batch_id, batch_seq, labeled, label_rule)]


def feature_stages(batch_id: str, batch_seq: int, labeled: bool,
                   label_rule: LabelRule = DEFAULT_LABEL_RULE) -> list[dict]:
    """The stages from raw records (whatever feeds them: a batch's ``$match``, or ``$documents``) to features.

    Student-level fields travel as one sub-document ``s`` so that ``$unwind`` and ``$group`` copy as little
    as possible. A labeled batch's ``high_performer`` is its label rule on ``final_score``, computed here (a
    record's own flag was checked against the rule at ingest).
    """
    labels = {name: f"${name}" for name in LABELS} if labeled else {}
    if labeled:
        labels["high_performer"] = label_rule.mongo_expression("$final_score")
    carried = {**_STUDENT_FIELDS, **labels}
    grades = "$courses.grades"
    course_mean = {"$divide": ["$avg_sum", "$num_courses"]}
    return [
        {"$project": {"_id": 0, "student_id": 1, "s": carried, "courses.credits": 1, "courses.grades": 1}},
        {"$unwind": "$courses"},
        {"$group": {
            "_id": "$student_id",
            "s": {"$first": "$s"},
            "num_courses": {"$sum": 1},
            "total_credits": {"$sum": "$courses.credits"},
            "num_grades": {"$sum": {"$size": grades}},
            "grade_sum": {"$sum": {"$sum": grades}},
            "max_grade": {"$max": {"$max": grades}},
            "min_grade": {"$min": {"$min": grades}},
            "weighted_sum": {"$sum": {"$multiply": ["$courses.credits", {"$avg": grades}]}},
            "avg_sum": {"$sum": {"$avg": grades}},
            "avg_sumsq": {"$sum": {"$pow": [{"$avg": grades}, 2]}},
        }},
        {"$project": {
            "_id": 0, "student_id": "$_id", "batch_id": {"$literal": batch_id}, "batch_seq": {"$literal": batch_seq},
            **{name: {"$ifNull": [f"$s.{name}", None]} for name in carried},
            "num_courses": 1, "total_credits": 1, "num_grades": 1, "max_grade": 1, "min_grade": 1,
            "avg_grade": _ratio("$grade_sum", "$num_grades"),
            "grade_range": {"$subtract": ["$max_grade", "$min_grade"]},
            "credit_weighted_avg": _ratio("$weighted_sum", "$total_credits"),
            "course_avg_std": {"$sqrt": {"$max": [0, {"$subtract": [
                {"$divide": ["$avg_sumsq", "$num_courses"]}, {"$pow": [course_mean, 2]}]}]}},
        }},
        {"$sort": {"student_id": 1}},
    ]
