"""What the dashboard's pages show, read from MongoDB: small, indexed reads only (the last 100 of anything, never a
scan of predictions), so a page answers in well under a second however much the store holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId

from infra import prediction_log
from infra.collections import (
    AB_TESTS,
    ALERTS,
    ALIAS_HISTORY,
    BATCHES,
    DRIFT_REPORTS,
    MODELS,
    PERFORMANCE,
    RUN_REPORTS,
    STUDENTS_FEATURES,
    ensure_indexes,
)
from infra.report_files import file_paths, read_file
from infra.storage import Db
from tasks.data.store import ledger_counts
from tasks.monitoring.drift import KINDS, describe_drifted, tagged
from tasks.monitoring.findings import finding_from_dict, upgrade_document
from tasks.registry.store import aliases_by_version, list_versions, model_names
from tasks.reporting.charts import measurable
from tasks.reporting.pages import performance_chart
from tasks.scoring.store import log_totals
from validation.contracts import DEFAULT_PROBLEM, problem_spec

LIGHT_DRIFT = {"_id": 1, "batch_id": 1, "model": 1, "reference_version": 1, "at": 1, "status": 1, "drifted": 1,
               "missing.drifted": 1, "current_rows": 1, "reference_rows": 1, "estimate.value": 1}  # (missing: old)


def _detail(finding: dict) -> str:
    """A finding's detail in words; "not measurable" with the reason when it has no effect size (NaN or infinite:
    a field missing for a whole batch), never a broken page."""
    if not measurable(finding.get("effect_size")):
        reason = (finding.get("numbers") or {}).get("not_measurable") or "no effect size could be computed"
        return f"not measurable: {reason}"
    try:
        return KINDS[finding["kind"]].detail(finding_from_dict(finding)) if finding["kind"] in KINDS else ""
    except (ValueError, TypeError, KeyError, ZeroDivisionError) as exc:  # a stored value no formula can take
        return f"not measurable: {type(exc).__name__}"


def _drift_summary(doc: dict) -> dict:
    """A stored drift check as pages show it: today's shape (old checks upgraded), what drifted in words, and each
    finding with its kind's label and detail."""
    doc = upgrade_document(doc)
    drifted = doc.get("drifted") or {}
    if isinstance(drifted, list):  # a light read of a check stored before findings had kinds
        drifted = {"distribution": drifted, "missing": (doc.get("missing") or {}).get("drifted", [])}
    findings = [{**f, "label": KINDS[f["kind"]].label if f["kind"] in KINDS else f["kind"],
                 "detail": _detail(f)} for f in doc.get("findings", [])]
    return {**{k: v for k, v in doc.items() if k != "_id"}, "report_id": str(doc["_id"]), "drifted": drifted,
            "drifted_text": describe_drifted(drifted), "findings": findings,
            "kinds": [{"label": KINDS[kind].label if kind in KINDS else kind, "drifted": features,
                       "tested": sum(f["kind"] == kind for f in findings)} for kind, features in drifted.items()]}


def model_overview(db: Db, name: str) -> dict:
    """One model: its champion, versions, champion history, performance chart and latest drift check."""
    versions = list_versions(db, name, newest=50)
    spec = versions[0].spec if versions else problem_spec(DEFAULT_PROBLEM)
    metric, live_metric = spec.primary, spec.live_metric
    aliases = aliases_by_version(db, name)
    rows = [{"version": v.version, "algorithm": v.algorithm, "created_at": v.created_at,
             "val": v.metrics.get("val", {}).get(metric), "test": v.test_metric(metric),
             "cv": v.metrics.get("cv", {}).get("metrics", {}).get(metric),  # small data: mean and interval
             "skill": v.metrics.get("skill"),  # a classifier's accuracy against the base rate (versions since then)
             "rows": v.lineage.get("rows"), "batches": len(v.lineage.get("batches", [])),
             "label_rule": f"{v.label_rule.name}: {v.label_rule.text}" if spec.classifies else None,
             "extras": [e.name for e in v.contract.extras],
             "aliases": aliases.get((name, v.version), [])} for v in versions]
    champion = next((row for row in rows if "champion" in row["aliases"]), None)
    timeline = list(db[ALIAS_HISTORY].find({"name": name, "alias": "champion"}, {"_id": 0}).sort("at", -1).limit(20))
    points = list(db[PERFORMANCE].find({"model": name}, {"_id": 0}).sort("at", -1).limit(500))
    latest = db[DRIFT_REPORTS].find_one({"model": name}, LIGHT_DRIFT, sort=[("at", -1)])
    return {"name": name, "metric": metric, "metric_live": live_metric, "versions": rows,
            "champion": champion and {**champion, "score": (champion["cv"] or {}).get("mean", champion["val"])},
            "timeline": timeline,
            "performance_chart": performance_chart(points, live_metric),
            "has_estimates": any(p["source"] == "estimate" for p in points),
            "latest_drift": latest and _drift_summary(latest)}


