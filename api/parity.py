"""Live parity of the two feature definitions: a share of prediction batches (``PIPELINE_API_PARITY_SHARE``,
default 1%) is computed again through the store's own aggregation (``$documents``) in a background thread, off the
answer's path, and compared with the in-process features the answer used. A difference raises the critical alert
``feature_parity`` (one open alert per model, its count going up) naming the students and features, and counts in
``/metrics``. At most a few checks wait at once: a sampled batch that finds the queue full is skipped and counted,
never queued without bound."""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from tasks.alerting.alerts import Alert
from tasks.alerting.store import raise_alert
from tasks.serving.features import feature_differences
from tasks.serving.store import request_features
from validation.contracts import FeatureContract

logger = logging.getLogger(__name__)
MAX_WAITING = 4


class ParitySampler:
    """Re-computes a share of batches' features through the store and compares them."""

    def __init__(self, share: float, db, seed: int | None = None) -> None:
        self.share, self._db = share, db
        self._random = random.Random(seed)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feature-parity")
        self._lock = threading.Lock()
        self.waiting = 0
        self.counts = {"checked": 0, "records": 0, "mismatched": 0, "skipped": 0, "failed": 0}

    def offer(self, name: str, records: list[dict], request_id: str, contract: FeatureContract,
              frame: pd.DataFrame) -> bool:
        """Maybe check this batch (True when it was queued for a check)."""
        if self.share <= 0 or self._random.random() >= self.share:
            return False
        with self._lock:
            if self.waiting >= MAX_WAITING:
                self.counts["skipped"] += 1
                return False
            self.waiting += 1
        self._executor.submit(self._check, name, records, request_id, contract, frame.copy())
        return True

    def _check(self, name: str, records: list[dict], request_id: str, contract: FeatureContract,
               frame: pd.DataFrame) -> None:
        try:
            db = self._db()
            expected = request_features(db, records, request_id, contract)
            differences = feature_differences(expected, frame)
            with self._lock:
                self.counts["checked"] += 1
                self.counts["records"] += len(records)
                self.counts["mismatched"] += bool(differences)
            if differences:
                features = sorted({d["feature"] for d in differences})
                raise_alert(db, Alert(
                    kind="feature_parity", severity="critical", model=name, batch_id="api",
                    message=f"the service's in-process features differ from the store's aggregation for "
                            f"{len({d['student_id'] for d in differences})} student(s) of a request "
                            f"({', '.join(features)}): set PIPELINE_API_FEATURES=store until fixed",
                    numbers={"request_id": request_id, "differences": differences}))
        except Exception as exc:  # noqa: BLE001 - a check that fails is counted and logged, never the answer's
            with self._lock:
                self.counts["failed"] += 1
            logger.warning("feature parity check failed: %s", type(exc).__name__)
        finally:
            with self._lock:
                self.waiting -= 1

    def drain(self, timeout_s: float = 10) -> None:
        """Wait for the queued checks (tests, shutdown)."""
        self._executor.submit(lambda: None).result(timeout=timeout_s)

    def stop(self) -> None:
        """Finish the queued checks and stop."""
        self._executor.shutdown(wait=True, cancel_futures=False)
