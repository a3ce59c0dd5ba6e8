"""The data stage's Prefect tasks: bring a batch in (generate or load, ingest, validate, aggregate, validate,
export) and report what the store holds. Thin: each reads, calls the stage's pure core, writes, publishes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.artifacts import publish_link, publish_markdown
from infra.collections import BATCHES, ensure_indexes
from infra.errors import UserError
from infra.files import write_atomically
from infra.progress import Progress, run_logger
from infra.pseudonyms import Pseudonyms, bind_to_store, erased_digests
from infra.pseudonyms import erased_digest as digest
from infra.pseudonyms import load as load_pseudonyms
from infra.report_files import save_file
from infra.retry import DB_TASK, stopwatch
from infra.settings import get_settings
from infra.storage import describe_store, get_database
from infra.writes import WriteCounts
from tasks.alerting.store import raise_alert
from tasks.data import store
from tasks.data.export import export_files
from tasks.data.features import FEATURES_VERSION
from tasks.data.ingest import BatchInput, EmptyBatchError, TruthTable, raw_documents
from tasks.data.labels import LabelsNotFoundError, attach_labels, generator_twin
from tasks.data.mapping import Mapping, read_mapping
from tasks.data.quality import gate_lines, quality_alert, quality_markdown
from tasks.data.results import Exported, Featurized, Ingested, Quality, StoreCounts
from tasks.data.sanity import SanityTally, returning_finding
from tasks.data.sources import (
    BatchKind,
    SourceLimits,
    check_source_folder,
    file_batch_id,
    in_deployment,
    infer_labeled,
    jsonl_text,
    read_source,
    source_format,
)
from tasks.data.synthetic import DriftKnobs, batch_id_for, generate_parts
from validation.contracts import DEFAULT_CONTRACT, FeatureContract, LabelRule
from validation.features import features_frame, frame_in_parts
from validation.gate import (
    FeatureExpectationsFailedError,
    RejectedShareTooHighError,
    decide_rejected_share,
    feature_failure_message,
    rejected_share_message,
    top_reasons,
)
from validation.gx_runner import SuiteResult
from validation.records import split_records
from validation.suites import raw_frame


@task(name="check-store", **DB_TASK)
def check_store() -> str:
    """Reach the store (starting the local server if it is the one) before anything is written anywhere."""
    get_database()
    return describe_store()


@task(name="choose-seed", **DB_TASK)
def choose_seed(seed: int | None) -> int:
    """An explicit seed wins; otherwise one past the highest generator seed stored (0 on a fresh store)."""
    if seed is not None:
        return seed
    latest = store.latest_generator_seed(get_database())
    return 0 if latest is None else latest + 1


@task(name="generate-batch", cache_policy=NO_CACHE)
def generate_students(n_students: int, seed: int, labeled: bool, knobs: DriftKnobs,
                      label_rule: LabelRule) -> BatchInput:
    """Generate the batch (labeled by ``label_rule``) into JSON Lines files in the raw folder, its records and,
    apart, its truth, a part at a time: the batch is never whole in memory, and ingestion reads the files."""
    batch_id = batch_id_for(seed, n_students, labeled, knobs, label_rule)
    raw_dir = get_settings().raw_path
    records_path, truth_path = raw_dir / f"{batch_id}.jsonl", raw_dir / "truth" / f"{batch_id}.jsonl"
    with stopwatch() as timing:
        def write_both(records_tmp: Path, truth_tmp: Path) -> None:
            with records_tmp.open("w", encoding="utf-8") as out, truth_tmp.open("w", encoding="utf-8") as truth_out:
                for records, truth in generate_parts(n_students, seed, labeled, knobs, label_rule):
                    out.write(jsonl_text(records))
                    truth_out.write(jsonl_text(truth))

        write_atomically(truth_path, lambda truth_tmp: write_atomically(
            records_path, lambda records_tmp: write_both(records_tmp, truth_tmp)))
    return BatchInput(batch_id=batch_id, labeled=labeled, records=[], records_file=str(records_path),
                      truth_file=str(truth_path), size=n_students,
                      source={"type": "generator", "seed": seed, "students": n_students, "drift": knobs.model_dump(),
                              "file": str(records_path)}, seconds=timing["seconds"], label_rule=label_rule)


@task(name="labels-for-batch", **DB_TASK)
def labels_for_batch(batch_id: str, label_rule: LabelRule) -> BatchInput:
    """The labels of a batch scored without them: the generator's labeled twin of a generated batch (same
    students, now with outcomes), else the batch's records joined with the outcomes posted as feedback."""
    db = get_database()
    batch = store.batch_source(db, batch_id)
    if batch is None:
        raise LabelsNotFoundError(f"batch {batch_id!r} is not in the batches collection: there is nothing to bring "
                                  "labels for (check the id on the dashboard's drift page or in the drift event)")
    twin = generator_twin(batch.get("source") or {})
    if twin is not None:
        students, seed, knobs = twin
        batch_input = generate_students.fn(students, seed, True, knobs, label_rule)
        run_logger(__name__).info("labels for %s: the generator's labeled twin %s", batch_id, batch_input.batch_id)
        return batch_input
    with stopwatch() as timing:
        records = store.scored_records(db, batch_id)
        outcomes = store.posted_outcomes(db, [r["student_id"] for r in records])
        labels_id, labeled, counts = attach_labels(batch_id, records, outcomes)
    run_logger(__name__).info("labels for %s from feedback: %s", batch_id, counts)
    return BatchInput(batch_id=labels_id, labeled=True, records=labeled,
                      source={"type": "feedback", "for_batch": batch_id, **counts}, seconds=timing["seconds"],
                      label_rule=label_rule, contract=store.batch_contract(db, batch_id))


