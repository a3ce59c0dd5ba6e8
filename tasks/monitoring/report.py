"""How a drift check reads: the per-feature table, the decision in markdown, and the histograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tasks.monitoring.drift import DriftReport
from validation.contracts import NUMERIC


def drift_rows(report: DriftReport) -> list[dict]:
    """The per-feature table a person reads (plain values only)."""
    return [{"feature": f.feature, "test": f.test, "statistic": round(f.statistic, 4),
             "p_value": float(f"{f.p_value:.3g}"), "p_adjusted": float(f"{f.p_adjusted:.3g}"),
             "significant": f.significant, "effect_size": round(f.effect_size, 4), "effect": f.effect_measure,
             "material": f.material} for f in report.features]


def plot_histograms(reference: pd.DataFrame, current: pd.DataFrame, features: list[str], folder: Path) -> list[str]:
    """Reference-vs-current histograms (numeric) or category shares (categorical) as PNG files in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name in features:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        if name in NUMERIC:
            values = pd.concat([reference[name], current[name]]).dropna()
            bins = np.histogram_bin_edges(values, bins=30)
            ax.hist(reference[name].dropna(), bins=bins, alpha=0.5, density=True, label="reference")
            ax.hist(current[name].dropna(), bins=bins, alpha=0.5, density=True, label="current")
        else:
            shares = pd.DataFrame({"reference": reference[name].astype(str).value_counts(normalize=True),
                                   "current": current[name].astype(str).value_counts(normalize=True)}).fillna(0)
            shares.plot.bar(ax=ax)
        ax.set(title=f"{name}: reference vs current")
        ax.legend()
        folder.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(folder / f"{name}.png", dpi=90)
        plt.close(fig)
        paths.append(str(folder / f"{name}.png"))
    return paths


def drift_markdown(batch_id: str, name: str, version: int, report: DriftReport, predictions: dict | None,
                   plots: list[str]) -> str:
    """The drift decision as a person reads it: the verdict, the drifted features, findings, histograms."""
    lines = [f"# Drift: batch `{batch_id}` vs {name} v{version}", "",
             f"Decision: **{report.status}** ({report.current_rows} current rows, {report.reference_rows} reference "
             f"rows). Materially drifted: {report.drifted or 'none'}; share {report.share_drifted:.2f}.",
             f"Settings: {report.settings}.", ""]
    if predictions:
        lines.append(f"Prediction drift: p = {predictions['p_value']:.3g}, JS distance "
                     f"{predictions['effect_size']:.3f} -> {'drifted' if predictions['drifted'] else 'stable'}.")
    lines += [f"- finding: {f}" for f in report.findings]
    lines += [f"- histogram: `{p}`" for p in plots]
    return "\n".join(lines)
