"""The feature aggregation's shape, measured on the same raw batch and server: the pipeline's ``$unwind`` courses /
``$group`` per student against two ``$project`` stages (array operators within each student's document; kept here
as the alternative), both with today's features, and the earlier pipeline (before students without grades and
the latest-grade and trend features) as the baseline. Read-only runs (best of ``--repeat``), then each one
``$merge``d into a scratch collection once.

    python benchmarks/bench_aggregation.py [--sizes 5000 20000] [--repeat 3]
    python benchmarks/bench_aggregation.py --writes [--sizes 20000]

``--writes``: where the pipeline's output costs what on this server, each once on the same batch, into a fresh
collection with students_features' indexes: read back by the client (no write), ``$merge`` (the product's),
``$merge`` over the batch's documents already there (a re-run), the client inserting the cursor's documents
(``insert_many``), and ``$out`` into a staging collection with no indexes (then the client moving them in).

Atlas: the ``$project`` shape is per document, so it streams, runs shard-local on a sharded collection and never
meets ``$group``'s 100 MB memory limit (no ``allowDiskUse``); the ``$group`` shape regroups every student.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.disable(logging.INFO)

from infra.collections import BATCHES, INDEXES, STUDENTS_FEATURES, STUDENTS_RAW  # noqa: E402
from infra.local_server import ensure_server, stop_server  # noqa: E402
from infra.storage import get_database  # noqa: E402
from infra.writes import insert_new, merge_stage  # noqa: E402
from tasks.data.features import _STUDENT_FIELDS, feature_pipeline  # noqa: E402
from tasks.data.ingest import BatchInput  # noqa: E402
from tasks.data.params import BatchParams  # noqa: E402
from tasks.data.synthetic import generate_batch  # noqa: E402
from tasks.data.tasks import ingest_batch  # noqa: E402
from validation.contracts import DEFAULT_CONTRACT, DEFAULT_LABEL_RULE, LABELS  # noqa: E402


def unwind_group_pipeline(batch_id: str, seq: int) -> list[dict]:
    """The earlier shape (labeled batch): unwind the courses, group back per student."""
    carried = {"age": "$age", "major": "$major", "fullTime": "$fullTime", "enrollment_year": "$enrollment_year",
               "study_hours": "$study.hours_per_week", "attendance_rate": "$study.attendance_rate",
               "tutoring": "$study.tutoring", "first_generation": "$demographics.first_generation",
               "part_time_job": "$demographics.part_time_job", "final_score": "$final_score",
               "high_performer": DEFAULT_LABEL_RULE.mongo_expression("$final_score")}
    grades = "$courses.grades"

    def ratio(a: str, b: str) -> dict:
        return {"$cond": [{"$gt": [b, 0]}, {"$divide": [a, b]}, None]}

    return [
        {"$match": {"batch_id": batch_id}},
        {"$project": {"_id": 0, "student_id": 1, "s": carried, "courses.credits": 1, "courses.grades": 1}},
        {"$unwind": "$courses"},
        {"$group": {"_id": "$student_id", "s": {"$first": "$s"}, "num_courses": {"$sum": 1},
                    "total_credits": {"$sum": "$courses.credits"}, "num_grades": {"$sum": {"$size": grades}},
                    "grade_sum": {"$sum": {"$sum": grades}}, "max_grade": {"$max": {"$max": grades}},
                    "min_grade": {"$min": {"$min": grades}},
                    "weighted_sum": {"$sum": {"$multiply": ["$courses.credits", {"$avg": grades}]}},
                    "avg_sum": {"$sum": {"$avg": grades}}, "avg_sumsq": {"$sum": {"$pow": [{"$avg": grades}, 2]}}}},
        {"$project": {"_id": 0, "student_id": "$_id", "batch_id": {"$literal": batch_id},
                      "batch_seq": {"$literal": seq}, **{name: {"$ifNull": [f"$s.{name}", None]} for name in carried},
                      "num_courses": 1, "total_credits": 1, "num_grades": 1, "max_grade": 1, "min_grade": 1,
                      "avg_grade": ratio("$grade_sum", "$num_grades"),
                      "grade_range": {"$subtract": ["$max_grade", "$min_grade"]},
                      "credit_weighted_avg": ratio("$weighted_sum", "$total_credits"),
                      "course_avg_std": {"$sqrt": {"$max": [0, {"$subtract": [
                          {"$divide": ["$avg_sumsq", "$num_courses"]},
                          {"$pow": [{"$divide": ["$avg_sum", "$num_courses"]}, 2]}]}]}}}},
        {"$sort": {"student_id": 1}},
    ]


def project_pipeline(batch_id: str, batch_seq: int) -> list[dict]:
    """The other shape with today's features (labeled batch): two ``$project`` stages, array operators within each
    student's document (one array per course summary, then reductions), no ``$unwind``, no ``$group``."""
    labeled, label_rule, contract = True, DEFAULT_LABEL_RULE, DEFAULT_CONTRACT
    labels = {name: f"${name}" for name in LABELS} if labeled else {}
    if labeled:
        labels["high_performer"] = label_rule.mongo_expression("$final_score")
    carried = {**_STUDENT_FIELDS, **{e.name: f"$extra.{e.name}" for e in contract.extras}, **labels}
    grades = {"$ifNull": ["$$c.grades", []]}
    count = {"$size": grades}
    per_course = {  # one array per summary, a value per course (nulls for a course without grades)
        "credits": "$$c.credits", "n": count, "sum": {"$sum": grades}, "max": {"$max": grades},
        "min": {"$min": grades}, "avg": {"$avg": grades}, "last": {"$arrayElemAt": [grades, -1]},
        "weighted": {"$multiply": ["$$c.credits", {"$avg": grades}]},
        "graded_credits": {"$cond": [{"$gt": [count, 0]}, "$$c.credits", 0]},
        "step": {"$cond": [{"$gt": [count, 1]}, {"$divide": [
            {"$subtract": [{"$arrayElemAt": [grades, -1]}, {"$arrayElemAt": [grades, 0]}]},
            {"$subtract": [count, 1]}]}, None]},
    }
    courses = {"$ifNull": ["$courses", []]}
    return [
        {"$project": {
            "_id": 0, "student_id": 1,
            **{name: {"$ifNull": [path, None]} if name != "high_performer" else path
               for name, path in carried.items()},
            **{f"c_{name}": {"$map": {"input": courses, "as": "c", "in": expression}}
               for name, expression in per_course.items()},
        }},
        {"$project": {
            "student_id": 1, "batch_id": {"$literal": batch_id}, "batch_seq": {"$literal": batch_seq},
            **{name: 1 for name in carried},
            "num_courses": {"$size": "$c_n"},
            "total_credits": {"$sum": "$c_credits"},
            "num_grades": {"$sum": "$c_n"},
            "avg_grade": _ratio({"$sum": "$c_sum"}, {"$sum": "$c_n"}),
            "max_grade": {"$max": "$c_max"},
            "min_grade": {"$min": "$c_min"},
            "grade_range": {"$subtract": [{"$max": "$c_max"}, {"$min": "$c_min"}]},
            "credit_weighted_avg": _ratio({"$sum": "$c_weighted"}, {"$sum": "$c_graded_credits"}),
            "course_avg_std": {"$stdDevPop": "$c_avg"},
            "latest_grade": {"$avg": "$c_last"},
            "grade_trend": {"$avg": "$c_step"},
        }},
        {"$sort": {"student_id": 1}},
    ]


