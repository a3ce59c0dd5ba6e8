"""The dashboard's pages and the run reports as HTML (pure: data in, a page out). The service serves them; a run
writes its report with the very same function, so the file shows what the live page shows."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from tasks.reporting.charts import histogram_chart, interval_chart, line_chart, progress_bar, share_chart

NAV = [("", "Overview"), ("/quality", "Data quality"), ("/drift", "Drift"), ("/groups", "Groups"),
       ("/ab-tests", "A/B tests"), ("/alerts", "Alerts")]


def _num(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _when(value) -> str:
    if not isinstance(value, datetime):
        return "-" if value is None else str(value)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _brief(numbers, separator: str = "; ") -> str:
    """A dict of numbers as one readable line (nested dicts in brackets, at most four keys each; long lists
    shortened)."""
    if not isinstance(numbers, dict):
        return _num(numbers)
    parts = []
    for key, value in numbers.items():
        if isinstance(value, dict):
            value = "(" + _brief(dict(list(value.items())[:4]), ", ") + ")"
        elif isinstance(value, list):
            value = ", ".join(_num(v) if not isinstance(v, list | tuple) else str(v) for v in value[:5]) \
                + (" ..." if len(value) > 5 else "")
        else:
            value = _num(value)
        parts.append(f"{key} {value}")
    return separator.join(parts)


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The templates (autoescaped) with the filters they use."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, pct=_pct, when=_when, brief=_brief)
    return env


def render(template: str, base: str, here: str, store: str, static: bool = False, live_url: str = "",
           **data) -> str:
    """One page: the template with the shared layout (navigation, or for a static report the live page's link)."""
    return environment().get_template(template).render(
        base=base, here=here, nav=NAV, store=store, static=static, live_url=live_url,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), **data)


def drift_charts(report: dict) -> list[dict]:
    """Each feature's reference-vs-current chart, material ones first."""
    material = {f["feature"] for f in report.get("findings", []) if f.get("material")}
    charts = []
    for feature, data in (report.get("histograms") or {}).items():
        svg = (histogram_chart(data["edges"], data["reference"], data["current"]) if data["kind"] == "numeric"
               else share_chart(data["categories"], data["reference"], data["current"]))
        charts.append({"feature": feature, "svg": svg, "material": feature in material})
    return sorted(charts, key=lambda chart: not chart["material"])


def performance_chart(points: list[dict], metric: str) -> str:
    """Each version's performance per batch: measured when labels arrive (solid, at the labels' batch), estimated
    without labels (dashed, at the scored batch), and what the labels later said for those same rows (hollow)."""
    series: dict[str, list[tuple[float, float]]] = {}
    styles: dict[str, str] = {}
    names: dict[float, str] = {}
    for point in points:
        if point.get("batch_seq") is None:
            continue
        x = float(point["batch_seq"])
        names[x] = f"#{point['batch_seq']}"
        if point["source"] != "estimate":
            series.setdefault(f"v{point['version']}", []).append((x, point["value"]))
            continue
        estimated = f"v{point['version']} estimated"
        series.setdefault(estimated, []).append((x, point["value"]))
        styles[estimated] = "dashed"
        if point.get("realised") is not None:
            realised = f"v{point['version']} realised later"
            series.setdefault(realised, []).append((x, point["realised"]))
            styles[realised] = "markers"
    at_registration = {}
    for point in sorted(points, key=lambda p: -p["version"]):  # the newest two versions' number at registration
        if point.get("reference") is not None and len(at_registration) < 2:
            at_registration.setdefault(f"v{point['version']} at registration", point["reference"])
    return line_chart(series, "batch (sequence number)", metric, x_names=names, styles=styles,
                      lines=at_registration or None)


def overview_page(data: dict, base: str, store: str) -> str:
    """The champion of each model, its history and versions, performance across batches, latest drift, alerts."""
    return render("overview.html", base, "", store, title="Overview", **data)


def drift_page(report: dict, base: str, store: str, static: bool = False, live_url: str = "") -> str:
    """One drift check: every feature's numbers and its reference-vs-current chart."""
    return render("drift.html", base, "/drift", store, static, live_url, report=report, charts=drift_charts(report),
                  title=f"Drift of {report['batch_id']}")


