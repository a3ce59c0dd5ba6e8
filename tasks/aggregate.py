"""Flatten nested raw records into one ML-ready document per student, inside MongoDB.

The pipeline unwinds ``courses`` once, summarises each course's grades with array operators, then groups
back per student, so ``num_courses`` is the real number of courses (the original design unwound the grades
too and counted grades). Output goes through ``$merge`` inside the server; a student's newest batch wins.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.collections import BATCHES, STUDENTS_FEATURES, STUDENTS_RAW, ensure_indexes
from infra.progress import run_logger
from infra.retry import DB_RETRIES, retry_on_transient, stopwatch
from infra.storage import get_database
from infra.writes import merge_outcome, merge_pipeline_output

# name, Arrow type, role, description: the feature contract, exported as schema.json beside the data
FEATURE_SCHEMA: list[tuple[str, str, str, str]] = [
    ("student_id", "int64", "id", "student identifier"),
    ("batch_id", "string", "lineage", "batch the features were computed from (the student's newest)"),
    ("batch_seq", "int64", "lineage", "that batch's sequence number"),
    ("age", "int64", "feature", "age in years"),
    ("major", "string", "feature", "declared major"),
    ("fullTime", "bool", "feature", "full-time student"),
    ("enrollment_year", "int64", "feature", "year of enrolment"),
    ("num_courses", "int64", "feature", "number of courses taken"),
    ("total_credits", "int64", "feature", "sum of the courses' credits"),
    ("num_grades", "int64", "feature", "number of grades recorded"),
    ("avg_grade", "double", "feature", "mean of all grades"),
    ("max_grade", "double", "feature", "highest grade"),
    ("min_grade", "double", "feature", "lowest grade"),
    ("grade_range", "double", "feature", "highest minus lowest grade"),
    ("credit_weighted_avg", "double", "feature", "mean of course averages weighted by credits"),
    ("course_avg_std", "double", "feature", "spread (population sd) of the course averages"),
    ("study_hours", "double", "feature", "self-reported study hours per week (may be null)"),
    ("attendance_rate", "double", "feature", "share of classes attended (may be null)"),
    ("tutoring", "bool", "feature", "attends tutoring (may be null)"),
    ("first_generation", "bool", "feature", "first in family at university (may be null)"),
    ("part_time_job", "bool", "feature", "works a part-time job (may be null)"),
    ("final_score", "double", "label", "next-term score, 0..100 (labeled batches only)"),
    ("high_performer", "bool", "label", "final_score above the threshold (labeled batches only)"),
]
LABELS = [name for name, _, role, _ in FEATURE_SCHEMA if role == "label"]

_STUDENT_FIELDS = {
    "age": "$age", "major": "$major", "fullTime": "$fullTime", "enrollment_year": "$enrollment_year",
    "study_hours": "$study.hours_per_week", "attendance_rate": "$study.attendance_rate",
    "tutoring": "$study.tutoring", "first_generation": "$demographics.first_generation",
    "part_time_job": "$demographics.part_time_job",
}


def _ratio(numerator: str, denominator: str) -> dict:
    return {"$cond": [{"$gt": [denominator, 0]}, {"$divide": [numerator, denominator]}, None]}


def feature_pipeline(batch_id: str, batch_seq: int, labeled: bool) -> list[dict]:
    """The aggregation from ``students_raw`` (one batch) to flat feature documents, sorted by student_id.

    Student-level fields travel as one sub-document ``s`` so that ``$unwind`` and ``$group`` copy as little
    as possible.
    """
    labels = {name: f"${name}" for name in LABELS} if labeled else {}
    carried = {**_STUDENT_FIELDS, **labels}
    grades = "$courses.grades"
    course_mean = {"$divide": ["$avg_sum", "$num_courses"]}
    return [
        {"$match": {"batch_id": batch_id}},
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


@task(name="aggregate-features", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def aggregate_features(batch_id: str) -> dict:
    """Compute the batch's students' features in MongoDB and write them to students_features."""
    with stopwatch() as timing:
        db = get_database()
        ensure_indexes(db, [STUDENTS_FEATURES])
        batch = db[BATCHES].find_one({"batch_id": batch_id})
        if batch is None:
            raise LookupError(f"batch {batch_id!r} is not in the batches collection: ingest it first")
        pipeline = feature_pipeline(batch_id, batch["seq"], batch["kind"] == "labeled")
        students = db[STUDENTS_RAW].distinct("student_id", {"batch_id": batch_id})
        counts = merge_outcome(db[STUDENTS_FEATURES], "student_id", students, "batch_seq", batch["seq"])
        # the ledger keeps the first answer: asked again after the merge, every student would look known
        db[BATCHES].update_one({"batch_id": batch_id, "features_new": {"$exists": False}},
                               {"$set": {"features_new": counts.inserted}})
        merge_pipeline_output(db, STUDENTS_RAW, pipeline, STUDENTS_FEATURES, "student_id", keep_newer="batch_seq")
        db[BATCHES].update_one({"batch_id": batch_id}, {"$set": {"status": "featurized"}})
    run_logger(__name__).info("features for %s: %d new, %d updated, %d unchanged, %d kept (newer batch)", batch_id,
                              counts.inserted, counts.modified, counts.unchanged, counts.kept_newer)
    return {"batch_id": batch_id, "seconds": timing["seconds"],
            "inserted": counts.inserted, "updated": counts.modified, "unchanged": counts.unchanged,
            "kept_newer": counts.kept_newer}