def _ratio(numerator, denominator) -> dict:
    return {"$cond": [{"$gt": [denominator, 0]}, {"$divide": [numerator, denominator]}, None]}


def best_of(repeat: int, fn) -> float:
    """The fastest of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_size(n: int, repeat: int) -> dict:
    """Both shapes on one fresh batch of ``n`` students."""
    os.environ["MONGO_DB"] = f"bench_agg_{n}"
    db = get_database()
    batch = generate_batch(n, seed=n)
    ingest_batch.fn(BatchInput(batch.batch_id, True, batch.records, {"type": "bench"}), BatchParams().truth_bucket)
    seq = db[BATCHES].find_one({"batch_id": batch.batch_id})["seq"]
    shapes = {"before": unwind_group_pipeline(batch.batch_id, seq),
              "unwind/group": feature_pipeline(batch.batch_id, seq, labeled=True),
              "project": [{"$match": {"batch_id": batch.batch_id}}, *project_pipeline(batch.batch_id, seq)]}
    row = {"n": n}
    for name, pipeline in shapes.items():
        assert len(list(db[STUDENTS_RAW].aggregate(pipeline))) == n
        row[name] = best_of(repeat, lambda pipeline=pipeline: list(db[STUDENTS_RAW].aggregate(pipeline)))
        row[name + " +merge"] = best_of(1, lambda pipeline=pipeline, name=name: db[STUDENTS_RAW].aggregate(
            [*pipeline, {"$merge": {"into": f"scratch_{name.replace('/', '_')}", "whenMatched": "replace"}}]))
    db.client.drop_database(db.name)
    return row


def write_shapes(n: int) -> dict:
    """The product's pipeline on one fresh batch of ``n`` students, its output sent to each place once."""
    os.environ["MONGO_DB"] = f"bench_writes_{n}"
    db = get_database()
    batch = generate_batch(n, seed=n)
    ingest_batch.fn(BatchInput(batch.batch_id, True, batch.records, {"type": "bench"}), BatchParams().truth_bucket)
    pipeline = feature_pipeline(batch.batch_id, db[BATCHES].find_one({"batch_id": batch.batch_id})["seq"], True)
    key = ["batch_id", "student_id"]

    def fresh(name: str) -> str:
        db.drop_collection(name)
        db[name].create_indexes(INDEXES[STUDENTS_FEATURES])
        return name

    def output(batch_size: int = 1000):
        return db[STUDENTS_RAW].aggregate(pipeline, allowDiskUse=True, batchSize=batch_size)

    merged, inserted, moved = fresh("w_merge"), fresh("w_insert"), fresh("w_moved")
    db.drop_collection("w_stage")
    row = {"n": n, "read back": best_of(1, lambda: list(output())),
           "$merge": best_of(1, lambda: db[STUDENTS_RAW].aggregate([*pipeline, merge_stage(merged, key)])),
           "$merge again": best_of(1, lambda: db[STUDENTS_RAW].aggregate([*pipeline, merge_stage(merged, key)])),
           "insert_many": best_of(1, lambda: insert_new(db[inserted], output())),
           "$out stage": best_of(1, lambda: db[STUDENTS_RAW].aggregate([*pipeline, {"$out": "w_stage"}])),
           "stage -> insert": best_of(1, lambda: insert_new(db[moved], db["w_stage"].find({}, {"_id": 0})))}
    stored = [sorted(db[name].find({}, {"_id": 0}), key=lambda d: d["student_id"]) for name in (merged, inserted)]
    assert stored[0] == stored[1] and len(stored[0]) == n
    db.client.drop_database(db.name)
    return row


