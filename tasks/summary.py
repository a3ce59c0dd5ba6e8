"""The run summary: counts per collection, stage timings, export paths; and its readable rendering."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.collections import BATCHES, STUDENTS_FEATURES, STUDENTS_RAW, STUDENTS_REJECTED, STUDENTS_TRUTH
from infra.retry import DB_RETRIES, retry_on_transient
from infra.storage import describe_store, get_database

SUMMARY_COLLECTIONS = [BATCHES, STUDENTS_RAW, STUDENTS_REJECTED, STUDENTS_FEATURES, STUDENTS_TRUTH]


@task(name="count-collections", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def count_collections() -> dict:
    """Documents per contract collection, and where the store is (credentials redacted)."""
    db = get_database()
    counts = {name: db[name].count_documents({}) for name in SUMMARY_COLLECTIONS}
    counts[STUDENTS_TRUTH] = stored_truth_rows(db)
    return {"store": describe_store(), "counts": counts}


def stored_truth_rows(db) -> int:
    """Students whose truth is stored (the truth is kept in buckets of students)."""
    total = list(db[STUDENTS_TRUTH].aggregate([{"$group": {"_id": None, "rows": {"$sum": "$rows"}}}]))
    return total[0]["rows"] if total else 0


def render_summary(summary: dict) -> str:
    """A few aligned lines a person reads at the end of a run."""
    lines = [
        f"batch      {summary['batch_id']} (seq {summary['batch_seq']}, {summary['kind']})",
        f"store      {summary['store']}",
        f"records    {summary['input']} in: {summary['accepted']} accepted, {summary['rejected']} rejected",
        "counts     " + ", ".join(f"{name} {count}" for name, count in summary["counts"].items()),
    ]
    for stage, quality in summary.get("quality", {}).items():
        lines.append(f"quality    {stage}: {quality['evaluated']} expectations, {quality['failed']} failed, "
                     f"{quality['findings']} findings")
    if summary.get("data_docs"):
        lines.append(f"data docs  {summary['data_docs']}")
    for name, path in summary.get("exports", {}).items():
        lines.append(f"export     {name:8s} {path}")
    training = summary.get("training", {})
    if "skipped" in training:
        lines.append(f"training   skipped: {training['skipped']}")
    elif training:
        lines.append("models     " + ", ".join(f"{m['algorithm']} v{m['version']} ({m['val_score']})"
                                              for m in training["models"]))
        lines.append(f"best       {training['best']}; test gap to the oracle {training['oracle_gap_test']}")
        lines.append(f"champion   {training['champion']['reason']}")
        lines.append(f"report     {training['report']}")
    lines.append("seconds    " + ", ".join(f"{stage} {secs:.2f}" for stage, secs in summary["seconds"].items()))
    return "\n".join(lines)
