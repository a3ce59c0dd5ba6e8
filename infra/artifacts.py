"""Prefect artifacts, published only inside a run (unit tests call tasks' plain functions outside one)."""

from __future__ import annotations

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext, TaskRunContext


def in_run() -> bool:
    """True inside a Prefect flow or task run."""
    return TaskRunContext.get() is not None or FlowRunContext.get() is not None


def publish_markdown(key: str, markdown: str, description: str) -> None:
    """A markdown artifact under ``key`` (inside a run only). Markdown lets raw HTML through, and our reports carry
    values from data and clients (a batch id from a file name, a major, an A/B test's name), so every ``<`` is
    written as ``&lt;``: shown as the character, never read as a tag (our reports use no HTML of their own)."""
    if in_run():
        create_markdown_artifact(key=key, markdown=markdown.replace("<", "&lt;"), description=description)


def publish_link(key: str, link: str, text: str, description: str) -> None:
    """A link artifact under ``key`` (inside a run only)."""
    if in_run():
        create_link_artifact(key=key, link=link, link_text=text, description=description)


def publish_table(key: str, rows: list[dict], description: str) -> None:
    """A table artifact under ``key`` (inside a run only); rows of plain values."""
    if in_run():
        create_table_artifact(key=key, table=rows, description=description)
