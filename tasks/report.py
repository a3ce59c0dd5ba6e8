"""The training report: a leaderboard (models, baseline, oracle), plots, metrics.json and Prefect artifacts."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.artifacts import publish_markdown, publish_table
from infra.settings import get_settings
from tasks.dataset import TrainingData
from tasks.evaluate import (
    PRIMARY, plot_confusion, plot_importance, plot_predicted_vs_actual, plot_roc,
)

SHOWN = {"classification": ["roc_auc", "accuracy", "f1", "mcc", "precision", "recall"],
         "regression": ["mae", "rmse", "r2"]}


def leaderboard(evaluation: dict, registered: list[dict], problem: str) -> list[dict]:
    """One row per model plus the baseline and the oracle, best validation score first; plain floats only."""
    metric, higher = PRIMARY[problem]
    versions = {r["algorithm"]: r["version"] for r in registered}
    rows = []
    for row in evaluation["models"]:
        rows.append({"model": row["algorithm"], "version": versions.get(row["algorithm"]),
                     f"val_{metric}": _round(row["val"][metric]),
                     **{f"test_{m}": _round(row["test"][m]) for m in SHOWN[problem]},
                     "train_seconds": row["train_seconds"]})
    sign = -1 if higher else 1

    def order(row: dict) -> tuple:  # best first, unscored models after scored ones, the baseline last
        score = row[f"val_{metric}"]
        return row["model"] == "baseline", score is None, 0.0 if score is None else sign * score

    rows.sort(key=order)
    if evaluation["oracle"]:
        label = "oracle (true probability)" if problem == "classification" else "oracle (expected score)"
        rows.append({"model": label, "version": None,
                     f"val_{metric}": _round(evaluation["oracle"]["val"][metric]),
                     **{f"test_{m}": _round(evaluation["oracle"]["test"][m]) for m in SHOWN[problem]},
                     "train_seconds": None})
    return rows


def _round(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def markdown_table(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if row[c] is None else str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def make_plots(trained: list, best: str, data: TrainingData, evaluation: dict, folder: Path) -> dict[str, str]:
    models = {m.algorithm: m.pipeline for m in trained if m.algorithm != "baseline"}
    best_row = next(r for r in evaluation["models"] if r["algorithm"] == best)
    plots = {
        "importance_own": plot_importance(best_row["importance"]["own"], f"{best}: own importance",
                                          folder / "importance_own.png"),
        "importance_permutation": plot_importance(best_row["importance"]["permutation"],
                                                  f"{best}: permutation importance (validation)",
                                                  folder / "importance_permutation.png"),
    }
    if data.problem == "classification":
        plots["roc"] = plot_roc(models, data, evaluation["oracle"] is not None, folder / "roc.png")
        plots["confusion_matrix"] = plot_confusion(models[best], data, f"{best} (test)", folder / "confusion.png")
    else:
        plots["predicted_vs_actual"] = plot_predicted_vs_actual(models[best], data, f"{best} (test)",
                                                                folder / "predicted_vs_actual.png")
    return {name: str(path) for name, path in plots.items()}


@task(name="publish-training-report", cache_policy=NO_CACHE)
def publish_training_report(trained: list, evaluation: dict, registered: list[dict], decision: dict,
                            data: TrainingData) -> dict:
    """Write plots and metrics.json into a new folder per run, and publish the leaderboard and report."""
    metric, _ = PRIMARY[data.problem]
    rows = leaderboard(evaluation, registered, data.problem)
    best = rows[0]["model"]
    folder = get_settings().artifacts_path / "training" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder.mkdir(parents=True, exist_ok=False)
    plots = make_plots(trained, best, data, evaluation, folder)
    oracle_row = rows[-1] if evaluation["oracle"] else None
    gap = (round(abs(oracle_row[f"test_{metric}"] - rows[0][f"test_{metric}"]), 4)
           if oracle_row and rows[0][f"test_{metric}"] is not None else None)
    metrics = {"problem": data.problem, "metric": metric, "leaderboard": rows, "oracle_gap_test": gap,
               "champion_decision": decision, "lineage": data.lineage, "plots": plots}
    with open(folder / "metrics.json", "x") as handle:
        json.dump(metrics, handle, indent=2, default=str)
    publish_table("model-leaderboard", rows, f"{data.target}: models, baseline and oracle")
    report = "\n".join([
        f"# Training report: {data.target} ({data.problem})", "",
        f"{data.lineage['rows']} labeled students from {len(data.lineage['batches'])} batch(es); split "
        f"{data.lineage['split_sizes']}; data sha256 `{data.lineage['data_sha256'][:12]}`.", "",
        markdown_table(rows), "",
        f"Best by validation {metric}: **{best}**; test gap to the oracle: {gap}.", "",
        f"Champion decision: {decision['reason']} (applied: {decision['applied']}).", "",
        "Plots:", *(f"- {name}: `{path}`" for name, path in plots.items()), "",
        f"Files: `{folder}`",
    ])
    publish_markdown("training-report", report, f"Training report for {data.target}")
    return {"folder": str(folder), "best": best, "oracle_gap_test": gap, "leaderboard": rows, "plots": plots}


def baseline_score(evaluation: dict, problem: str) -> float:
    """The baseline's validation score on the primary metric (what a champion has to beat)."""
    metric, _ = PRIMARY[problem]
    return next(row["val"][metric] for row in evaluation["models"] if row["algorithm"] == "baseline")


def training_summary(report: dict, registered: list[dict], decision: dict) -> dict:
    """The part of the run summary about training."""
    return {"best": report["best"], "oracle_gap_test": report["oracle_gap_test"], "report": report["folder"],
            "models": [{"algorithm": r["algorithm"], "version": r["version"], "val_score": round(r["score"], 4),
                        "existing": r["existing"]} for r in registered],
            "champion": {"promoted": decision["applied"], "version": decision["version"],
                         "reason": decision["reason"]}}
