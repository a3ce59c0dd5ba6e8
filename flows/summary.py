"""Run summaries, in one place: the JSON summary of each flow, built from the typed results its tasks returned,
and the lines a person reads at the end of a run."""

from __future__ import annotations

from dataclasses import asdict

from flows.shared import TrainingRun
from tasks.data.results import BatchStages, Exported, Quality, StoreCounts
from tasks.monitoring.results import DriftCheck, LivePerformance, PerformanceEstimate
from tasks.promotion.decisions import RetrainDecision
from tasks.promotion.results import GateOutcome, RolledBack
from tasks.reporting.results import RunReport
from tasks.scoring.predict import retention_words
from tasks.scoring.results import Scored


def _brief(quality: Quality) -> dict:
    return {"evaluated": quality.evaluated, "failed": len(quality.failed), "findings": len(quality.findings)}


def batch_summary(stages: BatchStages, stored: StoreCounts) -> dict:
    """What every flow reports about the batch that came in, and the store."""
    ingested = stages.ingested
    return {
        "batch_id": ingested.batch_id, "batch_seq": ingested.seq,
        "kind": "labeled" if ingested.labeled else "unlabeled",
        "label_rule": f"{ingested.label_rule.name}: {ingested.label_rule.text}" if ingested.labeled else None,
        "sanity": ingested.sanity,
        "input": ingested.input, "accepted": ingested.accepted, "rejected": ingested.rejected,
        "quality": {"raw": _brief(stages.raw_quality), "features": _brief(stages.feature_quality)},
        "data_docs": stages.feature_quality.data_docs, "store": stored.store, "counts": stored.counts,
        "seconds": {stages.source_stage: stages.prepare_seconds, "ingest": ingested.seconds,
                    "validate_raw": stages.raw_quality.seconds, "aggregate": stages.features.seconds,
                    "validate_features": stages.feature_quality.seconds},
    }


def training_summary(run: TrainingRun | None) -> dict:
    """The training part of the main flow's summary."""
    if run is None:
        return {"skipped": "training disabled or unlabeled batch"}
    if run.skipped:
        return {"skipped": run.skipped}
    metric = run.report.metric or "score"
    intervals = {row["model"]: [row.get(f"cv_{metric}_low"), row.get(f"cv_{metric}_high")]
                 for row in run.report.leaderboard if row.get(f"cv_{metric}_low") is not None}
    return {"best": run.report.best, "oracle_gap_test": run.report.oracle_gap_test, "report": run.report.folder,
            "page": run.report.page, "metric": metric,
            "models": [{"algorithm": r.algorithm, "version": r.version, "val_score": round(r.score, 4),
                        "basis": r.basis, "existing": r.existing,
                        **({"cv_interval": intervals[r.algorithm]} if r.algorithm in intervals else {})}
                       for r in run.registered],
            "small_data": run.report.small_data, "base_rate": run.report.base_rate, "warning": run.report.warning,
            "champion": {"promoted": run.decision.applied, "version": run.decision.version,
                         "reason": run.decision.reason}}


def main_summary(stages: BatchStages, stored: StoreCounts, exported: Exported | None, run: TrainingRun | None) -> dict:
    """The main flow's summary (the ``--json`` line)."""
    summary = batch_summary(stages, stored)
    exports = {"parquet": exported.parquet, "csv": exported.csv, "schema": exported.schema} if exported else {}
    seconds = {**summary["seconds"], **({"export": exported.seconds} if exported else {})}
    return {**summary, "exports": exports, "training": training_summary(run), "seconds": seconds}


def score_summary(stages: BatchStages, stored: StoreCounts, scored: Scored, estimate: PerformanceEstimate,
                  drift: DriftCheck, report: RunReport) -> dict:
    """The scoring flow's summary."""
    summary = batch_summary(stages, stored)
    return {**summary, "scoring": asdict(scored), "estimate": asdict(estimate), "drift": asdict(drift),
            "report": asdict(report),
            "seconds": {**summary["seconds"], "score": scored.seconds, "drift": drift.seconds}}


def retrain_summary(stages: BatchStages, stored: StoreCounts, drift: DriftCheck, live: LivePerformance,
                    decision: RetrainDecision, outcome: GateOutcome | None, report: RunReport) -> dict:
    """The retraining flow's summary."""
    return {**batch_summary(stages, stored), "drift": asdict(drift), "live": asdict(live),
            "retrain": asdict(decision), "promotion": asdict(outcome) if outcome else None,
            "report": asdict(report)}


