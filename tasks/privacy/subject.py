"""One student's data, found, exported and erased in every place the project keeps it.

``PLACES`` names each collection that holds a student's id and where in its documents; ``NO_STUDENTS`` names each
collection that holds none, and why. A test lists the collections of a store after every flow has run and fails
on one that is in neither: a new collection cannot hold students without being found, exported and erased here.
Files are searched too: the kept report files in GridFS (Data Docs pages, run reports), the exported features on
disk (Parquet and CSV per batch), the generated batches kept as JSON Lines, and the local copies of reports.

Erasure deletes the student's own documents (raw, rejected, features, predictions, feedback), takes their id out
of documents shared with other students (a truth bucket's aligned arrays, a split's id lists, a gate's holdout,
a batch's sanity examples), rewrites exported files without their rows, blanks their id where a page quotes it, and
anonymises
the audit log's entries about them (who read what, when, stays). What it leaves is a record of the erasure: when,
by whom, how many documents of each kind, which files and which model versions were trained on the student's rows
(their binaries cannot forget a row: retrain through the gate, or keep them under a documented legal basis), and a
digest of the pseudonym so that a later import of an old export cannot bring the student back.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import json_util
from gridfs import GridFSBucket

from infra import prediction_log
from infra.collections import (
    AB_TESTS,
    ALERTS,
    ALIAS_HISTORY,
    API_KEYS,
    API_SESSIONS,
    AUDIT,
    BATCHES,
    COUNTERS,
    DRIFT_REPORTS,
    ERASURES,
    EVALUATIONS,
    FEEDBACK,
    LEDGER,
    META,
    MODEL_ALIASES,
    MODELS,
    PERFORMANCE,
    PREDICTION_ROLLUPS,
    PREDICTIONS,
    REFERENCES,
    REPORT_FILES,
    ROLLUP_PASSES,
    RUN_REPORTS,
    SPLITS,
    STUDENTS_FEATURES,
    STUDENTS_RAW,
    STUDENTS_REJECTED,
    STUDENTS_TRUTH,
)
from infra.files import write_atomically
from infra.pseudonyms import erased_digest as digest
from infra.settings import get_settings
from infra.storage import Db

ERASED = "erased"


@dataclass(frozen=True)
class Place:
    """A collection that holds students: ``paths`` where an id sits in its documents, and how erasure treats a
    document found there: ``delete`` (the document is the student's), ``anonymise`` (keep it, blank the id),
    ``aligned`` (remove the student's position from the document's aligned arrays), ``pull`` (take the id out of
    the lists at ``paths``), ``entries`` (the prediction log's buckets: the student's entries are theirs, found,
    taken out and re-keyed by ``infra/prediction_log.py``)."""

    collection: str
    kind: str
    paths: tuple[str, ...] = ("student_id",)
    erase: str = "delete"


PLACES: tuple[Place, ...] = (
    Place(STUDENTS_RAW, "raw records"),
    Place(STUDENTS_REJECTED, "rejected records"),
    Place(STUDENTS_FEATURES, "features"),
    Place(PREDICTIONS, "predictions", ("students",), erase="entries"),
    Place(FEEDBACK, "feedback"),
    Place(AUDIT, "audit log", erase="anonymise"),
    Place(STUDENTS_TRUTH, "generator's truth", erase="aligned"),
    Place(SPLITS, "training splits", ("ids.train", "ids.val", "ids.test"), erase="pull"),
    Place(BATCHES, "batch checks", ("sanity.numbers.first",), erase="pull"),
    Place(EVALUATIONS, "promotion gate holdouts", ("holdout_ids",), erase="pull"),
)
TRUTH_ARRAYS = ("student_id", "p_high_performer", "expected_score")

# collections that hold no student's id, and why (a test holds every collection of a store to one of the two lists)
NO_STUDENTS: dict[str, str] = {
    MODELS: "model versions: metrics, lineage by batch and split id, never rows",
    f"{MODELS}.files": "model binaries (GridFS): fitted parameters", f"{MODELS}.chunks": "model binaries",
    REFERENCES: "drift references: which version, where its file is",
    "references.files": "drift reference files (GridFS): feature values without ids",
    "references.chunks": "drift reference files",
    f"{REPORT_FILES}.files": "report files (GridFS): searched by their content (see files)",
    f"{REPORT_FILES}.chunks": "report files: searched by their content",
    COUNTERS: "sequence numbers", META: "facts about the store", MODEL_ALIASES: "champion and challenger names",
    ALIAS_HISTORY: "promotions", DRIFT_REPORTS: "per-feature statistics",
    AB_TESTS: "A/B tests: arms and their counts", ALERTS: "alerts: conditions and figures",
    API_KEYS: "the service's keys (hashed)", API_SESSIONS: "dashboard sessions", PERFORMANCE: "figures per batch",
    RUN_REPORTS: "what a run found: figures, no rows", PREDICTION_ROLLUPS: "counts per day, version and arm",
    ROLLUP_PASSES: "roll-up bookkeeping", ERASURES: "erasures: digests of pseudonyms, never the id",
}
TEXT_FILE = re.compile(r"\.(html?|json|md|csv|txt|jsonl)$")


def _mentions(student_id: int) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![0-9.])" + str(student_id).encode() + rb"(?![0-9])")


@dataclass
class Found:
    """Everything held on one student: documents per place, and files (store and disk) that hold them."""

    student_id: int
    documents: dict[str, list[dict]]
    files: dict[str, list]  # file name -> the rows (exports) or the lines (pages) that hold the student

    @property
    def count(self) -> int:
        """Documents and files together: each a place the student is held."""
        return sum(len(docs) for docs in self.documents.values()) + len(self.files)

    def summary(self) -> dict[str, int]:
        """How many documents of each kind, and files."""
        return {**{kind: len(docs) for kind, docs in self.documents.items() if docs}, "files": len(self.files)}


def _query(place: Place, student_id: int) -> dict:
    return {"$or": [{path: student_id} for path in place.paths]} if len(place.paths) > 1 else {
        place.paths[0]: student_id}


def find_documents(db: Db, student_id: int) -> dict[str, list[dict]]:
    """Each place's documents that hold ``student_id`` (the prediction log's: the student's predictions)."""
    return {place.kind: prediction_log.predictions_of(db, [student_id])
            if place.erase == "entries" else list(db[place.collection].find(_query(place, student_id)))
            for place in PLACES}


def store_files(db: Db, student_id: int) -> Iterator[tuple[str, Any, list[str]]]:
    """(file name, GridFS id, the lines that mention the student) of each kept text file that does."""
    pattern, bucket = _mentions(student_id), GridFSBucket(db, bucket_name=REPORT_FILES)
    for meta in db[f"{REPORT_FILES}.files"].find({}, {"filename": 1}):
        if not TEXT_FILE.search(meta["filename"]):
            continue
        data = bucket.open_download_stream(meta["_id"]).read()
        if pattern.search(data):
            lines = [line.decode("utf-8", "replace")[:300] for line in data.splitlines() if pattern.search(line)]
            yield meta["filename"], meta["_id"], lines


def disk_files(student_id: int) -> Iterator[tuple[Path, list]]:
    """(file, rows or lines) of each file on disk that holds the student: exported features (Parquet by its
    student_id column; CSV, JSON Lines and reports by their text)."""
    import pyarrow.parquet as pq

    settings = get_settings()
    pattern = _mentions(student_id)
    for root in (settings.export_path, settings.raw_path, settings.artifacts_path):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            if path.suffix == ".parquet":
                table = pq.read_table(path)
                if "student_id" in table.column_names:
                    rows = [row for row in table.to_pylist() if row["student_id"] == student_id]
                    if rows:
                        yield path, rows
            elif TEXT_FILE.search(path.name):
                data = path.read_bytes()
                if pattern.search(data):
                    yield path, [line.decode("utf-8", "replace")[:2000] for line in data.splitlines()
                                 if pattern.search(line)]


def find(db: Db, student_id: int) -> Found:
    """Every document and file that holds ``student_id``."""
    files: dict[str, list] = {f"store:{name}": lines for name, _, lines in store_files(db, student_id)}
    files |= {f"disk:{path}": rows for path, rows in disk_files(student_id)}
    return Found(student_id, find_documents(db, student_id), files)


def trained_on(db: Db, found: Found) -> list[dict]:
    """The model versions whose training data held the student: their split lists the student, or their lineage's
    batches include a batch of the student's features."""
    splits = [doc["split_id"] for doc in found.documents.get("training splits", [])]
    batches = sorted({doc["batch_id"] for doc in found.documents.get("features", [])})
    query = {"$or": [{"lineage.split_id": {"$in": splits}}, {"lineage.batches": {"$in": batches}}]}
    return [{"name": m["name"], "version": m["version"]}
            for m in db[MODELS].find(query, {"name": 1, "version": 1}).sort([("name", 1), ("version", 1)])]


def export(db: Db, student_id: int) -> bytes:
    """One student's data as a ZIP a school can hand over: ``documents.json`` (every document, by kind),
    ``files.json`` (each file that holds them, with the rows or lines that do), ``models.json`` (the model
    versions trained on their rows) and a README saying what each part is."""
    import zipfile

    found = find(db, student_id)
    documents = {kind: [{k: v for k, v in doc.items() if k != "_id"} for doc in docs]
                 for kind, docs in found.documents.items() if docs}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", EXPORT_README.format(student=student_id, at=datetime.now(UTC).isoformat(
            timespec="seconds"), places=found.count, summary=json.dumps(found.summary())))
        archive.writestr("documents.json", json_util.dumps(documents, indent=1,
                                                           json_options=json_util.RELAXED_JSON_OPTIONS))
        archive.writestr("files.json", json.dumps(found.files, indent=1, default=str))
        archive.writestr("models.json", json.dumps(trained_on(db, found), indent=1))
    return buffer.getvalue()


