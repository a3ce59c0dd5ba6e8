"""A mapping checked against its source in seconds, with no flow run, no store and no Prefect server
(``python flows/main.py --source FILE --mapping MAPPING --check-mapping``): the file is read as the run would read
it, its first rows are mapped and checked exactly as ingest checks them, and the lines say what a run would keep,
what it would quarantine and why, what the label looks like, and what looks wrong. Nothing is stored.

The lines name fields, rules, counts and the school's own category codes (a major), never a student's id or a
row's values.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from infra.pseudonyms import Pseudonyms
from tasks.data.mapping import TARGETS, map_rows, read_mapping
from tasks.data.sanity import sanity_findings
from tasks.data.sources import DEFAULT_LIMITS, SourceLimits, infer_labeled, source_format, source_rows
from validation.contracts import DEFAULT_LABEL_RULE, KNOWN_MAJORS, LabelRule
from validation.records import RECORD, split_records

CHECK_ROWS = 1000  # enough to see every common problem; a 100,000-row export is still checked in seconds


@dataclass(frozen=True)
class MappingCheck:
    """What the check found: the lines a person reads, and whether a run would go through."""

    lines: list[str]
    ready: bool


def required_fields() -> list[str]:
    """The fields of our record every student needs (the id comes from the mapping's ``student_id``)."""
    return [name for name, rule in RECORD.items() if rule.required and name != "student_id"]


def check_mapping(source: str | Path, mapping_path: str | Path, kind: str = "auto", label_rule: LabelRule | None = None,
                  rows: int = CHECK_ROWS, max_rejected_share: float = 0.05,
                  limits: SourceLimits = DEFAULT_LIMITS) -> MappingCheck:
    """Read ``source`` through the mapping at ``mapping_path`` and check its first ``rows`` rows as ingest would
    (a ``UserError`` when the mapping or the file cannot be read at all, as a run would say)."""
    mapping, _ = read_mapping(mapping_path)
    path = Path(source).expanduser()
    read, _ = source_rows(path, mapping, limits)
    rule = label_rule or mapping.label_rule() or DEFAULT_LABEL_RULE
    # ids become pseudonyms as at ingest (any text is an id), under a throwaway key: a check stores nothing
    throwaway = None if mapping.student_id.row_number else Pseudonyms(secrets.token_hex(32).encode())
    records = map_rows(read[:rows], mapping, labeled=kind != "unlabeled", pseudonyms=throwaway)
    labeled = infer_labeled(records, kind)
    accepted, rejected = split_records(records, labeled, rule, mapping.contract())
    good = [record for _, record in accepted]

    lines = [f"mapping    {Path(mapping_path).name}: valid; reads {len(mapping.columns())} column(s), "
             f"{len(mapping.fields)} field(s), {len(mapping.courses)} course(s), {len(mapping.extras)} extra(s)",
             f"source     {path.name}: {source_format(path, mapping)}, {len(read):,} rows"
             + (f"; checked the first {len(records):,}" if len(read) > len(records) else "; checked every one")]
    missing = [name for name in required_fields() if name not in mapping.fields]
    if missing:
        lines.append(f"fields     required but not in the mapping (every record would be quarantined): "
                     f"{', '.join(missing)}")
    optional = [name for name in TARGETS if name not in mapping.fields and name not in required_fields()
                and name != "generated_at"]
    if optional:
        lines.append(f"fields     optional, not in the mapping (their features are missing): {', '.join(optional)}")
    if mapping.student_id.row_number:
        lines.append("ids        row numbers: a student's id changes when the export's rows move, and a returning "
                     "student is not recognised in the next term's file")
    lines.append(f"records    {len(accepted):,} of {len(records):,} would be accepted, {len(rejected):,} quarantined")
    reasons = Counter((reason["field"], reason["rule"], reason.get("expected"))
                      for doc in rejected for reason in _own_reasons(doc["reasons"]))
    for (field, why, expected), count in reasons.most_common(5):
        if field == "$":  # a row that could not be read: what was wrong with it, without its line number
            lines.append(f"rejected   {count:,} x the row: {why} ({str(expected).split(': ', 1)[-1]})")
        else:
            lines.append(f"rejected   {count:,} x {field}: {why}" + (f" (expected {expected})" if expected else ""))
    unknown = Counter(record.get("major") for record in good if record.get("major") not in KNOWN_MAJORS)
    if unknown:
        codes = ", ".join(f"{str(code)[:40]!r} ({count})" for code, count in unknown.most_common(5))
        lines.append(f"majors     not one of ours: {codes}; allowed: {', '.join(sorted(KNOWN_MAJORS))}. Accepted, "
                     "but a data-quality warning and no major feature for them: map them (fields.major.map)")
    scores = [record["final_score"] for record in good if isinstance(record.get("final_score"), int | float)]
    if labeled and scores:
        positive = sum(rule.applies(score) for score in scores)
        share = positive / len(scores)
        majority = "everyone" if share >= 0.5 else "nobody"
        lines.append(f"label      {rule.name} ({rule.text}): {positive:,} of {len(scores):,} ({share:.1%}); a model "
                     f"has to beat {max(share, 1 - share):.1%} accuracy, what calling {majority} '{rule.name}' "
                     "scores")
    elif not labeled:
        lines.append("label      none: these rows carry no final score (an unlabeled batch: scored, not trained on)")
    lines += [f"check      {finding['message']}" for finding in sanity_findings(good, labeled, rule)]
    share = len(rejected) / len(records) if records else 1.0
    ready = bool(accepted) and share <= max_rejected_share
    lines.append("result     ready: run the same command without --check-mapping" if ready else
                 f"result     not ready: {share:.0%} of the rows would be quarantined (a run stops above "
                 f"{max_rejected_share:.0%}); fix the mapping from the lines above")
    return MappingCheck(lines, ready)


def _own_reasons(reasons: list[dict]) -> list[dict]:
    """A row the mapping could not make into a record carries its line's parse reason first and then what was wrong;
    count the latter (a row that could not be read at all has only the parse reason)."""
    return reasons[1:] if len(reasons) > 1 and reasons[0]["rule"] == "parse" else reasons
