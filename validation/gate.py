"""The data-quality gate: pure decisions with named exceptions whose messages say what to do."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from infra.errors import UserError

_POSITION = re.compile(r"\[\d+\]")


class DataQualityError(UserError, RuntimeError):
    """A batch failed a data-quality gate; nothing stored was lost, the run stopped before using it."""


class RejectedShareTooHighError(DataQualityError):
    """More of the batch was rejected than the gate allows."""


class FeatureExpectationsFailedError(DataQualityError):
    """The aggregated features broke the feature contract."""


@dataclass(frozen=True)
class RejectedShareDecision:
    """The rejected-share gate's verdict with its numbers."""
    passed: bool
    input: int
    rejected: int
    share: float
    threshold: float


def decide_rejected_share(input_count: int, rejected_count: int, threshold: float) -> RejectedShareDecision:
    """Pass while the rejected share is at most ``threshold`` (an empty batch passes nothing through)."""
    if not 0 <= threshold <= 1:
        raise ValueError(f"max_rejected_share must be between 0 and 1, got {threshold}")
    share = rejected_count / input_count if input_count else 1.0
    return RejectedShareDecision(share <= threshold and input_count > 0, input_count, rejected_count, share, threshold)


def top_reasons(rejected_docs: list[dict], limit: int = 5) -> list[tuple[str, int]]:
    """The most common (field, rule) pairs among rejections, with list positions folded: courses[].grades[]."""
    counter: Counter[str] = Counter()
    for doc in rejected_docs:
        for reason in doc.get("reasons", []):
            field = _POSITION.sub("[]", reason["field"])
            counter[f"{field} {reason['rule']}"] += 1
    return counter.most_common(limit)


def rejected_share_message(batch_id: str, decision: RejectedShareDecision, reasons: list[tuple[str, int]]) -> str:
    """What a user reads when the gate fails: the share, the common reasons, what to do."""
    listed = ", ".join(f"{what} x{count}" for what, count in reasons) or "none recorded"
    return (f"batch {batch_id}: {decision.rejected} of {decision.input} records rejected "
            f"({decision.share:.1%}), above the {decision.threshold:.1%} threshold. Most common reasons: {listed}. "
            "The rejected records are in students_rejected with their reasons; fix the source, or raise "
            "--max-rejected-share if this share is acceptable.")


def feature_failure_message(batch_id: str, failed: list[dict], data_docs: str) -> str:
    """What a user reads when the feature suite fails: each broken expectation, Data Docs."""
    listed = "; ".join(f"{f['expectation']}({f['column']}): {f['unexpected_count']} unexpected" for f in failed)
    return f"batch {batch_id}: the features broke {len(failed)} expectation(s): {listed}. Details: {data_docs}"