def drift_list_page(reports: list[dict], base: str, store: str, trend: dict | None = None) -> str:
    """Every drift check, newest first; above them, each feature's effect size across the checks."""
    return render("drift_list.html", base, "/drift", store, reports=reports, trends=trend_charts(trend or {}),
                  title="Drift checks")


def trend_charts(trend: dict[str, dict]) -> list[dict]:
    """Per model and feature, the effect size across drift checks with the minimum effect as a line and the
    significant checks marked (red: significant after correction); features that were ever significant first."""
    charts = []
    for model, data in trend.items():
        for feature, points in data["features"].items():
            effects = [(float(p["check"]), p["effect"]) for p in points if p["effect"] is not None]
            marked = [(float(p["check"]), p["effect"]) for p in points if p["significant"] and p["effect"] is not None]
            if not effects:
                continue
            lines = {"min effect": data["min_effect"]} if data["min_effect"] is not None else {}
            series = {"effect": effects, **({"significant": marked} if marked else {})}
            charts.append({"model": model, "feature": feature, "flagged": bool(marked),
                           "svg": line_chart(series, "drift check (oldest first)", "effect size", width=320,
                                             height=180, styles={"significant": "marked"}, lines=lines)})
    return sorted(charts, key=lambda chart: (chart["model"], not chart["flagged"], chart["feature"]))


def group_charts(history: dict[str, list[dict]]) -> list[dict]:
    """Per model, segment field and source (on labels; estimated at scoring), each group's shortfall against the
    rest across batches on the first metric alerted on, with the material gap as a line (a yes/no field draws its
    "yes" group: "no" is its mirror image); and the latest measurement's tables per source."""
    out = []
    for model, docs in history.items():
        charts: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = {}
        names: dict[float, str] = {}
        gap = None
        for doc in docs:
            if doc.get("batch_seq") is None:
                continue
            x = float(doc["batch_seq"])
            names[x] = f"#{doc['batch_seq']}"
            gap = (doc["segments"].get("settings") or {}).get("max_segment_gap", gap)
            source = "on labels" if doc["source"] == "labels" else "estimated without labels"
            first = (doc["segments"].get("metrics") or [doc["segments"].get("metric")])[0]
            for group in doc["segments"]["groups"]:
                if group.get("shortfall") is None or group["group"] == "no" or group.get("metric", first) != first:
                    continue
                charts.setdefault((group["field"], f"{source}, {first}"), {}).setdefault(group["group"], []).append(
                    (x, group["shortfall"]))
        latest = {source: next((d for d in reversed(docs) if d["source"] == source), None)
                  for source in ("labels", "estimate")}
        out.append({"model": model, "latest": {k: v for k, v in latest.items() if v},
                    "charts": [{"field": field, "source": source,
                                "svg": line_chart(series, "batch (sequence number)", "worse than the rest by",
                                                  width=420, height=230, x_names=names,
                                                  lines={f"material gap {gap:g}": gap} if gap else None)}
                               for (field, source), series in sorted(charts.items())]})
    return out


def student_page(data: dict, explained: dict | None, base: str, store: str) -> str:
    """One student: each term's features, every prediction logged for them, and why the champion says what it
    says about their newest term (``explained``: a prediction with its reasons)."""
    reasons = (explained or {}).get("explanation") or {}
    chart = reasons_chart(reasons.get("reasons") or [], reasons.get("units", "")) if reasons else ""
    return render("student.html", base, "/students", store, student=data, explained=explained, chart=chart,
                  title=f"Student {data['student_id']}")


