"""Progress on long work: a log line per step and, inside a Prefect run, a progress artifact in the UI."""

from __future__ import annotations

import logging
import time

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import TaskRunContext
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger


def run_logger(name: str = __name__) -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a run, a module logger outside one (unit tests, scripts)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(name)


class Progress:
    """Report ``done/total`` for a stage, at most every ``min_interval_s`` seconds (and always at the end)."""

    def __init__(self, stage: str, total: int, min_interval_s: float = 1.0) -> None:
        self.stage, self.total, self.min_interval_s = stage, max(total, 1), min_interval_s
        self.logger = run_logger()
        self._last = 0.0
        self._artifact_id = None
        if TaskRunContext.get() is not None:
            self._artifact_id = create_progress_artifact(0.0, description=f"{stage}: progress")

    def __call__(self, done: int, total: int | None = None, note: str = "") -> None:
        """Report ``done`` of ``total``, with a ``note`` (rate-limited; always at the end)."""
        total = total or self.total
        now = time.monotonic()
        if done < total and now - self._last < self.min_interval_s:
            return
        self._last = now
        percent = 100.0 * done / max(total, 1)
        self.logger.info("%s: %d/%d (%.0f%%)%s", self.stage, done, total, percent, f", {note}" if note else "")
        if self._artifact_id is not None:
            update_progress_artifact(self._artifact_id, percent)