def rollback_summary(result: RolledBack) -> dict:
    """The rollback flow's summary."""
    return {"model": result.model, "rolled_back": result.rolled_back, "champion": result.champion,
            "from": result.from_version}


# --- the lines a person reads --------------------------------------------------------------------------


def render_summary(summary: dict) -> str:
    """A few aligned lines about the batch, the store, quality, exports and training."""
    lines = [
        f"batch      {summary['batch_id']} (seq {summary['batch_seq']}, {summary['kind']}"
        + (f", label {summary['label_rule']})" if summary.get("label_rule") else ")"),
        f"store      {summary['store']}",
        f"records    {summary['input']} in: {summary['accepted']} accepted, {summary['rejected']} rejected",
        "counts     " + ", ".join(f"{name} {count}" for name, count in summary["counts"].items()),
        *(f"check      {message}" for message in summary.get("sanity", [])),
    ]
    for stage, quality in summary.get("quality", {}).items():
        lines.append(f"quality    {stage}: {quality['evaluated']} expectations, {quality['failed']} failed, "
                     f"{quality['findings']} findings")
    if summary.get("data_docs"):
        lines.append(f"data docs  {summary['data_docs']}")
    for name, path in summary.get("exports", {}).items():
        lines.append(f"export     {name:8s} {path}")
    training = summary.get("training", {})
    if "skipped" in training:
        lines.append(f"training   skipped: {training['skipped']}")
    elif training:
        lines.append(f"models     {training.get('metric', 'score')} "
                     + ", ".join(f"{m['algorithm']} v{m['version']} {m['val_score']}"
                                 + (" [{:.3f}, {:.3f}]".format(*m["cv_interval"]) if m.get("cv_interval") else "")
                                 + (" (already registered)" if m.get("existing") else "")
                                 for m in training["models"])
                     + (" (cross-validated mean, 95% interval)" if any(m.get("cv_interval") for m in
                                                                        training["models"]) else " (validation)"))
        if training.get("small_data"):
            lines.append(f"small data {training['small_data']}")
        gap = training["oracle_gap_test"]
        lines.append(f"best       {training['best']}" + (f"; gap to the oracle {gap}" if gap is not None else
                                                          " (no oracle: the truth is known for generated students)"))
        if training.get("base_rate"):
            lines.append(f"accuracy   {training['base_rate']}")
        if training.get("warning"):
            lines.append(f"WARNING    {training['warning']}")
        lines.append(f"champion   {training['champion']['reason']}")
        lines.append(f"report     {training['page'] or training['report']}"
                     + (f" (a copy in {training['report']})" if training["page"] else ""))
    lines.append("seconds    " + ", ".join(f"{stage} {secs:.2f}" for stage, secs in summary["seconds"].items()))
    return "\n".join(lines)


def _live_words(live: dict) -> str:
    """What the labels said about the champion, or plainly why they said nothing."""
    if live["status"] == "ok":
        words = (f"{live['metric']} {live['live']:.4f} vs {live['reference']:.4f} at registration, on "
                 f"{live['rows']} students it had scored")
        if live.get("estimated") is not None:
            words += f"; the label-free estimate for them was {live['estimated']:.4f}"
        return words
    if live["status"] == "insufficient_data":
        return (f"not measured: {live['rows']} of this batch's students had been scored by v{live['version']} "
                f"(at least {live.get('needed') or 'more'} needed; score a batch first, then bring in its labels: "
                "--labels-for BATCH_ID)")
    if live["status"] == "label_rule_differs":
        return f"not measured: this batch's labels answer another question than v{live['version']}'s label rule"
    return "not measured: no champion yet"


def _drift_line(drift: dict) -> str:
    from tasks.monitoring.drift import describe_drifted

    if drift["status"] == "insufficient_data":
        return f"drift      not measured vs v{drift['reference_version']}: {'; '.join(drift['notes'])}"
    drifted = describe_drifted(drift["drifted"])
    return f"drift      {drift['status']} vs v{drift['reference_version']}: drifted {drifted}"


def _estimate_line(estimate: dict) -> str:
    if estimate["status"] != "ok":
        return f"estimate   none: {estimate['reason']}"
    return (f"estimate   {estimate['metric']} {estimate['value']:.4f} [{estimate['low']:.4f}, {estimate['high']:.4f}] "
            f"without labels (calibration: {estimate['calibration']}); {estimate['reference']:.4f} at registration")


