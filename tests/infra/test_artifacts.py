"""Prefect artifacts carry values from data and clients: markdown never lets them become HTML."""

from __future__ import annotations

import pytest

from infra import artifacts

pytestmark = pytest.mark.pure


def test_markdown_artifacts_show_markup_from_data_as_text(monkeypatch):
    made = []
    monkeypatch.setattr(artifacts, "in_run", lambda: True)
    monkeypatch.setattr(artifacts, "create_markdown_artifact", lambda **kwargs: made.append(kwargs))
    artifacts.publish_markdown("drift-decision", "# Drift of batch `file-<img src=x onerror=alert(1)>`\n\n"
                                                 "| a | b |\n|---|---|\n| <script>x</script> | 3 > 2 |", "d")
    [artifact] = made
    assert "<" not in artifact["markdown"] and "&lt;img src=x" in artifact["markdown"]
    assert "| 3 > 2 |" in artifact["markdown"] and artifact["markdown"].startswith("# Drift")  # markdown intact
    monkeypatch.setattr(artifacts, "in_run", lambda: False)
    artifacts.publish_markdown("k", "<b>", "outside a run: nothing")
    assert len(made) == 1