def overview_data(db: Db) -> dict:
    """Every model's overview, the store's counts, and the open alerts."""
    names = model_names(db)
    alerts = list(db[ALERTS].find({"acknowledged": False}, {"_id": 0}).sort("at", -1).limit(50))
    runs = list(db[RUN_REPORTS].find({}, {"_id": 0, "run_id": 1, "kind": 1, "batch_id": 1, "at": 1,
                                           "drift.status": 1}).sort("at", -1).limit(10))
    trainings = [path.split("/")[1] for path in file_paths(db, "training/") if path.endswith("/metrics.json")]
    since = (datetime.now(UTC) - timedelta(days=14)).strftime("%Y-%m-%d")
    return {"counts": ledger_counts(db), "alerts": alerts, "models": [model_overview(db, name) for name in names],
            "runs": runs, "trainings": trainings[::-1][:10], "log": log_totals(db, since, raw=False)[:40]}


def version_detail(db: Db, name: str, version: int) -> dict | None:
    """One model version as its page shows it: what it is, how it was trained and on what, how it scored at
    registration and since (per batch, on labels and estimated), its aliases and its champion history; None if there
    is no such version."""
    from tasks.privacy.retention import expired_lineage
    from tasks.registry.store import find_version

    found = find_version(db, name, version)
    if found is None:
        return None
    history = [event for event in db[ALIAS_HISTORY].find({"name": name}, {"_id": 0}).sort("at", -1).limit(200)
               if version in (event.get("from_version"), event.get("to_version"))]
    points = list(db[PERFORMANCE].find({"model": name, "version": version},
                                       {"_id": 0, "segments": 0}).sort("at", -1).limit(100))
    return {"name": name, "version": found.version, "algorithm": found.algorithm, "problem": found.problem,
            "created_at": found.created_at, "params": found.params, "metrics": found.metrics,
            "lineage": found.lineage, "sha256": found.sha256, "label_rule": f"{found.label_rule.name}: "
            f"{found.label_rule.text}", "extras": [e.name for e in found.contract.extras], "runtime": found.runtime,
            "aliases": aliases_by_version(db, name).get((name, version), []), "history": history,
            "performance": points, "expired": expired_lineage(db, found.lineage.get("batches", [])),
            "erasures": len(((db[MODELS].find_one({"name": name, "version": version}, {"privacy": 1}) or {})
                             .get("privacy") or {}).get("trained_on_erased", []))}


def training_report(db: Db, stamp: str) -> dict | None:
    """A training run's report (its metrics.json, kept in the store), or None."""
    import json

    found = read_file(db, f"training/{stamp}/metrics.json")
    return json.loads(found[0]) if found else None


def segment_history(db: Db, limit: int = 200) -> dict[str, list[dict]]:
    """Per model, its per-group measurements (on labels, and estimated at scoring), oldest batch first."""
    out: dict[str, list[dict]] = {}
    for name in model_names(db):  # on the (model, at) index
        docs = list(db[PERFORMANCE].find({"model": name, "segments": {"$exists": True}},
                                         {"_id": 0, "model": 1, "version": 1, "batch_id": 1, "batch_seq": 1,
                                          "source": 1, "segments": 1, "at": 1}).sort("at", -1).limit(limit))
        if docs:
            out[name] = sorted(docs, key=lambda d: (d.get("batch_seq") or 0, d["source"]))
    return out


def drift_trend(db: Db, limit: int = 40) -> dict[str, dict]:
    """Per model, each feature's effect size across its latest drift checks (oldest first), which were significant
    and which material, and the minimum effect those checks used."""
    out: dict[str, dict] = {}
    docs = [doc for name in model_names(db)  # on the (model, at) index
            for doc in reversed(list(db[DRIFT_REPORTS].find(
                {"model": name}, {"_id": 0, "model": 1, "batch_id": 1, "at": 1, "findings": 1,
                                  "settings.min_effect": 1}).sort("at", -1).limit(limit)))]
    for doc in docs:
        model = out.setdefault(doc["model"], {"checks": [], "features": {}, "min_effect": None})
        model["checks"].append(doc["batch_id"])
        model["min_effect"] = (doc.get("settings") or {}).get("min_effect", model["min_effect"])
        for finding in doc.get("findings") or []:
            if finding.get("kind") not in KINDS or not KINDS[finding["kind"]].in_family:
                continue
            key = tagged(finding["kind"], finding["feature"])
            model["features"].setdefault(key, []).append({
                "check": len(model["checks"]), "effect": finding.get("effect_size"),
                "significant": bool(finding.get("significant")), "material": bool(finding.get("material"))})
    return out