class PlainIdsError(UserError):
    """A mapped source cannot go into a store that still holds a school's plain ids."""


def pseudonyms_for(mapping: Mapping | None) -> Pseudonyms | None:
    """The installation's pseudonyms, bound to the store, for a mapping that reads the school's ids (none for our
    own JSON shape or an id that is only the row's number)."""
    if mapping is None or mapping.student_id.row_number:
        return None
    db = get_database()
    plain = db[BATCHES].count_documents({"source.mapping_sha256": {"$exists": True}, "source.ids": {"$exists": False}})
    if plain:  # pseudonyms beside plain ids would make every returning student two students
        raise PlainIdsError(f"this store holds {plain} batch(es) of a school's export made before ids became "
                            "pseudonyms (they keep the school's plain ids): replace them first with `python -m "
                            "tasks.privacy rekey --plain --source EXPORT --mapping MAPPING` (every term's export; "
                            "docs/privacy.md), then run this again")
    pseudonyms = load_pseudonyms()
    bind_to_store(db, pseudonyms)
    return pseudonyms


@task(name="load-source-file", cache_policy=NO_CACHE)
def load_source(path: str, kind: BatchKind, label_rule: LabelRule | None, mapping_path: str | None,
                fallback_rule: LabelRule) -> BatchInput:
    """Read a file (through its mapping, when it has one) into a batch whose id is derived from its content and its
    mapping: re-loading it never duplicates, and a changed mapping makes a new batch. The label rule is the run's
    when given, else the mapping's, else ``fallback_rule``."""
    settings = get_settings()
    resolved = Path(path).expanduser().resolve()
    if in_deployment():  # a path from a deployment's parameters: only from the configured source folders
        for given in filter(None, [path, mapping_path]):
            check_source_folder(Path(given), settings.source_paths)
    mapping, mapping_sha = read_mapping(mapping_path) if mapping_path else (None, None)
    limits = SourceLimits(settings.source_max_rows, settings.source_max_columns, settings.source_max_bytes)
    with stopwatch() as timing:
        pseudonyms = pseudonyms_for(mapping)
        records, digest = read_source(resolved, mapping, labeled=kind != "unlabeled", limits=limits,
                                      pseudonyms=pseudonyms)
    source = {"type": "file", "path": str(resolved), "sha256": digest}
    if mapping is not None:
        source |= {"mapping": str(Path(mapping_path).expanduser().resolve()), "mapping_sha256": mapping_sha,
                   "format": source_format(resolved, mapping),
                   "ids": "pseudonyms" if pseudonyms else "row numbers"}
        digest = hashlib.sha256(f"{digest}:{mapping_sha}".encode()).hexdigest()
    rule = label_rule or (mapping.label_rule() if mapping else None) or fallback_rule
    return BatchInput(batch_id=file_batch_id(resolved, digest), labeled=infer_labeled(records, kind), records=records,
                      source=source, seconds=timing["seconds"], label_rule=rule,
                      contract=mapping.contract() if mapping else DEFAULT_CONTRACT)


