"""Ingestion and file loading: idempotent, every record accounted for, clear errors that lose nothing."""

from __future__ import annotations

import json

import pytest

from infra.collections import BATCHES, STUDENTS_RAW, STUDENTS_REJECTED, STUDENTS_TRUTH
from tasks.data.ingest import BatchInput
from tasks.data.sources import SourceFileError, infer_labeled, read_records
from tasks.data.synthetic import DriftKnobs, generate_batch
from tasks.data.tasks import ingest_batch, load_source
from validation.contracts import DEFAULT_LABEL_RULE


def counts(db) -> dict:
    return {name: db[name].count_documents({}) for name in (BATCHES, STUDENTS_RAW, STUDENTS_REJECTED, STUDENTS_TRUTH)}


def generated(n=300, seed=11, **knobs) -> BatchInput:
    batch = generate_batch(n, seed, knobs=DriftKnobs(**knobs))
    return BatchInput(batch.batch_id, True, batch.records, {"type": "generator", "seed": seed}, batch.truth)


def test_reference_record_ingests_with_batch_metadata(db, reference_record):
    result = ingest_batch.fn(BatchInput("ref", False, [reference_record], {"type": "test"}), 1000)
    assert (result.accepted, result.rejected, result.seq) == (1, 0, 1)
    stored = db[STUDENTS_RAW].find_one({"student_id": 3})
    assert stored["batch_id"] == "ref" and stored["courses"] == reference_record["courses"]
    assert stored["_ingest"]["position"] == 0
    batch = db[BATCHES].find_one({"batch_id": "ref"})
    assert (batch["kind"], batch["size"], batch["accepted"], batch["status"]) == ("unlabeled", 1, 1, "ingested")


def test_reingesting_the_same_batch_changes_nothing(db):
    batch = generated(malformed_rate=0.1)
    first = ingest_batch.fn(batch, 1000)
    before = counts(db)
    raw_before = list(db[STUDENTS_RAW].find({}, sort=[("student_id", 1)]))
    second = ingest_batch.fn(batch, 1000)
    assert counts(db) == before
    assert list(db[STUDENTS_RAW].find({}, sort=[("student_id", 1)])) == raw_before
    assert (second.raw_inserted, second.raw_already_present) == (0, first.accepted)
    assert second.seq == first.seq and second.rejected_inserted == 0


def test_raw_and_rejected_account_for_every_input_record(db):
    batch = generated(n=400, malformed_rate=0.1)
    result = ingest_batch.fn(batch, 1000)
    assert result.rejected > 20
    assert db[STUDENTS_RAW].count_documents({}) + db[STUDENTS_REJECTED].count_documents({}) == 400
    assert sum(bucket["rows"] for bucket in db[STUDENTS_TRUTH].find()) == result.accepted
    rejected = db[STUDENTS_REJECTED].find_one({"reasons.rule": "unique"})
    assert rejected["reasons"][0]["field"] == "student_id"


def test_batches_get_increasing_sequence_numbers(db, reference_record):
    seqs = [ingest_batch.fn(BatchInput(f"b{i}", False, [reference_record], {"type": "test"}), 1000).seq
            for i in range(3)]
    assert seqs == [1, 2, 3]


def write(path, text):
    path.write_text(text)
    return path


def test_json_array_jsonl_and_single_object_files(tmp_path, reference_record):
    line = json.dumps(reference_record)
    assert read_records(write(tmp_path / "a.json", f"[{line}, {line}]"))[0] == [reference_record] * 2
    assert read_records(write(tmp_path / "b.jsonl", f"{line}\n\n{line}\n"))[0] == [reference_record] * 2
    assert read_records(write(tmp_path / "c.json", line))[0] == [reference_record]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.json", None, "source file not found"),
    ("empty.jsonl", "  \n", "is empty"),
    ("broken.json", '[{"student_id": 1}, {"student_id": ', "is not valid JSON"),
])
def test_unusable_files_raise_a_clear_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SourceFileError, match=message) as info:
        read_records(path)
    assert name in str(info.value)


def test_a_directory_or_undecodable_file_is_refused(tmp_path):
    with pytest.raises(SourceFileError, match="not a file"):
        read_records(tmp_path)
    (tmp_path / "latin1.jsonl").write_bytes(b'{"major": "\xe9"}\n')
    with pytest.raises(SourceFileError, match="cannot read"):
        read_records(tmp_path / "latin1.jsonl")


