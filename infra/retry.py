"""Retry only what a retry can fix: transient database errors, never bad data or bad code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

# Blips during a run (failover, a dropped connection). A server that cannot be reached when the run starts
# (StoreUnreachableError) is a configuration problem, so it fails fast instead.
TRANSIENT_ERRORS = (AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError)

# Task options shared by every task that talks to MongoDB
DB_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10]}


def is_transient(exc: BaseException | None) -> bool:
    """A failure a retry can fix (a dropped connection, a failover), not bad data."""
    return isinstance(exc, TRANSIENT_ERRORS)


def retry_on_transient(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the failure was a transient database error."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001 - an unreadable state is not worth a retry
        return False
    return is_transient(exc)


@contextmanager
def stopwatch() -> Iterator[dict]:
    """Measure a block: ``with stopwatch() as t: ...`` then ``t["seconds"]``."""
    timing: dict = {}
    start = time.perf_counter()
    try:
        yield timing
    finally:
        timing["seconds"] = round(time.perf_counter() - start, 3)


def db_task_options() -> dict:
    """Options for a task that talks to MongoDB: retried on transient errors only, never cached."""
    from prefect.cache_policies import NO_CACHE

    return {"retry_condition_fn": retry_on_transient, "cache_policy": NO_CACHE, **DB_RETRIES}


DB_TASK = db_task_options()
