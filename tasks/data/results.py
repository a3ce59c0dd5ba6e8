"""What the data stage's tasks hand back to a flow: small frozen records, read by attribute, never by key."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from validation.contracts import DEFAULT_CONTRACT, DEFAULT_LABEL_RULE, FeatureContract, LabelRule


@dataclass(frozen=True)
class Ingested:
    """A batch's records, stored: how many came in, were accepted or rejected, and were new."""

    batch_id: str
    seq: int
    labeled: bool
    input: int
    accepted: int
    rejected: int
    raw_inserted: int
    raw_already_present: int
    rejected_inserted: int
    seconds: float
    label_rule: LabelRule = DEFAULT_LABEL_RULE  # a labeled batch's (the question its labels answer)
    sanity: list[str] = field(default_factory=list)  # what looks wrong although every record passed (sanity.py)
    contract: FeatureContract = DEFAULT_CONTRACT  # the dataset's features (its declared extras)


@dataclass(frozen=True)
class Quality:
    """A validation run (Great Expectations suite), and for the raw suite the rejected-share gate."""

    suite: str
    success: bool
    evaluated: int
    failed: list[dict]
    findings: list[dict]
    rows: int
    data_docs: str
    seconds: float
    rejected_share: float | None = None
    gate_passed: bool | None = None
    top_reasons: list[tuple[str, int]] = field(default_factory=list)

    def as_document(self) -> dict:
        """As stored on the batch document."""
        return asdict(self)


@dataclass(frozen=True)
class Featurized:
    """What the feature pipeline's ``$merge`` did for a batch."""

    batch_id: str
    inserted: int  # (student, batch) documents new to the store
    unchanged: int  # already there (a re-run of the batch)
    seconds: float


@dataclass(frozen=True)
class Exported:
    """The files a batch's export wrote."""

    parquet: str
    csv: str
    schema: str
    rows: int
    data_sha256: str
    seconds: float


@dataclass(frozen=True)
class StoreCounts:
    """Where the store is (credentials redacted) and what it holds, from the batch ledger."""

    store: str
    counts: dict[str, int]


@dataclass(frozen=True)
class BatchStages:
    """One batch from its source to validated features: what each stage reported."""

    ingested: Ingested
    raw_quality: Quality
    features: Featurized
    feature_quality: Quality
    source_stage: str  # "generate" or "load"
    prepare_seconds: float