def test_file_with_broken_and_non_object_records_quarantines_them(db, tmp_path, reference_record):
    other = {**reference_record, "student_id": 4}
    path = write(tmp_path / "students.jsonl",
                 f'{json.dumps(reference_record)}\n{{"student_id": 9, "age":\n[1, 2]\n{json.dumps(other)}\n')
    batch = load_source.fn(str(path), "auto", None, None, DEFAULT_LABEL_RULE)
    assert batch.batch_id.startswith("file-students-") and not batch.labeled
    result = ingest_batch.fn(batch, 1000)
    assert (result.input, result.accepted, result.rejected) == (4, 2, 2)
    reasons = {doc["position"]: doc["reasons"][0] for doc in db[STUDENTS_REJECTED].find()}
    assert reasons[1]["rule"] == "parse" and "line 2" in reasons[1]["expected"]
    assert reasons[2] == {"field": "$", "rule": "type", "value": "[1, 2]", "expected": "an object"}
    # loading the same file again finds the same batch: nothing is duplicated
    again = ingest_batch.fn(load_source.fn(str(path), "auto", None, None, DEFAULT_LABEL_RULE), 1000)
    assert again.batch_id == batch.batch_id and counts(db)[STUDENTS_RAW] == 2 and counts(db)[STUDENTS_REJECTED] == 2


def test_a_bad_file_loses_nothing_already_stored(db, tmp_path):
    ingest_batch.fn(generated(), 1000)
    before = counts(db)
    with pytest.raises(SourceFileError):
        load_source.fn(str(write(tmp_path / "bad.json", "[oops")), "auto", None, None, DEFAULT_LABEL_RULE)
    assert counts(db) == before


def test_labeled_is_detected_for_files():
    assert infer_labeled([{"final_score": 1}, {"final_score": 2}, "x"], "auto")
    assert not infer_labeled([{"age": 1}], "auto")
    assert infer_labeled([{"age": 1}], "labeled") and not infer_labeled([{"final_score": 1}], "unlabeled")


def test_hand_made_bad_records_land_in_quarantine_with_their_reason(db, reference_record):
    def variant(student_id, **changes):
        return {**reference_record, "student_id": student_id, **changes}

    string_grade = variant(10, courses=[{"course": "Statistics", "credits": 3, "grades": [74, "57"]}])
    no_id = {k: v for k, v in reference_record.items() if k != "student_id"}
    records = [reference_record, string_grade, variant(11, age=-4), variant(12, courses="Statistics"), no_id,
               variant(3), "not an object", variant(13)]
    result = ingest_batch.fn(BatchInput("bad", False, records, {"type": "test"}), 1000)
    assert (result.accepted, result.rejected) == (2, 6)
    reasons = {doc["position"]: (doc["reasons"][0]["field"], doc["reasons"][0]["rule"], doc["reasons"][0]["value"])
               for doc in db[STUDENTS_REJECTED].find({"batch_id": "bad"})}
    assert reasons == {
        1: ("courses[0].grades[1]", "type", "57"), 2: ("age", "range", -4), 3: ("courses", "type", "Statistics"),
        4: ("student_id", "required", None), 5: ("student_id", "unique", 3), 6: ("$", "type", "not an object"),
    }
    again = ingest_batch.fn(BatchInput("bad", False, records, {"type": "test"}), 1000)
    assert again.rejected_inserted == 0 and db[STUDENTS_REJECTED].count_documents({}) == 6
    assert db[STUDENTS_RAW].count_documents({}) + db[STUDENTS_REJECTED].count_documents({}) == len(records)


def test_every_kind_of_generated_damage_is_caught(db):
    from tasks.data.synthetic import MALFORMATIONS

    result = ingest_batch.fn(generated(n=600, seed=15, malformed_rate=0.1), 1000)
    rules = {(doc["reasons"][0]["field"].split("[")[0].split(".")[0], doc["reasons"][0]["rule"])
             for doc in db[STUDENTS_REJECTED].find()}
    assert rules == {("student_id", "required"), ("courses", "type"), ("age", "range"), ("courses", "max_length"),
                     ("courses", "range"), ("$", "type"), ("student_id", "unique")}
    assert len(MALFORMATIONS) == 8 and result.accepted + result.rejected == 600


