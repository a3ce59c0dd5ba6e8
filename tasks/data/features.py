"""The feature pipeline: nested raw records to one flat, ML-ready document per student, run inside MongoDB.

Array operators summarise each student's courses and grades within the student's own document (the original
design unwound the grades and grouped them back, and counted grades as courses). Pure: it builds the stages;
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


def _each(field: str, of: str | dict = "$c") -> dict:
    """One field of every course summary, as an array (spelled out with ``$map``: a path through an array,
    ``"$c.credits"``, is not resolved by every server that speaks the protocol)."""
    return {"$map": {"input": of, "as": "k", "in": f"$$k.{field}"}}


def _ratio(numerator: dict | str, denominator: dict | str) -> dict:
    return {"$cond": [{"$gt": [denominator, 0]}, {"$divide": [numerator, denominator]}, None]}


def feature_pipeline(batch_id: str, batch_seq: int, labeled: bool, label_rule: LabelRule = DEFAULT_LABEL_RULE,
                     contract: FeatureContract = DEFAULT_CONTRACT) -> list[dict]:
    """The aggregation from ``students_raw`` (one batch) to flat feature documents, sorted by student_id."""
    return [{"$match": {"batch_id": batch_id}}, *feature_stages(batch_id, batch_seq, labeled, label_rule, contract)]


def feature_stages(batch_id: str, batch_seq: int, labeled: bool, label_rule: LabelRule = DEFAULT_LABEL_RULE,
                   contract: FeatureContract = DEFAULT_CONTRACT) -> list[dict]:
    """The stages from raw records (whatever feeds them: a batch's ``$match``, or ``$documents``) to features.

    Two ``$project`` stages, no ``$unwind`` and no ``$group``: the first summarises each course's grades with array
    operators (``c``: credits, count, sum, max, min, mean, first and latest grade), the second summarises the
    courses. Each student is one document throughout, so the work is shard-local and no stage holds a batch in
    memory. A student without courses or grades gets counts of 0 and null grade features. The dataset's declared
    extra fields (``extra.<name>``) are carried as ``<name>``. A labeled batch's ``high_performer`` is its label
    rule on ``final_score``, computed here (a record's own flag was checked against the rule at ingest).
    """
    labels = {name: f"${name}" for name in LABELS} if labeled else {}
    if labeled:
        labels["high_performer"] = label_rule.mongo_expression("$final_score")
    carried = {**_STUDENT_FIELDS, **{e.name: f"$extra.{e.name}" for e in contract.extras}, **labels}
    grades = {"$ifNull": ["$$c.grades", []]}
    per_course = {
        "credits": "$$c.credits", "n": {"$size": grades}, "sum": {"$sum": grades}, "max": {"$max": grades},
        "min": {"$min": grades}, "avg": {"$avg": grades}, "first": {"$arrayElemAt": [grades, 0]},
        "last": {"$arrayElemAt": [grades, -1]},
    }
    graded = {"$filter": {"input": "$c", "as": "k", "cond": {"$gt": ["$$k.n", 0]}}}
    periods = {"$filter": {"input": "$c", "as": "k", "cond": {"$gt": ["$$k.n", 1]}}}
    return [
        {"$project": {
            "_id": 0, "student_id": 1,
            **{name: {"$ifNull": [path, None]} if name != "high_performer" else path
               for name, path in carried.items()},
            "c": {"$map": {"input": {"$ifNull": ["$courses", []]}, "as": "c", "in": per_course}},
        }},
        {"$project": {
            "student_id": 1, "batch_id": {"$literal": batch_id}, "batch_seq": {"$literal": batch_seq},
            **{name: 1 for name in carried},
            "num_courses": {"$size": "$c"},
            "total_credits": {"$sum": _each("credits")},
            "num_grades": {"$sum": _each("n")},
            "avg_grade": _ratio({"$sum": _each("sum")}, {"$sum": _each("n")}),
            "max_grade": {"$max": _each("max")},
            "min_grade": {"$min": _each("min")},
            "grade_range": {"$subtract": [{"$max": _each("max")}, {"$min": _each("min")}]},
            "credit_weighted_avg": {"$let": {"vars": {"g": graded}, "in": _ratio(
                {"$sum": {"$map": {"input": "$$g", "as": "k", "in": {"$multiply": ["$$k.credits", "$$k.avg"]}}}},
                {"$sum": _each("credits", "$$g")})}},
            "course_avg_std": {"$stdDevPop": _each("avg")},
            "latest_grade": {"$avg": _each("last")},
            "grade_trend": {"$avg": {"$map": {"input": periods, "as": "k", "in": {"$divide": [
                {"$subtract": ["$$k.last", "$$k.first"]}, {"$subtract": ["$$k.n", 1]}]}}}},
        }},
        {"$sort": {"student_id": 1}},
    ]