EXPORT_README = """Everything this pipeline holds on the student with pseudonym {student} (exported {at}).

The school's own id for this student is not stored anywhere: the pipeline keeps a keyed pseudonym instead
(python -m tasks.privacy reveal maps it back for someone who holds the key and the school's export).

documents.json  every document that holds the student, by kind (raw records, features, predictions, ...)
files.json      every file that holds the student: exported features (the rows), pages that quote the id (the lines)
models.json     the model versions trained on data that included the student (a binary holds no row)

{places} places in all: {summary}
"""


def erase(db: Db, student_id: int, by: str) -> dict:
    """Erase the student everywhere ``find`` finds them; return the erasure record (stored in ``erasures``)."""
    found = find(db, student_id)
    models = trained_on(db, found)
    record = {"erasure_id": uuid.uuid4().hex[:16], "at": datetime.now(UTC), "by": by,
              "digest": digest(student_id), "found": found.summary(),
              "files": sorted(found.files), "models": models}
    db[ERASURES].insert_one(record)  # first: a crash mid-way leaves the digest, and erase can simply run again
    for place in PLACES:
        docs = found.documents[place.kind]
        if not docs:
            continue
        if place.erase == "entries":
            prediction_log.erase_student(db, student_id)
        elif place.erase == "delete":
            db[place.collection].delete_many({"_id": {"$in": [doc["_id"] for doc in docs]}})
            if place.collection in LEDGER:  # the batches' counts (the run summary sums them) hold one fewer
                for doc in docs:
                    db[BATCHES].update_one({"batch_id": doc.get("batch_id")}, {"$inc": {LEDGER[place.collection]: -1}})
        elif place.erase == "anonymise":
            db[place.collection].update_many(_query(place, student_id), {"$set": {"student_id": ERASED}})
        elif place.erase == "aligned":
            for doc in docs:
                keep = [i for i, sid in enumerate(doc["student_id"]) if sid != student_id]
                db[place.collection].update_one({"_id": doc["_id"]}, {"$set": {
                    **{name: [doc[name][i] for i in keep] for name in TRUTH_ARRAYS if name in doc},
                    "rows": len(keep)}})
                db[BATCHES].update_one({"batch_id": doc.get("batch_id")},
                                       {"$inc": {LEDGER[place.collection]: len(keep) - len(doc["student_id"])}})
        else:
            for doc in docs:
                db[place.collection].update_one({"_id": doc["_id"]}, {"$set": _pulled(doc, place.paths, student_id)})
    _erase_store_files(db, student_id)
    _erase_disk_files(student_id)
    if models:
        db[MODELS].update_many({"$or": [{"name": m["name"], "version": m["version"]} for m in models]},
                               {"$addToSet": {"privacy.trained_on_erased": record["erasure_id"]}})
    record.pop("_id", None)
    return record


