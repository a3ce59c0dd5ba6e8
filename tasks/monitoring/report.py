"""How a drift check reads: the per-feature table, the decision in markdown, and the histograms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tasks.monitoring.drift import KINDS, describe_drifted
from tasks.monitoring.findings import DriftReport


def drift_rows(report: DriftReport) -> list[dict]:
    """The table a person reads: one row per finding, of every kind (plain values only)."""
    return [{"kind": KINDS[f.kind].label if f.kind in KINDS else f.kind, "feature": f.feature, "test": f.test,
             "statistic": round(f.statistic, 4), "p_value": float(f"{f.p_value:.3g}"),
             "p_adjusted": float(f"{f.p_adjusted:.3g}"), "significant": f.significant,
             "effect_size": round(f.effect_size, 4), "effect": f.effect_measure, "material": f.material}
            for f in report.findings]


def histogram_data(reference, current, numeric: list[str], categorical: list[str], bins: int = 20) -> dict:
    """The numbers behind each feature's reference-vs-current chart, small enough to store with a drift check:
    densities over shared bins (numeric) or shares per category (categorical)."""
    data = {}
    for name in numeric:
        ref = pd.to_numeric(reference[name], errors="coerce").dropna().to_numpy(dtype=float)
        cur = pd.to_numeric(current[name], errors="coerce").dropna().to_numpy(dtype=float)
        both = np.concatenate([ref, cur])
        if len(ref) == 0 or len(cur) == 0 or not np.isfinite(both).all():
            continue
        edges = np.histogram_bin_edges(both, bins=bins)
        data[name] = {"kind": "numeric", "edges": [float(e) for e in edges],
                      "reference": [float(v) for v in np.histogram(ref, bins=edges, density=True)[0]],
                      "current": [float(v) for v in np.histogram(cur, bins=edges, density=True)[0]]}
    for name in categorical:
        ref = reference[name].dropna().astype(str).value_counts(normalize=True)
        cur = current[name].dropna().astype(str).value_counts(normalize=True)
        categories = sorted(set(ref.index) | set(cur.index))
        data[name] = {"kind": "categorical", "categories": categories,
                      "reference": [float(ref.get(c, 0.0)) for c in categories],
                      "current": [float(cur.get(c, 0.0)) for c in categories]}
    return {name: value for name, value in data.items() if all(math.isfinite(v) for v in value["reference"])}


def drift_markdown(batch_id: str, name: str, version: int, report: DriftReport, page: str) -> str:
    """The drift decision as a person reads it: the verdict, what drifted (kind by kind), notes, where to see
    more."""
    lines = [f"# Drift: batch `{batch_id}` vs {name} v{version}", "",
             f"Decision: **{report.status}** ({report.current_rows} current rows, {report.reference_rows} reference "
             f"rows). Materially drifted: {describe_drifted(report.drifted)}; share of features "
             f"{report.share_drifted:.2f}.",
             f"Settings: {report.settings}.", ""]
    lines += [f"- {KINDS[f.kind].label}: {f.test} p = {f.p_value:.3g}, {f.effect_measure} {f.effect_size:.3f} -> "
              f"{'drifted' if f.material else 'stable'}." for f in report.findings
              if f.kind in KINDS and not KINDS[f.kind].in_family]
    lines += [f"- note: {note}" for note in report.notes]
    lines += ["", f"Every feature's histograms and numbers: {page}"]
    return "\n".join(lines)


def estimate_caveat(value: float, drifted: list[str]) -> str:
    """What drift means for the label-free estimate (the drill measures it: it holds under a shift in who the
    students are, and is optimistic when the drifted features mean something else now)."""
    return (f"the label-free estimate ({value:.3f}) assumes {', '.join(drifted)} still relate to the outcome as in "
            "the reference: right for a change in who the students are, optimistic when the values mean something "
            "else now (inflated grades); the labels decide")