def reasons_chart(reasons: list[dict], units: str, width: int = 560) -> str:
    """The reasons as horizontal bars from zero: right (red) raises the model's output, left (blue) lowers it."""
    from html import escape

    if not reasons:
        return '<p class="muted">No input moved this prediction (a constant model).</p>'
    biggest = max(abs(r["contribution"]) for r in reasons) or 1.0
    row, label_w, middle = 26, 230, 230 + (width - 230) / 2
    half = (width - label_w) / 2 - 56  # room for the number beside the longest bar
    parts = [f'<svg class="chart" viewBox="0 0 {width} {row * len(reasons) + 26}" width="{width}" '
             f'height="{row * len(reasons) + 26}" role="img" aria-label="reasons">',
             f'<line x1="{middle}" x2="{middle}" y1="4" y2="{row * len(reasons) + 6}" stroke="#64748b"/>']
    for i, reason in enumerate(reasons):
        y, size = 8 + i * row, abs(reason["contribution"]) / biggest * half
        x = middle if reason["contribution"] >= 0 else middle - size
        colour = "#dc2626" if reason["contribution"] >= 0 else "#2563eb"
        value = reason["value"]
        value = "missing" if value is None else f"{value:.4g}" if isinstance(value, float) else value
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(str(reason["feature"]))} = '
                     f'{escape(str(value))}</text><rect x="{x:.1f}" y="{y}" width="{size:.1f}" height="16" '
                     f'fill="{colour}"><title>{reason["contribution"]:+.4f} {escape(units)}</title></rect>'
                     f'<text x="{middle + (size + 4 if reason["contribution"] >= 0 else -size - 4):.1f}" '
                     f'y="{y + 13}" text-anchor="{"start" if reason["contribution"] >= 0 else "end"}" '
                     f'class="axis">{reason["contribution"]:+.3f}</text>')
    parts.append(f'<text x="{middle}" y="{row * len(reasons) + 22}" text-anchor="middle" class="axis">'
                 f'contribution ({escape(units)}): right raises the prediction, left lowers it</text></svg>')
    return "".join(parts)


def groups_page(history: dict[str, list[dict]], base: str, store: str) -> str:
    """Does the model work as well for every group of students? Per group, its gap to the rest over batches."""
    return render("groups.html", base, "/groups", store, models=group_charts(history), title="Groups of students")


def quality_page(batches: list[dict], base: str, store: str) -> str:
    """Each batch's accepted and rejected records, with the most common reasons."""
    return render("quality.html", base, "/quality", store, batches=batches, title="Data quality")


def ab_tests_page(tests: list[dict], base: str, store: str) -> str:
    """The A/B tests with their arms and numbers, each with its progress toward the horizon and where B stands
    (the difference and its interval against zero and the margin)."""
    for test in tests:
        standing = test.get("standing") or {}
        estimate = standing.get("estimate") or {}
        labelled = standing.get("labelled") or {}
        test["progress_svg"] = progress_bar(min(labelled.values()), test["n_per_arm"]) if labelled else ""
        test["interval_svg"] = interval_chart(estimate["difference"], estimate["ci_low"], estimate["ci_high"],
                                              test["margin"]) if estimate.get("difference") is not None else ""
    return render("ab_tests.html", base, "/ab-tests", store, tests=tests, title="A/B tests")


def alerts_page(alerts: list[dict], base: str, store: str, csrf: str | None = None) -> str:
    """Every alert, open ones acknowledgeable by a signed-in viewer (its forms carry the session's ``csrf``)."""
    return render("alerts.html", base, "/alerts", store, alerts=alerts, title="Alerts", csrf=csrf)


def sign_in_page(base: str, store: str, problem: str | None = None, token: str = "") -> str:
    """The dashboard's sign-in form (a key, posted once; the session cookie carries on), with its sign-in token."""
    return render("sign_in.html", base, "/sign-in", store, title="Sign in", problem=problem, token=token)


def version_page(version: dict, base: str, store: str) -> str:
    """One model version: what it is, what it was trained on, how it scored then and since, its history."""
    return render("version.html", base, "", store, v=version, title=f"{version['name']} v{version['version']}")


def training_page(report: dict, base: str, store: str) -> str:
    """A training run's report: the leaderboard, the champion decision and the plots (served from the store)."""
    return render("training.html", base, "", store, report=report, plots=list((report.get("plot_files") or {}).items()),
                  title=f"Training report {report.get('stamp', '')}")


def run_page(run: dict, report: dict | None, base: str, store: str, static: bool = False, live_url: str = "") -> str:
    """What a scoring or retraining run found: the batch, scoring, drift, live performance, the decision."""
    return render("run.html", base, "", store, static, live_url, run=run, report=report,
                  charts=drift_charts(report) if report else [], title=f"{run['kind']} run {run['batch_id']}")
