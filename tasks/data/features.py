"""The feature pipeline: nested raw records to one flat, ML-ready document per student, run inside MongoDB.

It first rewrites each student's courses once (grades never null, their count), unwinds them (keeping students
without courses), summarises each course's grades with array operators on those field paths, groups back per
student (``num_courses`` is the real number of courses: the original design unwound the grades too and counted
grades), and lays out the document with one ``$mergeObjects`` over null defaults. On the local server, where every
expression is interpreted, that took a 20k batch from 1.35x the earlier, simpler pipeline's time to 1.10-1.16x
(``benchmarks/bench_aggregation.py``). The other shape, two ``$project`` stages with array operators and no
``$unwind``/``$group``, took 1.23-1.25x its time there; on Atlas it would stream shard-local without
``$group``'s memory limit, so it is the one to measure there. Pure: it builds the stages; the data stage's task
runs them and ``$merge``s the output, and the prediction service runs the same stages over a request's records
with ``$documents`` (its parity check).
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
    credits, grades, count = "$courses.credits", "$courses.grades", "$courses.n"
    course_mean = {"$avg": grades}  # null for a course without grades (accumulators skip nulls)
    return [
        {"$project": {
            "_id": 0, "student_id": 1, "s": carried,
            "num_courses": {"$size": {"$ifNull": ["$courses", []]}},
            # each course once: its grades never null, and their count (the stages below read field paths)
            "courses": {"$map": {"input": {"$ifNull": ["$courses", []]}, "as": "c", "in": {"$let": {
                "vars": {"g": {"$ifNull": ["$$c.grades", []]}},
                "in": {"credits": "$$c.credits", "grades": "$$g", "n": {"$size": "$$g"}}}}}},
        }},
        {"$unwind": {"path": "$courses", "preserveNullAndEmptyArrays": True}},  # a student without courses stays
        {"$group": {
            "_id": "$student_id",
            "s": {"$first": "$s"},
            "num_courses": {"$first": "$num_courses"},
            "total_credits": {"$sum": credits},
            "num_grades": {"$sum": count},
            "grade_sum": {"$sum": {"$sum": grades}},
            "max_grade": {"$max": {"$max": grades}},
            "min_grade": {"$min": {"$min": grades}},
            "weighted_sum": {"$sum": {"$multiply": [credits, course_mean]}},
            "graded_credits": {"$sum": {"$cond": [{"$gt": [count, 0]}, credits, 0]}},
            "course_avg_std": {"$stdDevPop": course_mean},
            "latest_grade": {"$avg": {"$arrayElemAt": [grades, -1]}},
            "grade_trend": {"$avg": {"$cond": [{"$gt": [count, 1]}, {"$divide": [
                {"$subtract": [{"$arrayElemAt": [grades, -1]}, {"$arrayElemAt": [grades, 0]}]},
                {"$subtract": [count, 1]}]}, None]}},
        }},
        # every carried field present (null where the record has none): one merge over null defaults
        {"$replaceWith": {"$mergeObjects": [
            {"student_id": "$_id", "batch_id": {"$literal": batch_id}, "batch_seq": {"$literal": batch_seq}},
            {"$literal": dict.fromkeys(carried)}, "$s",
            {"num_courses": "$num_courses", "total_credits": "$total_credits", "num_grades": "$num_grades",
             "max_grade": "$max_grade", "min_grade": "$min_grade",
             "avg_grade": _ratio("$grade_sum", "$num_grades"),
             "grade_range": {"$subtract": ["$max_grade", "$min_grade"]},
             "credit_weighted_avg": _ratio("$weighted_sum", "$graded_credits"),
             "course_avg_std": "$course_avg_std", "latest_grade": "$latest_grade", "grade_trend": "$grade_trend"},
        ]}},
        {"$sort": {"student_id": 1}},
    ]