def readable_counts(distribution: dict) -> str:
    """``{'0': 1564, '1': 436}`` as people read it: ``1564 x 0, 436 x 1`` (a regression's ``mean 61.2``)."""
    if set(distribution) == {"mean"}:
        return f"mean {distribution['mean']:.2f}"
    return ", ".join(f"{count} x {label}" for label, count in sorted(distribution.items()))


def render_score(summary: dict) -> str:
    """The scoring flow's lines."""
    scored = summary["scoring"]
    return "\n".join([
        render_summary(summary),
        f"scored     {scored['scored']} students with {scored['model']} v{scored['version']} "
        f"({scored['new_predictions']} new predictions, {scored['already_logged']} already logged); "
        f"predicted {readable_counts(scored['distribution'])}",
        _estimate_line(summary["estimate"]),
        _drift_line(summary["drift"]),
        *([f"log        {summary['log']['rolled_up']:,} predictions of closed days rolled up; raw predictions "
           f"kept {retention_words(summary['log']['retention_days'])}"] if summary.get("log", {}).get("rolled_up")
          else []),
        f"report     {summary['report']['html']}",
        f"dashboard  {summary['report']['dashboard']}",
    ])


def render_retrain(summary: dict) -> str:
    """The retraining flow's lines."""
    live, decision, promotion = summary["live"], summary["retrain"], summary["promotion"]
    lines = [render_summary(summary), _drift_line(summary["drift"]), f"live       {_live_words(live)}",
             f"retrain    {'yes' if decision['retrain'] else 'no'}: {'; '.join(decision['reasons'])}"]
    if promotion:
        lines.append(f"promotion  {promotion['reason']} (champion v{promotion['champion_after']})")
    lines += [f"report     {summary['report']['html']}", f"dashboard  {summary['report']['dashboard']}"]
    return "\n".join(lines)


def render_rollback(summary: dict) -> str:
    """The rollback flow's line."""
    state = "rolled back" if summary["rolled_back"] else "NOT rolled back (the champion changed meanwhile)"
    return f"champion   {summary['model']}: v{summary['from']} -> v{summary['champion']} ({state})"


def drill_summary(champion: dict, rows: list, runs: list, params, database: str, seconds: float) -> dict:
    """The drill's JSON summary: its champion, one scorecard row per scenario, every run, the settings."""
    return {"champion": champion, "scorecard": [row.as_row() for row in rows],
            "runs": [{**asdict(run), "flagged": run.flagged, "error": round(run.error, 4)} for run in runs],
            "seeds": params.seeds, "students": params.students, "drift_check": params.drift_check.model_dump(),
            "estimate_level": params.estimate.estimate_level, "database": f"{database} (dropped)",
            "seconds": round(seconds, 1)}


def render_drill(summary: dict) -> str:
    """The drill's scorecard as aligned lines."""
    champion = summary["champion"]
    lines = [f"champion   {champion['algorithm']} trained on {champion['reference_batch']} (test accuracy "
             f"{champion['test_accuracy']:.4f}, calibration {champion['calibration']}, reference "
             f"{champion['reference_rows']} rows)",
             f"runs       {summary['seeds']} seeds x {len(summary['scorecard'])} scenarios, {summary['students']} "
             f"students each, in {summary['seconds']} s ({summary['database']})",
             "",
             f"{'scenario':<26}{'expected':<10}{'flagged':>8}  {'verdict':<36}{'est. error mean/max':>21}"
             f"{'in interval':>13}{'MAE est. error':>16}{'in interval':>13}  features named"]
    for row in summary["scorecard"]:
        mae_error, mae_in = row.get("mae_estimate_relative_error"), row.get("mae_inside_interval")
        lines.append(f"{row['scenario']:<26}{row['expected']:<10}{row['flagged']:>8.0%}  {row['verdict']:<36}"
                     f"{row['estimate_error_mean']:>+12.4f} / {row['estimate_error_max_abs']:.4f}"
                     f"{row['inside_interval']:>12.0%}"
                     f"{'-' if mae_error is None else f'{mae_error:+.1%}':>16}"
                     f"{'-' if mae_in is None else f'{mae_in:.0%}':>13}  {row['features_named']}"
                     + (f"; significant, below min effect: {row['significant_below_min_effect']}"
                        if row["significant_below_min_effect"] != "-" else "")
                     + (f"; groups worse than the rest: {row['groups_named']}" if row.get("groups_named", "-") != "-"
                        else "")
                     + (f"; before labels: {row['groups_estimated']}" if row.get("groups_estimated", "-") != "-"
                        else ""))
    return "\n".join(lines)