@task(name="ingest-batch", **DB_TASK)
def ingest_batch(batch: BatchInput, truth_bucket: int) -> Ingested:
    """Write the batch's records (raw or rejected), its truth and its batch document; safe to re-run."""
    logger = run_logger(__name__)
    if not batch.count:
        raise EmptyBatchError(f"batch {batch.batch_id} holds no records: nothing to ingest (nothing was stored)")
    with stopwatch() as timing:
        db = get_database()
        ensure_indexes(db)
        now = datetime.now(UTC)
        batch_doc = store.register_batch(db, batch, now)
        raw, quarantined = WriteCounts(), WriteCounts()
        seen: dict[int, int] = {}  # student id -> position: a duplicate is found across parts too
        tally, truth, rejected = SanityTally(batch.labeled, batch.label_rule), TruthTable(), 0
        progress, position = Progress(f"ingest {batch.batch_id}", batch.count), 0
        erased, left_out = erased_digests(db), 0
        for records in batch.record_chunks():  # a part at a time: memory does not grow with the batch
            if erased:  # a student erased on request never comes back, not even from an old export
                kept = [r for r in records if not (isinstance(r, dict) and isinstance(r.get("student_id"), int)
                                                   and digest(r["student_id"]) in erased)]
                left_out, position = left_out + len(records) - len(kept), position + len(records) - len(kept)
                records = kept
            accepted, rejects = split_records(records, batch.labeled, batch.label_rule, batch.contract, seen, position)
            raw_part, quarantined_part = store.store_records(
                db, raw_documents(accepted, batch.batch_id, now),
                ({**doc, "batch_id": batch.batch_id, "rejected_at": now} for doc in rejects))
            raw, quarantined = raw + raw_part, quarantined + quarantined_part
            tally.add([record for _, record in accepted])
            rejected += len(rejects)
            position += len(records)
            progress(position)
        for rows in batch.truth_chunks():
            truth.add(rows, seen.keys())
        store.store_truth(db, truth.buckets(batch.batch_id, truth_bucket))
        sanity = tally.findings()
        if left_out:
            sanity.append({"check": "erased", "numbers": {"students": left_out},
                           "message": f"{left_out} student(s) of this file were erased on request earlier: left out "
                                      "(python -m tasks.privacy erasures lists when and by whom)"})
        if batch.source.get("type") == "file":  # generated batches reuse ids by design
            sanity += returning_finding(len(seen), store.earlier_batches_of(db, batch.batch_id, list(seen)))
        store.update_batch(db, batch.batch_id, {"accepted": len(seen), "rejected": rejected,
                                                "truth_rows": len(truth), "status": "ingested", "sanity": sanity})
    for finding in sanity:
        logger.warning("batch %s: %s", batch.batch_id, finding["message"])
    if rejected:
        logger.warning("batch %s: %d of %d records rejected (see students_rejected)",
                       batch.batch_id, rejected, position)
    logger.info("batch %s (seq %d): %d new raw records, %d already present", batch.batch_id, batch_doc["seq"],
                raw.inserted, raw.unchanged)
    return Ingested(batch.batch_id, batch_doc["seq"], batch.labeled, position, len(seen), rejected,
                    raw.inserted, raw.unchanged, quarantined.inserted, timing["seconds"], batch.label_rule,
                    [finding["message"] for finding in sanity], batch.contract)


def _publish(db, stage: str, batch_id: str, result: SuiteResult, extra: list[str]) -> SuiteResult:
    """Keep the validation's Data Docs page in the store (any machine's service serves it: the GX site is files on
    the machine that validated), link it, and publish the quality summary. Returns the result with its Data
    Docs address the page's http one."""
    from dataclasses import replace

    if result.page:
        path = save_file(db, f"data-docs/{batch_id}/{stage}.html", result.page.encode("utf-8"),
                                         "text/html; charset=utf-8", batch_id=batch_id, kind="data-docs")
        result = replace(result, data_docs=get_settings().dashboard_link(f"files/{path}"))
    publish_markdown(f"data-quality-{stage}", quality_markdown(batch_id, result, extra),
                     f"Data quality for batch {batch_id}")
    if result.data_docs:
        publish_link("data-docs", result.data_docs, "Great Expectations Data Docs", f"Validation results ({stage})")
    return result


