"""The monitoring stage's alerts (pure): what material drift, a live-performance drop and an estimated drop say,
with the numbers behind them. Messages are built from batch ids, model versions and statistics only."""

from __future__ import annotations

from tasks.alerting.alerts import Alert


def drift_alert(batch_id: str, model: str, version: int, report) -> Alert:
    """Material drift of a batch (of any kind of check) against the champion's reference, with each material
    finding's numbers under its kind."""
    from tasks.monitoring.drift import describe_drifted

    by_kind: dict[str, dict] = {}
    for f in report.findings:
        if f.material:
            by_kind.setdefault(f.kind, {})[f.feature] = {
                "effect_size": round(f.effect_size, 4), "effect": f.effect_measure,
                "p_adjusted": float(f"{f.p_adjusted:.3g}"),
                **{k: round(v, 4) if isinstance(v, float) else v for k, v in f.numbers.items()}}
    numbers = {"flagged": report.flagged, "share_drifted": round(report.share_drifted, 4), "by_kind": by_kind}
    return Alert("drift", "warning", f"batch {batch_id}: material drift against {model} v{version} in "
                                     f"{describe_drifted(report.drifted)}", numbers, batch_id, model, version)


def performance_alert(batch_id: str, model: str, version: int, metric: str, live: float, reference: float,
                      drop: float, threshold: float, rows: int) -> Alert:
    """Live performance worse than at registration by more than the threshold."""
    return Alert("performance", "critical", f"{model} v{version}: live {metric} {live:.4f} on batch {batch_id}, "
                                            f"{drop:.4f} worse than at registration ({reference:.4f}; threshold "
                                            f"{threshold})",
                 {"metric": metric, "live": live, "reference": reference, "drop": drop, "threshold": threshold,
                  "rows": rows}, batch_id, model, version)


def segment_alert(batch_id: str, model: str, version: int, report) -> Alert:
    """A group of students for whom the model works materially worse than for the rest (labels, or the estimate):
    each material gap with its metric, its look (this batch, or the window of labeled batches), figures and
    interval. Critical on labels unless every gap is *standing* (as large at registration, where the reference had
    the students to show it): then a warning that says so."""
    from tasks.monitoring.segments import describe_gaps

    source = "on labels" if report.source == "labels" else "estimated without labels"
    groups = {}
    for look, part in (("batch", report), ("window", report.window)):
        for g in (part.groups if part else []):
            if g.material:
                groups[f"{g.name} ({g.metric}, {'this batch' if look == 'batch' else 'window'})"] = {
                    "metric": g.metric, "look": look, "batches": part.batches, "rows": g.rows,
                    "value": round(g.value, 4), "rest": round(g.rest, 4), "shortfall": round(g.shortfall, 4),
                    "low": round(g.low, 4), "high": round(g.high, 4), "confidence": part.confidence,
                    "p_adjusted": float(f"{g.p_adjusted:.3g}"),
                    "at_registration": None if g.at_registration is None else round(g.at_registration, 4),
                    "standing": g.standing}
    opened = any(not g.standing for g in report.material)  # a gap the model always had is no emergency
    return Alert("segment_gap", "critical" if report.source == "labels" and opened else "warning",
                 f"{model} v{version} on batch {batch_id}, {source}: {describe_gaps(report)}",
                 {"source": report.source, "metric": report.metric, "groups": groups}, batch_id, model, version)


def estimated_performance_alert(batch_id: str, model: str, version: int, estimate, threshold: float) -> Alert:
    """The label-free estimate says the champion is doing worse than at registration by more than the threshold."""
    return Alert("estimated_performance", "warning",
                 f"{model} v{version}: estimated {estimate.metric} {estimate.value:.4f} on batch {batch_id} "
                 f"[{estimate.low:.4f}, {estimate.high:.4f}] without labels, {estimate.drop:.4f} worse than at "
                 f"registration ({estimate.reference:.4f}; threshold {threshold})",
                 {"metric": estimate.metric, "estimate": estimate.value, "low": estimate.low, "high": estimate.high,
                  "reference": estimate.reference, "drop": estimate.drop, "threshold": threshold,
                  "rows": estimate.rows, "calibration": estimate.calibration}, batch_id, model, version)
