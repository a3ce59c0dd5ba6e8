"""Idempotent writes: immutable layers by unordered ``insert_many`` (a duplicate key means "already there"),
and a pipeline's output by ``$merge`` inside the server, keeping the newer of two versions of a document.

Either way a re-run writes nothing new, concurrent writers are safe, and what a write did is reported the
same way on every server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from infra.collections import find_in

DUPLICATE_KEY = 11000
CHUNK = 1000


@dataclass
class WriteCounts:
    """What an idempotent write did. ``unchanged``: already there as it was; ``kept_newer``: a newer one won."""

    inserted: int = 0
    modified: int = 0
    unchanged: int = 0
    kept_newer: int = 0


def insert_new(collection: Collection, documents: Iterable[dict],
               on_progress: Callable[[int], None] | None = None) -> WriteCounts:
    """Insert documents that are not stored yet; the collection's unique index decides what "stored" means.

    Unordered ``insert_many`` per chunk: a duplicate-key error counts as already present (``unchanged``) and
    never touches the stored document. Any other write error is raised. Documents must not carry ``_id``.
    """
    counts = WriteCounts()
    done = 0
    iterator = iter(documents)
    while chunk := list(islice(iterator, CHUNK)):
        try:
            counts.inserted += len(collection.insert_many(chunk, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            counts.inserted += exc.details.get("nInserted", 0)
            counts.unchanged += len(errors)
        done += len(chunk)
        if on_progress:
            on_progress(done)
    return counts


def merge_stage(into: str, on: Sequence[str], keep_newer: str | None = None) -> dict:
    """The ``$merge`` stage (``on`` needs a unique index): replace, or keep the stored document if it is newer."""
    when_matched: str | list = "replace"
    if keep_newer:
        when_matched = [{"$replaceWith": {
            "$cond": [{"$gte": [f"$$new.{keep_newer}", f"${keep_newer}"]}, "$$new", "$$ROOT"]
        }}]
    return {"$merge": {"into": into, "on": list(on), "whenMatched": when_matched, "whenNotMatched": "insert"}}


def merge_outcome(collection: Collection, key: str, keys: Sequence[Any], seq_field: str, seq: int) -> WriteCounts:
    """What a keep-newer ``$merge`` of documents with these ``keys``, all at sequence ``seq``, does to the
    collection, read before the merge (``$merge`` itself reports no counts)."""
    counts = WriteCounts(inserted=len(keys))
    for stored in find_in(collection, key, keys, {"_id": 0, seq_field: 1}):
        counts.inserted -= 1
        stored_seq = stored.get(seq_field)
        if stored_seq is None or stored_seq < seq:
            counts.modified += 1
        elif stored_seq == seq:
            counts.unchanged += 1
        else:
            counts.kept_newer += 1
    return counts


def merge_pipeline_output(db: Database, source: str, pipeline: list[dict], into: str, key: str | Sequence[str],
                          keep_newer: str | None = None) -> None:
    """Run ``pipeline`` over ``source`` inside the server and ``$merge`` its documents into ``into`` by ``key`` (one
    field or several, with a unique index on exactly them), replacing what is stored, or keeping a stored document
    whose ``keep_newer`` field is greater; safe to re-run. The pipeline's documents must not carry ``_id``.
    (``merge_outcome``, asked first, tells what a keep-newer merge will do.)"""
    on = [key] if isinstance(key, str) else list(key)
    db[source].aggregate([*pipeline, merge_stage(into, on, keep_newer=keep_newer)], allowDiskUse=True)