@task(name="validate-raw", **DB_TASK)
def validate_raw(batch_id: str, max_rejected_share: float) -> Quality:
    """Run the raw suite over every input record of the batch, then the rejected-share gate."""
    from validation.gx_runner import run_suite
    from validation.suites import raw_suite

    with stopwatch() as timing:
        db = get_database()
        batch = store.get_batch(db, batch_id)
        records, rejected = store.batch_input_records(db, batch_id)
        contract = _contract(batch)
        frame = raw_frame(records, LabelRule.from_dict(batch.get("label_rule")), contract)  # a row per input record
        result = run_suite(frame, raw_suite(batch["kind"] == "labeled", contract), "students-raw",
                           get_settings().artifacts_path / "gx", run_name=f"{batch_id}-raw")
        decision = decide_rejected_share(len(frame), len(rejected), max_rejected_share)
        reasons = top_reasons(rejected)
    result = _publish(db, "raw", batch_id, result, gate_lines(decision, reasons))
    quality = Quality(**result.as_dict(), seconds=timing["seconds"], rejected_share=round(decision.share, 4),
                      gate_passed=decision.passed, top_reasons=reasons)
    store.update_batch(db, batch_id, {"quality.raw": quality.as_document(),
                                      **({} if decision.passed else {"status": "quality_gate_failed"})})
    if not decision.passed:
        message = rejected_share_message(batch_id, decision, reasons)
        raise_alert(db, quality_alert(batch_id, "rejected-share", f"{decision.rejected} of {decision.input} records "
                                      f"rejected ({decision.share:.1%}, threshold {decision.threshold:.1%})",
                                      {"rejected": decision.rejected, "input": decision.input,
                                       "share": round(decision.share, 4), "threshold": decision.threshold,
                                       "top_reasons": reasons}))
        raise RejectedShareTooHighError(message)
    if rejected:
        run_logger(__name__).warning("batch %s: %d rejected (%.1f%%), within the %.1f%% threshold; top: %s",
                                     batch_id, len(rejected), 100 * decision.share, 100 * max_rejected_share, reasons)
    return quality


@task(name="aggregate-features", **DB_TASK)
def aggregate_features(batch_id: str) -> Featurized:
    """Compute the batch's features in MongoDB and ``$merge`` them into students_features, one document per
    (student, batch): the students' documents of other batches stay as they are."""
    with stopwatch() as timing:
        db = get_database()
        batch = store.get_batch(db, batch_id)
        counts = store.merge_features(db, batch)
        store.record_once(db, batch_id, "features_new", counts.inserted)
        store.update_batch(db, batch_id, {"status": "featurized", "features_version": FEATURES_VERSION})
    run_logger(__name__).info("features for %s: %d new, %d already there", batch_id, counts.inserted,
                              counts.unchanged)
    return Featurized(batch_id, counts.inserted, counts.unchanged, timing["seconds"])


@task(name="validate-features", **DB_TASK)
def validate_features(batch_id: str) -> Quality:
    """Run the feature suite on the batch's feature documents; any failed expectation stops the run."""
    from validation.gx_runner import run_suite
    from validation.suites import features_suite

    with stopwatch() as timing:
        db = get_database()
        batch = store.get_batch(db, batch_id)
        contract = _contract(batch)
        frame = frame_in_parts(store.batch_features(db, batch_id), contract.columns)
        result = run_suite(frame, features_suite(batch["kind"] == "labeled", contract), "students-features",
                           get_settings().artifacts_path / "gx", run_name=f"{batch_id}-features")
    result = _publish(db, "features", batch_id, result, [])
    quality = Quality(**result.as_dict(), seconds=timing["seconds"])
    store.update_batch(db, batch_id, {"quality.features": quality.as_document(),
                                      **({} if result.success else {"status": "quality_gate_failed"})})
    if not result.success:
        raise_alert(db, quality_alert(batch_id, "feature-expectations", f"{len(result.failed)} feature "
                                      "expectation(s) failed", {"failed": result.failed}))
        raise FeatureExpectationsFailedError(feature_failure_message(batch_id, result.failed, result.data_docs))
    return quality


@task(name="export-features", **DB_TASK)
def export_features(batch_id: str) -> Exported:
    """Export the features computed from ``batch_id`` into ``<data>/features/<batch_id>/`` (the run's own batch:
    the work does not grow with the store's history)."""
    with stopwatch() as timing:
        db = get_database()
        contract = store.batch_contract(db, batch_id)
        frame = features_frame(store.batch_features(db, batch_id), contract)
        rule = store.batch_label_rule(db, batch_id)
        lineage = {"after_batch": batch_id, "exported_at": datetime.now(UTC).isoformat(), "batches": [batch_id],
                   **({"label_rule": rule} if rule else {})}
        folder = get_settings().export_path / batch_id
        files = export_files(frame, lineage, contract)
        for name, content in files.items():  # file by file, each whole or not at all
            write_atomically(folder / name, lambda tmp, content=content: tmp.write_bytes(content))
    return Exported(str(folder / "features.parquet"), str(folder / "features.csv"), str(folder / "schema.json"),
                    len(frame), hashlib.sha256(files["features.csv"]).hexdigest(), timing["seconds"])


def _contract(batch: dict) -> FeatureContract:
    """The feature contract of a batch document (a batch from before contracts were stored: ours)."""
    return FeatureContract.from_dict(batch.get("features"))


@task(name="count-collections", **DB_TASK)
def count_collections() -> StoreCounts:
    """What the store holds, from the batch ledger, and where the store is (credentials redacted)."""
    return StoreCounts(describe_store(), store.ledger_counts(get_database()))
