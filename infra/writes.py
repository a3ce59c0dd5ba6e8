"""Idempotent writes keyed by a data contract's unique key, and the helper that stores a pipeline's output.

On a real server, writes are bulk upserts and a pipeline's output goes through ``$merge``: the work stays
inside MongoDB and concurrent writers are safe. The embedded engine has no ``$merge`` and upserts there
cost a scan each, but it also has exactly one writer process (the seam's lock), so there the same
semantics are reached by reading the existing keys of a chunk and inserting or replacing what differs.
Either way a re-run writes nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice

from pymongo import ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from infra.storage import is_real_server

DUPLICATE_KEY = 11000
CHUNK = 1000


@dataclass
class WriteCounts:
    """What an idempotent write did. ``unchanged``: already there as it was; ``kept_newer``: a newer one won."""

    inserted: int = 0
    modified: int = 0
    unchanged: int = 0
    kept_newer: int = 0

    def add(self, other: "WriteCounts") -> None:
        self.inserted += other.inserted
        self.modified += other.modified
        self.unchanged += other.unchanged
        self.kept_newer += other.kept_newer


def write_documents(
    collection,
    documents: Iterable[dict],
    key: Sequence[str],
    replace: bool = False,
    keep_newer: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> WriteCounts:
    """Store documents under their unique ``key``.

    ``replace=False``: insert-if-absent (immutable layers: an existing document is never touched).
    ``replace=True``: replace the document under the key, unless ``keep_newer`` names a field in which the
    stored document is greater (then the stored one stays). Documents must not carry ``_id``.
    """
    counts = WriteCounts()
    done = 0
    real = is_real_server(collection.database)
    iterator = iter(documents)
    while chunk := list(islice(iterator, CHUNK)):
        if real:
            counts.add(_server_write(collection, chunk, key, replace, keep_newer))
        else:
            counts.add(_embedded_write(collection, chunk, key, replace, keep_newer))
        done += len(chunk)
        if on_progress:
            on_progress(done)
    return counts


def _server_write(collection, chunk: list[dict], key: Sequence[str], replace: bool, keep_newer: str | None):
    operations: list[UpdateOne | ReplaceOne] = []
    for doc in chunk:
        match = {field: doc[field] for field in key}
        if not replace:
            operations.append(UpdateOne(match, {"$setOnInsert": doc}, upsert=True))
        else:
            if keep_newer:
                match[keep_newer] = {"$lte": doc[keep_newer]}
            operations.append(ReplaceOne(match, doc, upsert=True))
    try:
        result, skipped = collection.bulk_write(operations, ordered=False).bulk_api_result, 0
    except BulkWriteError as exc:  # a conditional replace that met a newer document under the same key
        errors = exc.details.get("writeErrors", [])
        if not keep_newer or any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        result, skipped = exc.details, len(errors)
    matched, modified = result.get("nMatched", 0), result.get("nModified", 0)
    return WriteCounts(result.get("nUpserted", 0), modified, matched - modified, skipped)


def _embedded_write(collection, chunk: list[dict], key: Sequence[str], replace: bool, keep_newer: str | None):
    """Single-writer path: one read for the chunk's existing keys, then insert_many plus the few replaces."""
    query = {field: {"$in": list({doc[field] for doc in chunk})} for field in key}
    existing = {tuple(doc[f] for f in key): doc for doc in collection.find(query)}
    counts = WriteCounts()
    fresh: list[dict] = []
    for doc in chunk:
        stored = existing.get(tuple(doc[f] for f in key))
        if stored is None:
            fresh.append(doc)
        elif not replace:
            counts.unchanged += 1
        elif keep_newer and stored.get(keep_newer) is not None and stored[keep_newer] > doc[keep_newer]:
            counts.kept_newer += 1
        elif {k: v for k, v in stored.items() if k != "_id"} == doc:
            counts.unchanged += 1
        else:
            collection.replace_one({"_id": stored["_id"]}, doc)
            counts.modified += 1
    if fresh:
        collection.insert_many(fresh, ordered=False)
        counts.inserted += len(fresh)
    return counts


def merge_stage(into: str, on: Sequence[str], keep_newer: str | None = None) -> dict:
    """The ``$merge`` stage used on a real server (``on`` needs a unique index there)."""
    when_matched: str | list = "replace"
    if keep_newer:
        when_matched = [{"$replaceWith": {
            "$cond": [{"$gte": [f"$$new.{keep_newer}", f"${keep_newer}"]}, "$$new", "$$ROOT"]
        }}]
    return {"$merge": {"into": into, "on": list(on), "whenMatched": when_matched, "whenNotMatched": "insert"}}


def write_pipeline_output(
    db, source: str, pipeline: list[dict], into: str, on: Sequence[str], keep_newer: str | None = None
) -> WriteCounts | None:
    """Write the output of ``pipeline`` over ``source`` into ``into``, keyed by ``on``; safe to re-run.

    The pipeline's documents must not carry ``_id`` (stored documents keep theirs). With ``keep_newer``, a
    stored document is only replaced by one whose ``keep_newer`` field is at least as large.
    Returns the write counts on the embedded engine; ``None`` on a real server, where ``$merge`` reports none.
    """
    if is_real_server(db):
        db[source].aggregate([*pipeline, merge_stage(into, on, keep_newer)], allowDiskUse=True)
        return None
    return write_documents(db[into], db[source].aggregate(pipeline), on, replace=True, keep_newer=keep_newer)
