"""The feature pipeline: nested raw records to one flat, ML-ready document per student, run inside MongoDB.

It unwinds ``courses`` once (keeping students without courses), summarises each course's grades with array
operators, then groups back per student, so ``num_courses`` is the real number of courses (the original design
unwound the grades too and counted grades). The other shape, two ``$project`` stages with array operators and no
``$unwind``/``$group``, was measured 6-11% slower on the local server (``benchmarks/bench_aggregation.py``); on
Atlas it would stream shard-local without ``$group``'s memory limit, so it is the one to measure there. Pure:
it builds the stages;
the data stage's task runs them and ``$merge``s the output, and the prediction service runs the same stages over
a request's records with ``$documents``.
"""

from __future__ import annotations

from validation.contracts import DEFAULT_CONTRACT, DEFAULT_LABEL_RULE, LABELS, FeatureContract, LabelRule

FEATURES_VERSION = 2
"""What the aggregation's output is: 2 = students without grades, latest grade and trend, a dataset's extras. A
batch aggregated by an earlier version is aggregated again (from its raw records) before it trains."""

_STUDENT_FIELDS = {
    "age": "$age", "major": "$major", "fullTime": "$fullTime", "enrollment_year": "$enrollment_year",
    "study_hours": "$study.hours_per_week", "attendance_rate": "$study.attendance_rate",
    "tutoring": "$study.tutoring", "first_generation": "$demographics.first_generation",
    "part_time_job": "$demographics.part_time_job",
}


def _ratio(numerator: dict | str, denominator: dict | str) -> dict:
    return {"$cond": [{"$gt": [denominator, 0]}, {"$divide": [numerator, denominator]}, None]}


def feature_pipeline(batch_id: str, batch_seq: int, labeled: bool, label_rule: LabelRule = DEFAULT_LABEL_RULE,
                     contract: FeatureContract = DEFAULT_CONTRACT) -> list[dict]:
    """The aggregation from ``students_raw`` (one batch) to flat feature documents, sorted by student_id."""
    return [{"$match": {"batch_id": batch_id}}, *feature_stages(batch_id, batch_seq, labeled, label_rule, contract)]


def feature_stages(batch_id: str, batch_seq: int, labeled: bool, label_rule: LabelRule = DEFAULT_LABEL_RULE,
                   contract: FeatureContract = DEFAULT_CONTRACT) -> list[dict]:
    """The stages from raw records (whatever feeds them: a batch's ``$match``, or ``$documents``) to features.

    Student-level fields travel as one sub-document ``s`` so that ``$unwind`` and ``$group`` copy as little as
    possible. A student without courses or grades gets counts of 0 and null grade features (the accumulators skip
    a course without grades; the latest grade is the mean of the courses' last grades, the trend the mean change
    per period of the courses with two grades or more). The dataset's declared
    extra fields (``extra.<name>``) are carried as ``<name>``. A labeled batch's ``high_performer`` is its label
    rule on ``final_score``, computed here (a record's own flag was checked against the rule at ingest).
    """
    labels = {name: f"${name}" for name in LABELS} if labeled else {}
    if labeled:
        labels["high_performer"] = label_rule.mongo_expression("$final_score")
    carried = {**_STUDENT_FIELDS, **{e.name: f"$extra.{e.name}" for e in contract.extras}, **labels}
    grades = {"$ifNull": ["$courses.grades", []]}
    count = {"$size": grades}
    course_mean = {"$avg": grades}  # null for a course without grades (accumulators skip nulls)
    return [
        {"$project": {"_id": 0, "student_id": 1, "s": carried, "courses.credits": 1, "courses.grades": 1}},
        {"$unwind": {"path": "$courses", "preserveNullAndEmptyArrays": True}},  # a student without courses stays
        {"$group": {
            "_id": "$student_id",
            "s": {"$first": "$s"},
            "num_courses": {"$sum": {"$cond": [{"$ifNull": ["$courses", False]}, 1, 0]}},
            "total_credits": {"$sum": "$courses.credits"},
            "num_grades": {"$sum": count},
            "grade_sum": {"$sum": {"$sum": grades}},
            "max_grade": {"$max": {"$max": grades}},
            "min_grade": {"$min": {"$min": grades}},
            "weighted_sum": {"$sum": {"$multiply": ["$courses.credits", course_mean]}},
            "graded_credits": {"$sum": {"$cond": [{"$gt": [count, 0]}, "$courses.credits", 0]}},
            "course_avg_std": {"$stdDevPop": course_mean},
            "latest_grade": {"$avg": {"$arrayElemAt": [grades, -1]}},
            "grade_trend": {"$avg": {"$cond": [{"$gt": [count, 1]}, {"$divide": [
                {"$subtract": [{"$arrayElemAt": [grades, -1]}, {"$arrayElemAt": [grades, 0]}]},
                {"$subtract": [count, 1]}]}, None]}},
        }},
        {"$project": {
            "_id": 0, "student_id": "$_id", "batch_id": {"$literal": batch_id}, "batch_seq": {"$literal": batch_seq},
            **{name: {"$ifNull": [f"$s.{name}", None]} for name in carried},
            "num_courses": 1, "total_credits": 1, "num_grades": 1, "max_grade": 1, "min_grade": 1,
            "avg_grade": _ratio("$grade_sum", "$num_grades"),
            "grade_range": {"$subtract": ["$max_grade", "$min_grade"]},
            "credit_weighted_avg": _ratio("$weighted_sum", "$graded_credits"),
            "course_avg_std": 1, "latest_grade": 1, "grade_trend": 1,
        }},
        {"$sort": {"student_id": 1}},
    ]
