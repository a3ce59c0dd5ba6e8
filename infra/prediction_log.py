"""The prediction log, kept in buckets: one document per scored part of a batch (``PART`` students) and one per
turn of the service's requests, the predictions in its ``p`` array and the students in ``students`` (a multikey
index: one student's predictions stay one index look-up).

MongoDB's own answer for high-volume, append-mostly data (the bucket pattern), measured on the local server before
it was chosen (``benchmarks/bench_log_shape.py``: its "product log" row is this module's own writes).

What a prediction shares with the rest of its bucket (model, version, arm, when, the A/B test, the scored batch)
sits once in the bucket's head; the rest (student, answer, request, caller, provenance, reasons) in its entry, the
three fields every entry has under short names (``SHORT``). Readers never see the buckets: ``flat`` is the pipeline
that unwinds them back into one document per prediction with the fields a document per prediction had, so every
query, ``$group`` and the trust rule (``COUNTED``) read as before. What picks buckets (``students``, the scored
batch, head fields) goes first, on indexes; the entry's own conditions follow the unwind.

Guarantees kept:
- no answer before its prediction is durable: the service inserts its turn's buckets (acknowledged) before it
  answers;
- exactly once: a scored part's key is (batch, model, version, its first student), unique; before writing, the
  students already logged for the batch, model and version are left out, so a retry or a re-score adds nothing and
  two writers racing meet the unique key;
- who asked: each served entry keeps its caller and provenance.

A store from before the buckets keeps its log in ``predictions`` (a document each): the first use of the log in a
process moves it, a page at a time (each page's predictions counted in before its documents go), then drops it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from infra.collections import IN_CHUNK, LEGACY_PREDICTIONS, PREDICTIONS, ensure_indexes
from infra.writes import WriteCounts

PART = 500  # predictions per scored bucket
BOOKKEEPING = ("students", "n", "part")  # the bucket's own fields: never a prediction's
SHORT = {"student_id": "s", "prediction": "y", "probability": "pr"}  # what every entry has, under short names
# what the predictions of a bucket share (the scored batch's id only for scored parts: a turn of the service
# answers many requests, each its own "api:<request>" batch, kept per entry)
SERVED_HEAD = ("model", "version", "arm", "scored_at", "source", "ab_test", "shadow", "pinned")
SCORED_HEAD = ("batch_id", *SERVED_HEAD)
ROLLUP_FIELDS = ("rollup_pass", "rolled_up_at")  # stamped on buckets by the roll-up (tasks/scoring/store.py)
MIGRATION_PAGE = 5_000

logger = logging.getLogger(__name__)
_ready: set[tuple[int, str]] = set()
_ready_lock = threading.Lock()


def ready(db) -> None:
    """The log's indexes, and a log from before the buckets moved into them: once per process and database."""
    key = (id(db.client), db.name)
    if key in _ready:
        return
    with _ready_lock:
        if key in _ready:
            return
        ensure_indexes(db, [PREDICTIONS])
        if LEGACY_PREDICTIONS in db.list_collection_names():
            migrate(db)
        _ready.add(key)


def flat(buckets: dict | None = None, entries: dict | None = None, students: list | None = None) -> list[dict]:
    """The stages that turn the buckets matching ``buckets`` into one document per prediction (the bucket's head
    and the entry's fields; ``_id`` is the bucket's), then keep those matching ``entries``. With ``students``, only
    their entries are unwound (a student's page unwinds one entry of a bucket, not the whole bucket).

    The bucket's own fields go before the unwind: the local server copies what is left of the document once per
    entry (a bucket of 500 unwound with its student list costs ~8x as much)."""
    pick = [{"$set": {"p": {"$filter": {"input": "$p", "as": "e", "cond": {"$in": ["$$e.s", students]}}}}}] \
        if students is not None else []
    named = {name: f"$p.{short}" for name, short in SHORT.items()}
    return [*([{"$match": buckets}] if buckets else []), {"$project": dict.fromkeys(BOOKKEEPING, 0)}, *pick,
            {"$unwind": "$p"}, {"$replaceWith": {"$mergeObjects": ["$$ROOT", "$p", named]}},
            {"$project": {"p": 0, **dict.fromkeys(SHORT.values(), 0)}},
            *([{"$match": entries}] if entries else [])]


