"""The drift check against the champion's reference, the champion's live performance, and their report."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.artifacts import publish_markdown, publish_table
from infra.collections import DRIFT_REPORTS, MODELS, PREDICTIONS, STUDENTS_FEATURES, ensure_indexes, find_in
from infra.progress import run_logger
from infra.retry import DB_RETRIES, retry_on_transient, stopwatch
from infra.settings import get_settings
from infra.storage import get_database
from tasks.dataset import BOOLEAN, CATEGORICAL, NUMERIC
from tasks.drift_stats import DriftReport, DriftSettings, detect_drift, prediction_drift
from tasks.registry import CHAMPION, ModelNotFoundError, get_alias
from tasks.reference import load_reference
from validation.features import features_frame

DRIFT_EVENT = "student-pipeline.drift.detected"


def drift_rows(report: DriftReport) -> list[dict]:
    """The per-feature table a person reads (plain values only)."""
    return [{"feature": f.feature, "test": f.test, "statistic": round(f.statistic, 4),
             "p_value": float(f"{f.p_value:.3g}"), "p_adjusted": float(f"{f.p_adjusted:.3g}"),
             "significant": f.significant, "effect_size": round(f.effect_size, 4), "effect": f.effect_measure,
             "material": f.material} for f in report.features]


def plot_histograms(reference: pd.DataFrame, current: pd.DataFrame, features: list[str], folder) -> list[str]:
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


@task(name="check-drift", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def check_drift(batch_id: str, name: str, settings: DriftSettings) -> dict:
    """Compare the batch's features (and the champion's predictions on it) with the champion's reference."""
    with stopwatch() as timing:
        db = get_database()
        ensure_indexes(db, [DRIFT_REPORTS])
        champion = get_alias(db, name, CHAMPION)
        if champion is None:
            raise ModelNotFoundError(f"model {name!r} has no champion, so there is no reference to compare with")
        reference = load_reference(db, name, champion["version"])
        current = features_frame(list(db[STUDENTS_FEATURES].find({"batch_id": batch_id}, {"_id": 0})))
        report = detect_drift(reference, current, NUMERIC, BOOLEAN + CATEGORICAL, settings)
        predicted = [p["prediction"] for p in db[PREDICTIONS].find(
            {"batch_id": batch_id, "model": name, "version": champion["version"]}, {"prediction": 1})]
        problem = db[MODELS].find_one({"name": name, "version": champion["version"]})["problem"]
        predictions = (prediction_drift(reference["prediction"], predicted, settings.alpha)
                       if predicted and problem == "classification" and report.status != "insufficient_data" else None)
        now = datetime.now(UTC)
        folder = get_settings().artifacts_path / "drift" / batch_id / now.strftime("%Y%m%dT%H%M%S%fZ")
        plots = plot_histograms(reference, current, report.drifted, folder) if report.drifted else []
        doc = {"batch_id": batch_id, "model": name, "reference_version": champion["version"], "at": now,
               **report.as_dict(), "prediction_drift": predictions, "plots": plots}
        report_id = db[DRIFT_REPORTS].insert_one(doc).inserted_id
    rows = drift_rows(report)
    if rows:
        publish_table("drift-report", rows, f"Drift of batch {batch_id} against {name} v{champion['version']}")
    publish_markdown("drift-decision", drift_markdown(batch_id, name, champion["version"], report, predictions, plots),
                     f"Drift decision for batch {batch_id}")
    if report.status == "drift":
        from prefect.events import emit_event

        emit_event(event=DRIFT_EVENT, resource={"prefect.resource.id": f"student-pipeline.model.{name}"},
                   payload={"batch_id": batch_id, "drifted": report.drifted, "report_id": str(report_id)})
    run_logger(__name__).info("drift of %s vs %s v%d: %s %s", batch_id, name, champion["version"], report.status,
                              report.drifted)
    return {"status": report.status, "drifted": report.drifted, "share_drifted": report.share_drifted,
            "findings": report.findings, "prediction_drift": predictions, "report_id": str(report_id),
            "reference_version": champion["version"], "plots": plots, "seconds": timing["seconds"]}


def drift_markdown(batch_id, name, version, report: DriftReport, predictions, plots) -> str:
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


@task(name="live-performance", retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE, **DB_RETRIES)
def live_performance(batch_id: str, name: str, min_rows: int = 100) -> dict:
    """Labels that just arrived vs the champion's earlier predictions for the same students."""
    db = get_database()
    champion = get_alias(db, name, CHAMPION)
    if champion is None:
        return {"status": "no_champion"}
    model = db[MODELS].find_one({"name": name, "version": champion["version"]})
    labels = features_frame(list(db[STUDENTS_FEATURES].find({"batch_id": batch_id, name: {"$ne": None}},
                                                            {"_id": 0, "student_id": 1, name: 1})))[["student_id", name]]
    if labels.empty:
        return {"status": "insufficient_data", "rows": 0}
    predicted = pd.DataFrame(list(find_in(db[PREDICTIONS], "student_id", labels["student_id"].tolist(),
                                          {"_id": 0, "student_id": 1, "prediction": 1},
                                          {"model": name, "version": champion["version"]})),
                             columns=["student_id", "prediction"])
    joined = labels.merge(predicted.drop_duplicates("student_id"), on="student_id") if len(predicted) else predicted
    if len(joined) < min_rows:
        return {"status": "insufficient_data", "rows": len(joined), "version": champion["version"]}
    if model["problem"] == "classification":
        live = float((joined["prediction"].astype(int) == joined[name].astype(int)).mean())
        reference = model["metrics"]["test"]["accuracy"]
        drop, metric = reference - live, "accuracy"
    else:
        live = float((joined["prediction"] - joined[name]).abs().mean())
        reference = model["metrics"]["test"]["mae"]
        drop, metric = live - reference, "mae"
    return {"status": "ok", "rows": len(joined), "metric": metric, "live": live, "reference": reference,
            "drop": drop, "version": champion["version"]}