def print_writes(rows: list[dict]) -> None:
    """The write shapes' table: seconds, and each write's own cost (its time less the pipeline read back)."""
    names = ["read back", "$merge", "$merge again", "insert_many", "$out stage", "stage -> insert"]
    print(f"{'students':>8} " + " ".join(f"{name + ' s':>17}" for name in names))
    for row in rows:
        print(f"{row['n']:>8} " + " ".join(f"{row[name]:>17.2f}" for name in names))
        base = row["read back"]
        print(f"{'':>8} the write's own cost: $merge +{row['$merge'] - base:.1f} s, a re-run's $merge "
              f"+{row['$merge again'] - base:.1f} s, insert_many by the client +{row['insert_many'] - base:.1f} s, "
              f"$out +{row['$out stage'] - base:.1f} s (then {row['stage -> insert']:.1f} s to move them in)")
    print("\nread back: the pipeline alone, its documents read by the client (the floor of any shape that "
          "computes in the server);\nthe same documents land in each place (checked: $merge's equal insert_many's).")


def main() -> None:
    """Every size on one local server on a temporary folder, then the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=27131, help="loopback port of the benchmark's own server")
    parser.add_argument("--writes", action="store_true", help="where the output goes instead of the shapes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mongo"
        os.environ["MONGO_URI"] = ensure_server(folder, args.port)
        os.environ["PIPELINE_DATA_DIR"] = str(Path(tmp) / "data")
        try:
            rows = [write_shapes(n) if args.writes else run_size(n, args.repeat) for n in args.sizes]
        finally:
            stop_server(folder)
    if args.writes:
        print_writes(rows)
        return
    shapes = ("before", "unwind/group", "project")
    print(f"{'students':>8} " + " ".join(f"{name + ' s':>15}" for name in shapes) + " " +
          " ".join(f"{name + ' +merge s':>22}" for name in shapes) + f" {'project/unwind':>14} {'ours/before':>11}")
    for row in rows:
        print(f"{row['n']:>8} " + " ".join(f"{row[name]:>15.2f}" for name in shapes) + " " +
              " ".join(f"{row[name + ' +merge']:>22.2f}" for name in shapes) +
              f" {row['project +merge'] / row['unwind/group +merge']:>13.2f}x"
              f" {row['unwind/group +merge'] / row['before +merge']:>10.2f}x")
    print("\nbefore: the earlier shape and features (the baseline); unwind/group (the pipeline's) and project: today's "
          "features\n(latest grade, trend, students without grades) in each shape; project/unwind: with $merge, > 1 "
          "means the pipeline's shape is the faster here;\nours/before: the pipeline against the earlier one, "
          "both with $merge (target <= 1.2x).")


if __name__ == "__main__":
    main()
