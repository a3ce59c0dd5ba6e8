"""The run summary: counts per collection, stage timings, export paths; and its readable rendering."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.collections import BATCHES, STUDENTS_FEATURES, STUDENTS_RAW, STUDENTS_REJECTED, STUDENTS_TRUTH
from infra.retry import DB_RETRIES, retry_on_transient
from infra.storage import describe_store, get_database

SUMMARY_COLLECTIONS = [BATCHES, STUDENTS_RAW, STUDENTS_REJECTED, STUDENTS_FEATURES, STUDENTS_TRUTH]


@task(name="check-store", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def check_store() -> str:
    """Reach the store (starting the local server if it is the one) before anything is written anywhere."""
    get_database()
    return describe_store()


# what each batch document records about the work done for it (written when that stage completes)
LEDGER = {STUDENTS_RAW: "accepted", STUDENTS_REJECTED: "rejected", STUDENTS_FEATURES: "features_new",
          STUDENTS_TRUTH: "truth_rows"}


@task(name="count-collections", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def count_collections() -> dict:
    """What the store holds, from the batch ledger, and where the store is (credentials redacted).

    Summing one small document per batch costs the same on any store; counting the collections themselves
    would read every document on the local server (5.7 s for 100k raw records)."""
    return {"store": describe_store(), "counts": ledger_counts(get_database())}


def ledger_counts(db) -> dict[str, int]:
    """Documents per contract collection as the batches recorded them when each stage completed."""
    sums = {name.replace("students_", ""): {"$sum": {"$ifNull": [f"${field}", 0]}} for name, field in LEDGER.items()}
    totals = next(db[BATCHES].aggregate([{"$group": {"_id": None, "batches": {"$sum": 1}, **sums}}]), {})
    return {name: int(totals.get(name.replace("students_", ""), 0)) for name in SUMMARY_COLLECTIONS}


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
        lines.append("models     " + ", ".join(f"{m['algorithm']} v{m['version']} ({m['val_score']}"
                                              f"{', already registered' if m.get('existing') else ''})"
                                              for m in training["models"]))
        lines.append(f"best       {training['best']}; test gap to the oracle {training['oracle_gap_test']}")
        lines.append(f"champion   {training['champion']['reason']}")
        lines.append(f"report     {training['report']}")
    lines.append("seconds    " + ", ".join(f"{stage} {secs:.2f}" for stage, secs in summary["seconds"].items()))
    return "\n".join(lines)
