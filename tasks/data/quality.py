"""How a batch's data-quality results read (pure): the report a person reads, and the gate's verdict line.
The decision itself is ``validation/gate.py``; the task that runs the suites writes and publishes."""

from __future__ import annotations

from tasks.alerting.alerts import Alert
from validation.gate import RejectedShareDecision
from validation.gx_runner import SuiteResult


def quality_markdown(batch_id: str, result: SuiteResult, extra: list[str]) -> str:
    """A short report: what was checked, what failed, what is worth a look."""
    lines = [f"# Data quality: {result.suite}", "", f"Batch `{batch_id}`, {result.rows} rows.", *extra, "",
             f"- expectations evaluated: {result.evaluated}",
             f"- failed: {len(result.failed)}", f"- findings (warnings): {len(result.findings)}",
             f"- Data Docs: {result.data_docs}", ""]
    if result.failed or result.findings:
        lines += ["| severity | expectation | column | unexpected | % | sample |", "|---|---|---|---|---|---|"]
        for severity, entries in (("failed", result.failed), ("warning", result.findings)):
            lines += [f"| {severity} | {e['expectation']} | {e['column']} | {e['unexpected_count']} | "
                      f"{e['unexpected_percent']} | {e['sample']} |" for e in entries]
    return "\n".join(lines)


def gate_lines(decision: RejectedShareDecision, reasons: list[tuple[str, int]]) -> list[str]:
    """The rejected-share gate's verdict and the most common rejection reasons, as report lines."""
    verdict = (f"Rejected {decision.rejected} of {decision.input} ({decision.share:.1%}); threshold "
               f"{decision.threshold:.1%}: **{'passed' if decision.passed else 'FAILED'}**.")
    return ["", verdict, *(f"- {what}: {n}" for what, n in reasons)]


def quality_alert(batch_id: str, gate: str, message: str, numbers: dict) -> Alert:
    """A batch stopped by a data-quality gate."""
    return Alert("quality_gate", "critical", f"batch {batch_id}: {gate} gate failed: {message}", numbers, batch_id)