def student(db: Db, student_id: int, terms: int = 12) -> dict:
    """One student: their feature documents (newest term first) and every prediction logged for them (newest
    first), both on indexes that start with the student."""
    features = list(db[STUDENTS_FEATURES].find({"student_id": student_id}, {"_id": 0})
                    .sort("batch_seq", -1).limit(terms))
    predictions = prediction_log.predictions_of(db, [student_id], newest_first=50)
    return {"student_id": student_id, "features": features, "predictions": predictions}


def drift_reports(db: Db, limit: int = 100) -> list[dict]:
    """The latest drift checks, without their per-feature details."""
    return [_drift_summary(doc) for doc in db[DRIFT_REPORTS].find({}, LIGHT_DRIFT).sort("at", -1).limit(limit)]


def drift_report(db: Db, report_id: str) -> dict | None:
    """One drift check with every feature's numbers and histograms (None if there is no such check)."""
    try:
        doc = db[DRIFT_REPORTS].find_one({"_id": ObjectId(report_id)})
    except InvalidId:
        return None
    return doc and _drift_summary(doc)


def quality_rows(db: Db, limit: int = 100) -> list[dict]:
    """Each recent batch's accepted and rejected records, status, common reasons and expectation counts."""
    rows = []
    for batch in db[BATCHES].find({}, {"_id": 0, "source": 0}).sort("seq", -1).limit(limit):
        raw, features = batch.get("quality", {}).get("raw", {}), batch.get("quality", {}).get("features", {})
        size = batch.get("size") or 0
        expectations = [f"{stage}: {q.get('evaluated', 0)} checked, {len(q.get('failed', []))} failed"
                        for stage, q in (("raw", raw), ("features", features)) if q]
        docs = [(stage, f"files/data-docs/{batch['batch_id']}/{stage}.html")  # kept in the store (else a GX file)
                for stage, q in (("raw", raw), ("features", features))
                if str(q.get("data_docs", "")).startswith("http")]
        rows.append({**batch, "share": (batch.get("rejected", 0) / size) if size else None,
                     "reasons": raw.get("top_reasons", []), "expectations": "; ".join(expectations) or "-",
                     "docs": docs})
    return rows


def ab_tests(db: Db) -> list[dict]:
    """Every A/B test with its last computed standing, newest first."""
    return list(db[AB_TESTS].find({}, {"_id": 0}).sort("created_at", -1).limit(50))


def alerts(db: Db, limit: int = 200) -> list[dict]:
    """Open alerts first, then the newest."""
    return list(db[ALERTS].find({}, {"_id": 0}).sort([("acknowledged", 1), ("at", -1)]).limit(limit))


def run_report(db: Db, run_id: str) -> tuple[dict | None, dict | None]:
    """A run's report and, if it checked drift, that check."""
    run = db[RUN_REPORTS].find_one({"run_id": run_id}, {"_id": 0})
    report = drift_report(db, run["drift"]["report_id"]) if run and run.get("drift") else None
    return run, report


def save_run_report(db: Db, run: dict) -> None:
    """Keep a run's report (a re-run of the same flow run replaces it)."""
    ensure_indexes(db, [RUN_REPORTS])
    db[RUN_REPORTS].replace_one({"run_id": run["run_id"]}, run, upsert=True)


def monitor_gauges(db: Db, names: list[str]) -> dict:
    """What the service's /metrics exposes about the monitors, read at scrape time: open alerts counted by kind
    and severity, and per model the last drift check's status, the latest label-free estimate and the latest
    per-group measurement of each source."""
    alerts: dict[tuple[str, str], int] = {}
    for doc in db[ALERTS].find({"acknowledged": False}, {"_id": 0, "kind": 1, "severity": 1}):
        key = (str(doc.get("kind")), str(doc.get("severity")))
        alerts[key] = alerts.get(key, 0) + 1
    models = {}
    for name in names:
        drift = db[DRIFT_REPORTS].find_one({"model": name}, {"_id": 0, "status": 1, "at": 1}, sort=[("at", -1)])
        estimate = db[PERFORMANCE].find_one({"model": name, "source": "estimate"},
                                            {"_id": 0, "metric": 1, "value": 1, "low": 1, "high": 1, "version": 1},
                                            sort=[("at", -1)])
        groups = {source: db[PERFORMANCE].find_one({"model": name, "source": source, "segments": {"$exists": True}},
                                                   {"_id": 0, "version": 1, "segments": 1}, sort=[("at", -1)])
                  for source in ("labels", "estimate")}
        models[name] = {"drift": drift, "estimate": estimate, "groups": {k: v for k, v in groups.items() if v}}
    return {"alerts": alerts, "models": models}