def _pulled(doc: dict, paths: tuple[str, ...], student_id: int) -> dict:
    """The top-level fields of ``doc`` under ``paths`` with ``student_id`` taken out of their lists (lists of
    documents are walked: a batch's sanity checks each hold a list of example ids)."""
    def strip(value: Any, rest: list[str]) -> Any:
        if isinstance(value, list):
            if not rest:
                return [item for item in value if item != student_id]
            return [strip(item, rest) for item in value]
        if isinstance(value, dict) and rest and rest[0] in value:
            return {**value, rest[0]: strip(value[rest[0]], rest[1:])}
        return value

    changed: dict[str, Any] = {}
    for path in paths:
        head, *rest = path.split(".")
        changed[head] = strip(changed.get(head, doc.get(head)), rest)
    return changed


def _erase_store_files(db: Db, student_id: int) -> None:
    """Blank the student's id where a kept page quotes it (the page stays, with "erased" in its place)."""
    from infra.report_files import save_file

    pattern, bucket = _mentions(student_id), GridFSBucket(db, bucket_name=REPORT_FILES)
    for name, file_id, _ in list(store_files(db, student_id)):
        stream = bucket.open_download_stream(file_id)
        data, meta = stream.read(), dict(stream.metadata or {})
        save_file(db, name, pattern.sub(ERASED.encode(), data), meta.pop("content_type", "text/plain"), **meta)


