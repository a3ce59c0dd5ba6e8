"""The training report a person reads: the leaderboard as a markdown table, the report text, and the plots."""

from __future__ import annotations

from tasks.training.dataset import TrainingData
from tasks.training.models import TrainedModel
from tasks.training.plots import plot_confusion, plot_importance, plot_predicted_vs_actual, plot_roc
from tasks.training.results import Evaluation
from validation.contracts import problem_spec


def markdown_table(rows: list[dict]) -> str:
    """Rows of plain values as a markdown table (columns from the first row; None as an empty cell)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if row[c] is None else str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def training_markdown(data: TrainingData, rows: list[dict], best: str, gap: float | None, decision_reason: str,
                      applied: bool, plots: dict[str, str], page: str, small_data: str | None = None,
                      metric: str | None = None, base_rate: str | None = None, warning: str | None = None) -> str:
    """The training report: data, leaderboard (and, on small data, how its numbers were made and what they cannot
    tell apart), the best model and its gap to the oracle, the champion decision, and the plots as images (their
    http addresses on the service: the Prefect UI shows them inline)."""
    metric = metric or problem_spec(data.problem).primary
    chosen = f"cross-validated {metric}" if small_data else f"validation {metric}"
    return "\n".join([
        f"# Training report: {data.target} ({data.problem})", "",
        *([f"The label is '{rule['name']}': final_score {rule['direction']} {rule['threshold']:g} (the model and its "
           "label column are named high_performer whatever the rule).", ""]
          if (rule := data.lineage.get("label_rule")) else []),
        f"{data.lineage['rows']} labeled students from {len(data.lineage['batches'])} batch(es); split "
        + ", ".join(f"{part} {size:,}" for part, size in data.lineage["split_sizes"].items())
        + f"; data sha256 `{data.lineage['data_sha256'][:12]}`.", "",
        markdown_table(rows), "",
        *([small_data, ""] if small_data else []),
        f"Best by {chosen}: **{best}**; {'cross-validated' if small_data else 'test'} gap to the oracle: {gap}.", "",
        *([f"Base rate: {base_rate}.", ""] if base_rate else []),
        *([f"**Warning:** {warning}.", ""] if warning else []),
        f"Champion decision: {decision_reason} (applied: {applied}).", "",
        *(f"![{name.replace('_', ' ')}]({url})" for name, url in plots.items()), "",
        f"On the dashboard: {page}",
    ])


def make_plots(trained: list[TrainedModel], best: str, data: TrainingData,
               evaluation: Evaluation) -> dict[str, tuple[str, bytes]]:
    """The best model's importance, ROC of every model with the oracle and the best's confusion matrix
    (classification) or its predicted-vs-actual plot (regression): name -> (file name, PNG bytes)."""
    models = {m.algorithm: m.pipeline for m in trained if m.algorithm != "baseline"}
    best_row = next(r for r in evaluation.models if r["algorithm"] == best)
    plots = {
        "importance_own": ("importance_own.png",
                           plot_importance(best_row["importance"]["own"], f"{best}: own importance")),
        "importance_permutation": ("importance_permutation.png",
                                   plot_importance(best_row["importance"]["permutation"],
                                                   f"{best}: permutation importance (validation)")),
    }
    if problem_spec(data.problem).classifies:
        plots["roc"] = ("roc.png", plot_roc(models, data, evaluation.oracle is not None))
        plots["confusion_matrix"] = ("confusion.png", plot_confusion(models[best], data, f"{best} (test)"))
    else:
        plots["predicted_vs_actual"] = ("predicted_vs_actual.png",
                                        plot_predicted_vs_actual(models[best], data, f"{best} (test)"))
    return plots
