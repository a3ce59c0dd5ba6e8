"""Data-quality tasks: the raw suite and rejected-share gate after ingest, the feature suite after aggregation."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.artifacts import publish_link, publish_markdown
from infra.collections import BATCHES, STUDENTS_FEATURES, STUDENTS_RAW, STUDENTS_REJECTED
from infra.progress import run_logger
from infra.retry import DB_RETRIES, retry_on_transient, stopwatch
from infra.settings import get_settings
from infra.storage import get_database
from tasks.aggregate import FEATURE_SCHEMA
from validation.gate import (
    FeatureExpectationsFailedError, RejectedShareTooHighError, decide_rejected_share, feature_failure_message,
    rejected_share_message, top_reasons,
)
from validation.gx_runner import SuiteResult
from validation.suites import raw_frame

RAW_META = {"_id", "batch_id", "_ingest"}


def quality_markdown(batch_id: str, result: SuiteResult, extra: list[str]) -> str:
    """A short report: what was checked, what failed, what is worth a look."""
    lines = [f"# Data quality: {result.suite}", "", f"Batch `{batch_id}`, {result.rows} rows.", *extra, "",
             f"- expectations evaluated: {result.evaluated}",
             f"- failed: {len(result.failed)}", f"- findings (warnings): {len(result.findings)}",
             f"- Data Docs: {result.data_docs}", ""]
    if result.failed or result.findings:
        lines += ["| severity | expectation | column | unexpected | % | sample |", "|---|---|---|---|---|---|"]
        for severity, entries in (("failed", result.failed), ("warning", result.findings)):
            lines += [f"| {severity} | {e['expectation']} | {e['column']} | {e['unexpected_count']} | "
                      f"{e['unexpected_percent']} | {e['sample']} |" for e in entries]
    return "\n".join(lines)


def _publish(key: str, batch_id: str, result: SuiteResult, extra: list[str]) -> None:
    publish_markdown(key, quality_markdown(batch_id, result, extra), f"Data quality for batch {batch_id}")
    if result.data_docs:
        publish_link("data-docs", result.data_docs, "Great Expectations Data Docs", "Validation results")


@task(name="validate-raw", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def validate_raw(batch_id: str, max_rejected_share: float) -> dict:
    """Run the raw suite over every input record of the batch, then the rejected-share gate."""
    from validation.gx_runner import run_suite
    from validation.suites import raw_suite

    with stopwatch() as timing:
        db = get_database()
        batch = db[BATCHES].find_one({"batch_id": batch_id})
        accepted = [{k: v for k, v in doc.items() if k not in RAW_META}
                    for doc in db[STUDENTS_RAW].find({"batch_id": batch_id})]
        rejected = list(db[STUDENTS_REJECTED].find({"batch_id": batch_id}))
        frame = raw_frame(accepted + [doc["record"] for doc in rejected])
        result = run_suite(frame, raw_suite(batch["kind"] == "labeled"), "students-raw",
                           get_settings().artifacts_path / "gx", run_name=f"{batch_id}-raw")
        decision = decide_rejected_share(len(frame), len(rejected), max_rejected_share)
        reasons = top_reasons(rejected)
    gate = f"Rejected {decision.rejected} of {decision.input} ({decision.share:.1%}); threshold " \
           f"{decision.threshold:.1%}: **{'passed' if decision.passed else 'FAILED'}**."
    _publish("data-quality-raw", batch_id, result, ["", gate, *(f"- {what}: {n}" for what, n in reasons)])
    summary = {**result.as_dict(), "rejected_share": round(decision.share, 4), "gate_passed": decision.passed,
               "top_reasons": reasons, "seconds": timing["seconds"]}
    db[BATCHES].update_one({"batch_id": batch_id}, {"$set": {
        "quality.raw": summary, **({} if decision.passed else {"status": "quality_gate_failed"})}})
    if not decision.passed:
        raise RejectedShareTooHighError(rejected_share_message(batch_id, decision, reasons))
    if rejected:
        run_logger(__name__).warning("batch %s: %d rejected (%.1f%%), within the %.1f%% threshold; top: %s",
                                     batch_id, len(rejected), 100 * decision.share, 100 * max_rejected_share, reasons)
    return summary


@task(name="validate-features", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def validate_features(batch_id: str) -> dict:
    """Run the feature suite on the batch's feature documents; any failed expectation stops the run."""
    import pandas as pd

    from validation.gx_runner import run_suite
    from validation.suites import features_suite

    with stopwatch() as timing:
        db = get_database()
        batch = db[BATCHES].find_one({"batch_id": batch_id})
        frame = pd.DataFrame(list(db[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0})),
                             columns=[name for name, *_ in FEATURE_SCHEMA])
        result = run_suite(frame, features_suite(batch["kind"] == "labeled"), "students-features",
                           get_settings().artifacts_path / "gx", run_name=f"{batch_id}-features")
    _publish("data-quality-features", batch_id, result, [])
    summary = {**result.as_dict(), "seconds": timing["seconds"]}
    db[BATCHES].update_one({"batch_id": batch_id}, {"$set": {
        "quality.features": summary, **({} if result.success else {"status": "quality_gate_failed"})}})
    if not result.success:
        raise FeatureExpectationsFailedError(feature_failure_message(batch_id, result.failed, result.data_docs))
    return summary
