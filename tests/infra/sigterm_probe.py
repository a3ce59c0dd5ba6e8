"""Run only by test_a_test_run_killed_from_outside_leaves_no_server_behind (not collected by itself): a test that
holds the session's local MongoDB server and Prefect's test server, then waits to be killed."""

from __future__ import annotations

import os
import time
from pathlib import Path


def test_wait_to_be_killed(mongo_server, tmp_path):
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        Path(os.environ["SIGTERM_PROBE_READY"]).write_text(mongo_server)
        time.sleep(600)