def stored_batch(db, batch_id: str) -> dict:
    """What a batch left in the store, without the parts that differ between two ingestions (ids, times)."""
    def plain(docs):
        return [{k: v for k, v in doc.items() if k not in ("_id", "rejected_at")}
                for doc in docs]

    raw = [{**doc, "_ingest": doc["_ingest"]["position"]}
           for doc in plain(db[STUDENTS_RAW].find({"batch_id": batch_id}, sort=[("student_id", 1)]))]
    batch = db[BATCHES].find_one({"batch_id": batch_id})
    return {"raw": raw,
            "rejected": plain(db[STUDENTS_REJECTED].find({"batch_id": batch_id}, sort=[("position", 1)])),
            "truth": plain(db[STUDENTS_TRUTH].find({"batch_id": batch_id}, sort=[("bucket", 1)])),
            "ledger": {key: batch[key] for key in ("size", "accepted", "rejected", "truth_rows", "sanity")}}


def test_a_generated_batch_streams_from_its_files_a_part_at_a_time_and_stores_what_a_whole_one_does(
        db, monkeypatch):
    """The generator writes JSON Lines and ingestion reads them 7 records at a time: duplicates across parts,
    positions, truth buckets and the sanity findings are exactly those of the batch ingested whole in memory."""
    import tasks.data.ingest as ingest
    from tasks.data.tasks import generate_students

    knobs = DriftKnobs(malformed_rate=0.15, missing_rate=0.1)
    streamed = generate_students.fn(120, 31, True, knobs, DEFAULT_LABEL_RULE)
    assert streamed.records == [] and streamed.count == 120 and streamed.records_file.endswith(".jsonl")
    whole = generate_batch(120, 31, True, knobs)
    in_memory = BatchInput("whole", True, whole.records, {"type": "generator", "seed": 31}, whole.truth)
    monkeypatch.setattr(ingest, "INGEST_CHUNK", 7)
    part_result = ingest_batch.fn(streamed, 25)
    monkeypatch.setattr(ingest, "INGEST_CHUNK", 10_000)
    whole_result = ingest_batch.fn(in_memory, 25)
    assert part_result.rejected > 10 and part_result.accepted + part_result.rejected == 120
    assert (part_result.accepted, part_result.rejected) == (whole_result.accepted, whole_result.rejected)
    parts, wholes = stored_batch(db, streamed.batch_id), stored_batch(db, "whole")
    assert [{**d, "batch_id": None} for d in parts["raw"]] == [{**d, "batch_id": None} for d in wholes["raw"]]
    for layer in ("rejected", "truth"):
        assert [{**d, "batch_id": None} for d in parts[layer]] == [{**d, "batch_id": None} for d in wholes[layer]]
    assert len(parts["raw"]) == 105 and [bucket["rows"] for bucket in parts["truth"]] == [25, 25, 25, 25, 5]
    assert parts["ledger"] == wholes["ledger"]
    assert any(doc["reasons"][0]["rule"] == "unique" for doc in parts["rejected"])
    again = ingest_batch.fn(streamed, 25)  # re-run from the files: nothing new
    assert (again.raw_inserted, again.rejected_inserted) == (0, 0)


def test_a_student_id_repeated_in_a_later_part_is_a_duplicate(db, reference_record, monkeypatch):
    import tasks.data.ingest as ingest

    monkeypatch.setattr(ingest, "INGEST_CHUNK", 2)
    records = [reference_record, {**reference_record, "student_id": 4}, {**reference_record, "age": 30}]
    result = ingest_batch.fn(BatchInput("twice", False, records, {"type": "test"}), 1000)
    assert (result.accepted, result.rejected) == (2, 1)
    rejected = db[STUDENTS_REJECTED].find_one({"batch_id": "twice"})
    assert (rejected["position"], rejected["reasons"][0]["rule"], rejected["reasons"][0]["expected"]) == (
        2, "unique", "first seen at position 0")


def test_a_damaged_generated_file_is_a_clear_error_and_keeps_what_was_stored(db, monkeypatch):
    from pathlib import Path

    import tasks.data.ingest as ingest
    from tasks.data.tasks import generate_students

    monkeypatch.setattr(ingest, "INGEST_CHUNK", 10)
    batch = generate_students.fn(30, 41, True, DriftKnobs(), DEFAULT_LABEL_RULE)
    path = Path(batch.records_file)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:14]) + '{"student_id": 41000015, "age"\n' + "".join(lines[15:]))
    with pytest.raises(ingest.BatchFileError, match=r"damaged at line 15: run again"):
        ingest_batch.fn(batch, 1000)
    assert db[STUDENTS_RAW].count_documents({}) == 10  # the first part stays stored
    path.unlink()
    with pytest.raises(ingest.BatchFileError, match="is gone"):
        ingest_batch.fn(batch, 1000)