def predictions(db, buckets: dict | None, entries: dict | None = None, fields: Iterable[str] | None = None,
                newest_first: int | None = None, students: list | None = None) -> list[dict]:
    """The predictions of the buckets matching ``buckets`` that match ``entries`` (of ``students`` only, when
    given), as documents (only ``fields`` when given, never ``_id``); with ``newest_first``, that many, newest
    first."""
    ready(db)
    tail: list[dict] = []
    if newest_first:
        tail = [{"$sort": {"scored_at": -1}}, {"$limit": newest_first}]
    projection = {"_id": 0, **dict.fromkeys(fields, 1)} if fields else {"_id": 0}
    return list(db[PREDICTIONS].aggregate([*flat(buckets, entries, students), *tail, {"$project": projection}]))


def predictions_of(db, students: Iterable[int], buckets: dict | None = None, entries: dict | None = None,
                   fields: Iterable[str] | None = None, newest_first: int | None = None) -> list[dict]:
    """The predictions of these students (``IN_CHUNK`` at a time, see ``find_in``), in buckets and entries that
    also match ``buckets`` and ``entries``."""
    students, out = list(students), []
    for start in range(0, len(students), IN_CHUNK):
        chunk = students[start:start + IN_CHUNK]
        out += predictions(db, {**(buckets or {}), "students": {"$in": chunk}}, entries, fields, newest_first,
                           students=chunk)
    return out


def logged_students(db, students: Iterable[int]) -> set[int]:
    """The students among ``students`` that any prediction was logged for."""
    ready(db)
    students, found = list(students), set()
    for start in range(0, len(students), IN_CHUNK):
        chunk = students[start:start + IN_CHUNK]
        for bucket in db[PREDICTIONS].find({"students": {"$in": chunk}}, {"_id": 0, "students": 1}):
            found.update(bucket["students"])
    return found & set(students)


def count(db, buckets: dict | None = None) -> int:
    """How many predictions the buckets matching ``buckets`` hold."""
    ready(db)
    rows = list(db[PREDICTIONS].aggregate([*([{"$match": buckets}] if buckets else []),
                                           {"$group": {"_id": None, "n": {"$sum": "$n"}}}]))
    return rows[0]["n"] if rows else 0


def _bucket(documents: list[dict], head: tuple[str, ...], scored: bool) -> dict:
    """One bucket of ``documents`` (which share ``head``): a scored part's key is its first student; a served
    turn's bucket is keyed by a new ObjectId (the unique index holds both)."""
    first = documents[0]
    shared = {name: first[name] for name in head if name in first}
    entries = [{SHORT.get(k, k): v for k, v in doc.items() if k not in shared and k != "_id"} for doc in documents]
    students = [doc["student_id"] for doc in documents]
    return {**shared, "part": students[0] if scored else ObjectId(), "students": students, "n": len(entries),
            "p": entries}


