"""Run an expectation suite through a Great Expectations Checkpoint and build Data Docs, offline.

The GX project lives in ``<artifacts>/gx`` (a file context), so Data Docs keep every run's results.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from infra.locks import file_lock

DATASOURCE = "student-pipeline"


@dataclass
class SuiteResult:
    """What a person (and the gate) needs from a validation run."""

    suite: str
    success: bool
    evaluated: int
    failed: list[dict] = field(default_factory=list)  # critical expectations that failed
    findings: list[dict] = field(default_factory=list)  # warning-level expectations that failed
    rows: int = 0
    data_docs: str = ""
    page: str = field(default="", repr=False)  # this validation's Data Docs page, made offline (see offline_page)

    def as_dict(self) -> dict:
        """The result as plain values."""
        return {"suite": self.suite, "success": self.success, "evaluated": self.evaluated, "failed": self.failed,
                "findings": self.findings, "rows": self.rows, "data_docs": self.data_docs}


def _context(root: Path):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def _get_or_add(getter, adder, name: str):
    """GX's add_or_update drops a data asset's batch definitions, so: get it, or add it once."""
    try:
        return getter(name)
    except (KeyError, LookupError, ValueError) + _gx_not_found():
        return adder(name)


def _gx_not_found() -> tuple[type[Exception], ...]:
    from great_expectations.exceptions import DataContextError

    return (DataContextError,)


def escaped(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text value HTML-escaped: Great Expectations writes unexpected values into its Data Docs pages
    unescaped, so a major of ``<img src=x onerror=...>`` would run in whoever opens them. Escaping changes no
    check's outcome (a value outside a set stays outside it) and reads back as the text that came in."""
    import html

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(lambda v: html.escape(v, quote=True) if isinstance(v, str) else v)
    return out


def run_suite(frame: pd.DataFrame, suite, asset_name: str, gx_root: Path, run_name: str) -> SuiteResult:
    """Validate ``frame`` (its text HTML-escaped first) against ``suite`` through a Checkpoint that also updates
    Data Docs.

    The GX project's files are not safe for concurrent writers, so runs on one machine take turns (two flows
    validating at once otherwise collide: "Store already has the following key")."""
    with file_lock(gx_root / ".gx.lock"):
        return _run_suite(escaped(frame), suite, asset_name, gx_root, run_name)


def _run_suite(frame: pd.DataFrame, suite, asset_name: str, gx_root: Path, run_name: str) -> SuiteResult:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = _context(gx_root)
    source = _get_or_add(context.data_sources.get, context.data_sources.add_pandas, DATASOURCE)
    asset = _get_or_add(source.get_asset, source.add_dataframe_asset, asset_name)
    batch_definition = _get_or_add(asset.get_batch_definition, asset.add_batch_definition_whole_dataframe, "whole")
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{suite.name}-definition", data=batch_definition, suite=suite))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=f"{suite.name}-checkpoint", validation_definitions=[definition],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="update-data-docs")],
        result_format={"result_format": "SUMMARY"},
    ))
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
    [validation] = list(outcome.run_results.values())
    failed, findings = [], []
    for result in validation.results:
        if result.success:
            continue
        config = result.expectation_config
        entry = {"expectation": config.type, "column": config.kwargs.get("column"),
                 "unexpected_count": int(result.result.get("unexpected_count") or 0),
                 "unexpected_percent": round(float(result.result.get("unexpected_percent") or 0.0), 3),
                 "sample": [_plain(v) for v in (result.result.get("partial_unexpected_list") or [])[:5]]}
        (findings if (config.meta or {}).get("severity") == "warning" else failed).append(entry)
    docs = context.get_docs_sites_urls()
    [key] = list(outcome.run_results)
    pages = context.get_docs_sites_urls(resource_identifier=key)
    page = Path(pages[0]["site_url"].removeprefix("file://")) if pages and pages[0].get("site_url") else None
    return SuiteResult(suite=suite.name, success=not failed, evaluated=len(validation.results), failed=failed,
                       findings=findings, rows=len(frame), data_docs=docs[0]["site_url"] if docs else "",
                       page=offline_page(page.read_text(encoding="utf-8")) if page and page.is_file() else "")


SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.IGNORECASE | re.DOTALL)
REMOTE = re.compile(r"<(?:link|img)\b[^>]*\b(?:href|src)=[\"']?(?:https?:)?//[^>]*>", re.IGNORECASE)
RELATIVE = re.compile(r"""\b(href|src)=(["'])(?!#|https?:|data:)[^"']*\2""", re.IGNORECASE)
FONTS = re.compile(r"@font-face\s*\{[^}]*\}")
REMOTE_URL = re.compile(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)")
ICONS = {"fa-check-circle": "\\2714", "fa-times": "\\2718", "fa-times-circle": "\\2718",
         "fa-exclamation-triangle": "\\26A0", "fa-info-circle": "\\2139"}


def offline_page(html: str) -> str:
    """A Data Docs validation page that reads whole offline and from any server: the CDN stylesheets and scripts
    (Bootstrap, jQuery, Vega, Font Awesome), GX's remote logos (one carries the context's id) and its fonts (files
    in the site folder) removed, every inline script removed (the page's results are HTML; scripts only add
    filters), links into the GX site folder dropped (they exist only on the machine that ran it); GX's own styles
    are inline in the page already, and the few Bootstrap rules its layout uses are added inline."""
    html = REMOTE.sub("", SCRIPT.sub("", html))
    html = REMOTE_URL.sub("none", FONTS.sub("", html))
    html = RELATIVE.sub(lambda m: f"{m.group(1)}={m.group(2)}#{m.group(2)}", html)
    return html.replace("</head>", f"<style>{_offline_styles()}</style></head>", 1)


@lru_cache(maxsize=1)
def _offline_styles() -> str:
    icons = " ".join(f".{name}::before {{ content: \"{glyph}\"; }}" for name, glyph in ICONS.items())
    return Path(__file__).with_name("data_docs_offline.css").read_text(encoding="utf-8") + icons


def _plain(value):
    return value.item() if hasattr(value, "item") else value
