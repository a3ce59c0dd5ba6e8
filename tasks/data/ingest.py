"""What ingestion stores, built from a batch (pure, but for reading a large batch's files a part at a time): the raw
layer's documents and the truth's buckets.

Raw documents are keyed by (batch_id, student_id) and inserted only when absent, so re-ingesting the same batch
changes nothing; records that fail their checks go to quarantine instead (``validation/records.py``).
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

import numpy as np

from infra.errors import UserError
from validation.contracts import DEFAULT_CONTRACT, DEFAULT_LABEL_RULE, FeatureContract, LabelRule

TRUTH_FIELDS = ("student_id", "p_high_performer", "expected_score")

INGEST_CHUNK = 10_000
"""Records validated and written at a time: what ingestion holds in memory, whatever the batch's size."""


class EmptyBatchError(UserError, ValueError):
    """A batch with no records: nothing to ingest, and nothing is registered."""


class BatchFileError(UserError, ValueError):
    """A generated batch's JSON Lines file is missing or damaged between the generate and ingest tasks."""


class LabelRuleConflictError(UserError, ValueError):
    """A batch already stored under one label rule was brought in again under another."""


@dataclass
class BatchInput:
    """A batch on its way in: records in the raw schema, where they came from, and (generated) the truth.

    The records (and truth) are in memory, or, for a batch too large to hold, in JSON Lines files that
    ``record_chunks`` (and ``truth_chunks``) read a part at a time: the generator writes its batches so.
    """

    batch_id: str
    labeled: bool
    records: list
    source: dict
    truth: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # time taken to produce the batch (generate or load)
    label_rule: LabelRule = DEFAULT_LABEL_RULE  # a labeled batch's: its records' high_performer is this rule
    contract: FeatureContract = DEFAULT_CONTRACT  # the dataset's features: ours plus the extras its mapping declares
    records_file: str | None = None  # JSON Lines of the records, instead of ``records``
    truth_file: str | None = None  # JSON Lines of the truth, instead of ``truth``
    size: int | None = None  # how many records the file holds

    @property
    def count(self) -> int:
        """How many records the batch holds (in memory or in its file)."""
        return len(self.records) if self.records_file is None else int(self.size or 0)

    def record_chunks(self) -> Iterator[list]:
        """The records, in input order, ``INGEST_CHUNK`` at a time."""
        yield from _chunks(self.records, self.records_file, INGEST_CHUNK)

    def truth_chunks(self) -> Iterator[list[dict]]:
        """The truth rows, ``INGEST_CHUNK`` at a time."""
        yield from _chunks(self.truth, self.truth_file, INGEST_CHUNK)


def _chunks(rows: list, path: str | None, size: int) -> Iterator[list]:
    if path is None:
        for start in range(0, len(rows), size):
            yield rows[start:start + size]
        return
    number = 0
    try:
        with open(path, encoding="utf-8") as lines:
            while part := list(islice(lines, size)):
                parsed = []
                for line in part:
                    number += 1
                    parsed.append(json.loads(line))
                yield parsed
    except FileNotFoundError:
        raise BatchFileError(f"the generated batch's file {path} is gone (it is written by the generate task of the "
                             "same run): run again") from None
    except json.JSONDecodeError:
        raise BatchFileError(f"the generated batch's file {path} is damaged at line {number}: run again (what was "
                             "stored from it stays; a re-run adds only what is missing)") from None


def raw_documents(accepted: list[tuple[int, dict]], batch_id: str, ingested_at: datetime) -> list[dict]:
    """The raw layer's documents: the record as it came, plus its batch and where it sat in the input."""
    return [{**_without_id(record), "batch_id": batch_id, "_ingest": {"position": position, "at": ingested_at}}
            for position, record in accepted]


def _without_id(record: dict) -> dict:
    """An ``_id`` from an exported file would clash with the raw layer's own."""
    return {key: value for key, value in record.items() if key != "_id"}


class TruthTable:
    """The truth of a batch's accepted students, gathered a chunk at a time as columns (24 bytes a student, not a
    dictionary each), then cut into buckets sorted by student (MongoDB's bucket pattern: a handful of documents with
    aligned arrays instead of one tiny document per student)."""

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []

    def add(self, rows: list[dict], accepted: Container) -> None:
        """Keep the rows of ``accepted`` students."""
        kept = [row for row in rows if row["student_id"] in accepted]
        if kept:
            self._parts.append(np.array([tuple(row[name] for name in TRUTH_FIELDS) for row in kept],
                                        dtype=[("student_id", "i8"), ("p_high_performer", "f8"),
                                               ("expected_score", "f8")]))

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)

    def buckets(self, batch_id: str, size: int) -> Iterator[dict]:
        """The bucket documents, sorted by student."""
        if not self._parts:
            return
        table = np.concatenate(self._parts)
        table = table[np.argsort(table["student_id"], kind="stable")]
        for number, start in enumerate(range(0, len(table), size)):
            part = table[start:start + size]
            yield {"batch_id": batch_id, "bucket": number, "rows": len(part),
                   **{name: part[name].tolist() for name in TRUTH_FIELDS}}