def _grouped(documents: list[dict], head: tuple[str, ...]) -> list[list[dict]]:
    """``documents`` in groups that share every field of ``head`` (absent and present apart), in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for doc in documents:
        groups.setdefault(tuple((name in doc, repr(doc.get(name))) for name in head), []).append(doc)
    return list(groups.values())


def log_scored(db, documents: list[dict], head: tuple[str, ...] = SCORED_HEAD) -> WriteCounts:
    """Log a scored batch's predictions exactly once, in parts of ``PART`` students: those already logged for
    their batch, model and version are left out (``unchanged``), the rest inserted (a part another writer logged a
    moment ago meets the unique key: ``unchanged`` too). ``inserted`` and ``unchanged`` count predictions."""
    ready(db)
    return _log_parts(db, documents, head)


def _log_parts(db, documents: list[dict], head: tuple[str, ...]) -> WriteCounts:
    counts = WriteCounts()
    for group in _grouped(documents, head):
        first = group[0]
        scope = {"batch_id": first["batch_id"], "model": first["model"], "version": first["version"]}
        logged: set[int] = set()
        for bucket in db[PREDICTIONS].find(scope, {"_id": 0, "students": 1}):
            logged.update(bucket["students"])
        new = sorted((doc for doc in group if doc["student_id"] not in logged), key=lambda doc: doc["student_id"])
        counts.unchanged += len(group) - len(new)
        for start in range(0, len(new), PART):
            part = new[start:start + PART]
            bucket = _bucket(part, head, scored=True)
            if "_id" in first:  # a migrated prediction keeps the moment it was logged (roll-up passes claim by it)
                bucket["_id"] = _id_at(min(doc["_id"] for doc in part))
            try:
                db[PREDICTIONS].insert_one(bucket)
                counts.inserted += len(part)
            except DuplicateKeyError:  # another writer logged this part a moment ago
                counts.unchanged += len(part)
    return counts


def log_served(db, documents: list[dict]) -> None:
    """Log a turn of the service's predictions: one bucket per model version, arm and test (usually one), in one
    ordered insert, acknowledged before anyone is answered. An error reaches the caller: never an unlogged answer."""
    if not documents:
        return
    ready(db)
    db[PREDICTIONS].insert_many([_bucket(group, SERVED_HEAD, scored=False)
                                 for group in _grouped(documents, SERVED_HEAD)], ordered=True)


def erase_student(db, student_id: int) -> int:
    """Take the student's predictions out of every bucket (a bucket left empty goes); how many were taken."""
    ready(db)
    taken = 0
    for bucket in list(db[PREDICTIONS].find({"students": student_id}, {"students": 1})):
        mine = bucket["students"].count(student_id)
        db[PREDICTIONS].update_one({"_id": bucket["_id"]}, {"$pull": {"p": {"s": student_id},
                                                                      "students": student_id},
                                                             "$inc": {"n": -mine}})
        taken += mine
    db[PREDICTIONS].delete_many({"n": {"$lte": 0}})
    return taken


def remap(db, table: dict[int, int]) -> int:
    """Replace each old id of ``table`` by its new one in every bucket; how many buckets changed."""
    ready(db)
    olds, changed = list(table), 0
    for start in range(0, len(olds), IN_CHUNK):
        for bucket in list(db[PREDICTIONS].find({"students": {"$in": olds[start:start + IN_CHUNK]}},
                                                {"students": 1, "p": 1})):
            entries = [{**entry, "s": table.get(entry["s"], entry["s"])} for entry in bucket["p"]]
            students = [table.get(student, student) for student in bucket["students"]]
            db[PREDICTIONS].update_one({"_id": bucket["_id"]}, {"$set": {"p": entries, "students": students}})
            changed += 1
    return changed


def _id_at(legacy: ObjectId) -> ObjectId:
    """A new id made at the moment ``legacy`` was (its first four bytes), unique by the rest."""
    return ObjectId(legacy.binary[:4] + ObjectId().binary[4:])


def migrate(db) -> int:
    """Move a log kept a document per prediction (``predictions``) into buckets, a page at a time: each page's
    predictions go into buckets of their batch, model, version, shared fields, roll-up pass and day (the bucket
    keeps the moment the first was logged, so roll-up passes still claim it by ``_id``); only when the page's every
    prediction is counted in the buckets (inserted now, or there already after an interrupted move) are its
    documents deleted. Then the old collection is dropped. Returns how many predictions moved."""
    ensure_indexes(db, [PREDICTIONS])
    legacy, moved = db[LEGACY_PREDICTIONS], 0
    while page := list(legacy.find({}).sort("_id", 1).limit(MIGRATION_PAGE)):
        counts = WriteCounts()
        dated = [{**doc, "day": doc["_id"].generation_time.date().isoformat()} for doc in page]
        for group in _grouped(dated, (*SCORED_HEAD, *ROLLUP_FIELDS, "day")):
            counts += _log_parts(db, [{k: v for k, v in doc.items() if k != "day"} for doc in group],
                                 (*SCORED_HEAD, *ROLLUP_FIELDS))
        if counts.inserted + counts.unchanged != len(page):
            raise RuntimeError(f"moving the prediction log: a page of {len(page)} predictions counted "
                               f"{counts.inserted + counts.unchanged} in buckets; nothing of it was deleted")
        legacy.delete_many({"_id": {"$in": [doc["_id"] for doc in page]}})
        moved += counts.inserted
    db.drop_collection(LEGACY_PREDICTIONS)
    logger.warning("the prediction log moved into buckets (%d predictions); the old collection is dropped", moved)
    return moved