def _erase_disk_files(student_id: int) -> None:
    """Rewrite each file on disk without the student: a Parquet or CSV export without their row, a JSON Lines
    file without their line, any other text with "erased" in place of their id."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pattern = _mentions(student_id)
    for path, _ in list(disk_files(student_id)):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            kept = table.filter(pc.not_equal(table["student_id"], student_id))
            buffer = io.BytesIO()
            pq.write_table(kept, buffer)
            _rewrite(path, buffer.getvalue())
        elif path.suffix == ".csv":
            text = path.read_text(encoding="utf-8")
            rows = list(csv.reader(io.StringIO(text, newline="")))
            column = rows[0].index("student_id") if rows and "student_id" in rows[0] else None
            out = io.StringIO(newline="")
            writer = csv.writer(out, lineterminator="\r\n")
            for i, row in enumerate(rows):
                if i and column is not None and row[column] == str(student_id):
                    continue
                writer.writerow(row if column is not None else [pattern.sub(ERASED.encode(), c.encode()).decode()
                                                                for c in row])
            _rewrite(path, out.getvalue().encode("utf-8"))
        elif path.suffix == ".jsonl":
            lines = path.read_bytes().splitlines(keepends=True)
            _rewrite(path, b"".join(line for line in lines if not pattern.search(line)))
        else:
            _rewrite(path, pattern.sub(ERASED.encode(), path.read_bytes()))


def _rewrite(path: Path, data: bytes) -> None:
    write_atomically(path, lambda tmp: tmp.write_bytes(data))




def remap(db: Db, table: dict[int, int]) -> dict[str, int]:
    """Replace each old id of ``table`` by its new one in every place and in the exported files on disk (a key's
    rotation, or plain ids made pseudonyms); how many documents of each kind and files changed. Kept pages are
    left: they are rewritten by the next run of their batch, and expire with the reports' retention."""
    from pymongo import UpdateMany

    changed: dict[str, int] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, list):
            return [swap(item) for item in value]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return table.get(value, value) if isinstance(value, int) and not isinstance(value, bool) else value

    for place in PLACES:
        if place.erase == "entries":
            changed[place.kind] = prediction_log.remap(db, table)
            continue
        if place.paths == ("student_id",) and place.erase in ("delete", "anonymise"):
            operations = [UpdateMany({"student_id": old}, {"$set": {"student_id": new}}) for old, new in table.items()]
            for start in range(0, len(operations), 500):
                result = db[place.collection].bulk_write(operations[start:start + 500], ordered=False)
                changed[place.kind] = changed.get(place.kind, 0) + result.modified_count
            continue
        heads = {path.split(".")[0] for path in place.paths}
        for doc in db[place.collection].find({}, {head: 1 for head in heads}):
            fields = {head: swap(doc.get(head)) for head in heads if head in doc}
            if any(fields[head] != doc.get(head) for head in fields):
                if place.erase == "aligned":  # the truth's aligned arrays stay sorted by student
                    full = {**db[place.collection].find_one({"_id": doc["_id"]}), **fields}
                    order = sorted(range(len(full["student_id"])), key=full["student_id"].__getitem__)
                    fields = {name: [full[name][i] for i in order] for name in TRUTH_ARRAYS if name in full}
                db[place.collection].update_one({"_id": doc["_id"]}, {"$set": fields})
                changed[place.kind] = changed.get(place.kind, 0) + 1
    changed["files"] = _remap_exports(table)
    return changed


def _remap_exports(table: dict[int, int]) -> int:
    """Rewrite the student_id column of every exported Parquet and CSV file; how many files changed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root, rewritten = get_settings().export_path, 0
    if not root.is_dir():
        return 0
    for path in sorted(root.rglob("features.parquet")):
        table_ = pq.read_table(path)
        if "student_id" not in table_.column_names:
            continue
        ids = [table.get(sid, sid) for sid in table_["student_id"].to_pylist()]
        column = table_.column_names.index("student_id")
        field = table_.schema.field(column)
        swapped = table_.set_column(column, field, pa.array(ids, field.type))
        buffer = io.BytesIO()
        pq.write_table(swapped, buffer)
        _rewrite(path, buffer.getvalue())
        rewritten += 1
    for path in sorted(root.rglob("features.csv")):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        if not rows or "student_id" not in rows[0]:
            continue
        column, out = rows[0].index("student_id"), io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(rows[0])
        for row in rows[1:]:
            if row[column].isdigit():
                row[column] = str(table.get(int(row[column]), int(row[column])))
            writer.writerow(row)
        _rewrite(path, out.getvalue().encode("utf-8"))
        rewritten += 1
    return rewritten
