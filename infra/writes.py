"""Idempotent writes: immutable layers by unordered ``insert_many`` (a duplicate key means "already there"),
and a pipeline's output by ``$merge`` inside the server, keeping the newer of two versions of a document.

Either way a re-run writes nothing new, concurrent writers are safe, and what a write did is reported the
same way on every server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000
CHUNK = 1000


@dataclass
class WriteCounts:
    """What an idempotent write did. ``unchanged``: already there as it was; ``kept_newer``: a newer one won."""

    inserted: int = 0
    modified: int = 0
    unchanged: int = 0
    kept_newer: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(self.inserted + other.inserted, self.modified + other.modified,
                           self.unchanged + other.unchanged, self.kept_newer + other.kept_newer)


def insert_new(collection: Collection, documents: Iterable[dict],
               on_progress: Callable[[int], None] | None = None, chunk: int = CHUNK) -> WriteCounts:
    """Insert documents that are not stored yet; the collection's unique index decides what "stored" means.

    Unordered ``insert_many`` per chunk: a duplicate-key error counts as already present (``unchanged``) and
    never touches the stored document. Any other write error is raised. Documents must not carry ``_id``.
    """
    counts = WriteCounts()
    done = 0
    iterator = iter(documents)
    while part := list(islice(iterator, chunk)):
        try:
            counts.inserted += len(collection.insert_many(part, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            counts.inserted += exc.details.get("nInserted", 0)
            counts.unchanged += len(errors)
        done += len(part)
        if on_progress:
            on_progress(done)
    return counts


def merge_stage(into: str, on: Sequence[str]) -> dict:
    """The ``$merge`` stage: insert new documents, replace a stored one with the same ``on`` fields (which need a
    unique index on exactly them)."""
    return {"$merge": {"into": into, "on": list(on), "whenMatched": "replace", "whenNotMatched": "insert"}}


def merge_pipeline_output(db: Database, source: str, pipeline: list[dict], into: str,
                          key: str | Sequence[str]) -> None:
    """Run ``pipeline`` over ``source`` inside the server and ``$merge`` its documents into ``into`` by ``key`` (one
    field or several, with a unique index on exactly them), replacing what is stored under the same key; safe to
    re-run. The pipeline's documents must not carry ``_id``."""
    on = [key] if isinstance(key, str) else list(key)
    db[source].aggregate([*pipeline, merge_stage(into, on)], allowDiskUse=True)
