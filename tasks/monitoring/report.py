"""How a drift check reads: the per-feature table, the decision in markdown, and the histograms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tasks.monitoring.drift import DriftReport


def drift_rows(report: DriftReport) -> list[dict]:
    """The per-feature table a person reads (plain values only)."""
    return [{"feature": f.feature, "test": f.test, "statistic": round(f.statistic, 4),
             "p_value": float(f"{f.p_value:.3g}"), "p_adjusted": float(f"{f.p_adjusted:.3g}"),
             "significant": f.significant, "effect_size": round(f.effect_size, 4), "effect": f.effect_measure,
             "material": f.material} for f in report.features] + [
        {"feature": m.feature, "test": f"missing: {m.test}", "statistic": round(m.statistic, 4),
         "p_value": float(f"{m.p_value:.3g}"), "p_adjusted": float(f"{m.p_adjusted:.3g}"), "significant": m.significant,
         "effect_size": round(m.effect_size, 4), "effect": m.effect_measure, "material": m.drifted}
        for m in report.missing.features]


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


def drift_markdown(batch_id: str, name: str, version: int, report: DriftReport, predictions: dict | None,
                   page: str) -> str:
    """The drift decision as a person reads it: the verdict, the drifted features, findings, where to see more."""
    lines = [f"# Drift: batch `{batch_id}` vs {name} v{version}", "",
             f"Decision: **{report.status}** ({report.current_rows} current rows, {report.reference_rows} reference "
             f"rows). Materially drifted: {report.drifted or 'none'}; missing values changed: "
             f"{report.missing.drifted or 'none'}; share {report.share_drifted:.2f}.",
             f"Settings: {report.settings}.", ""]
    if predictions:
        lines.append(f"Prediction drift: p = {predictions['p_value']:.3g}, JS distance "
                     f"{predictions['effect_size']:.3f} -> {'drifted' if predictions['drifted'] else 'stable'}.")
    lines += [f"- finding: {f}" for f in report.findings]
    lines += ["", f"Every feature's histograms and numbers: {page}"]
    return "\n".join(lines)


def estimate_caveat(value: float, drifted: list[str]) -> str:
    """What drift means for the label-free estimate (the drill measures it: it holds under a shift in who the
    students are, and is optimistic when the drifted features mean something else now)."""
    return (f"the label-free estimate ({value:.3f}) assumes {', '.join(drifted)} still relate to the outcome as in "
            "the reference: right for a change in who the students are, optimistic when the values mean something "
            "else now (inflated grades); the labels decide")
