"""What ingestion stores, built from a batch (pure): the raw layer's documents and the truth's buckets.

Raw documents are keyed by (batch_id, student_id) and inserted only when absent, so re-ingesting the same batch
changes nothing; records that fail their checks go to quarantine instead (``validation/records.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from infra.errors import UserError
from validation.contracts import DEFAULT_CONTRACT, DEFAULT_LABEL_RULE, FeatureContract, LabelRule

TRUTH_FIELDS = ("student_id", "p_high_performer", "expected_score")


class EmptyBatchError(UserError, ValueError):
    """A batch with no records: nothing to ingest, and nothing is registered."""


class LabelRuleConflictError(UserError, ValueError):
    """A batch already stored under one label rule was brought in again under another."""


@dataclass
class BatchInput:
    """A batch on its way in: records in the raw schema, where they came from, and (generated) the truth."""

    batch_id: str
    labeled: bool
    records: list
    source: dict
    truth: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # time taken to produce the batch (generate or load)
    label_rule: LabelRule = DEFAULT_LABEL_RULE  # a labeled batch's: its records' high_performer is this rule
    contract: FeatureContract = DEFAULT_CONTRACT  # the dataset's features: ours plus the extras its mapping declares


def raw_documents(accepted: list[tuple[int, dict]], batch_id: str, ingested_at: datetime) -> list[dict]:
    """The raw layer's documents: the record as it came, plus its batch and where it sat in the input."""
    return [{**_without_id(record), "batch_id": batch_id, "_ingest": {"position": position, "at": ingested_at}}
            for position, record in accepted]


def _without_id(record: dict) -> dict:
    """An ``_id`` from an exported file would clash with the raw layer's own."""
    return {key: value for key, value in record.items() if key != "_id"}


def truth_buckets(rows: list[dict], batch_id: str, size: int) -> list[dict]:
    """The generator's truth for a batch in buckets of up to ``size`` students (MongoDB's bucket pattern: a
    handful of documents with aligned arrays instead of one tiny document per student), sorted by student."""
    ordered = sorted(rows, key=lambda row: row["student_id"])
    buckets = []
    for number, start in enumerate(range(0, len(ordered), size)):
        part = ordered[start:start + size]
        buckets.append({"batch_id": batch_id, "bucket": number, "rows": len(part),
                        **{name: [row[name] for row in part] for name in TRUTH_FIELDS}})
    return buckets
