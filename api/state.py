"""What the prediction service holds in memory: each model's champion and the versions its running A/B test
routes to, loaded and SHA-256-verified from the registry, refreshed in the background.

A new model is loaded and verified completely before it replaces the old one (one reference assignment), and a
request takes its snapshot once: a request is never answered by a half-loaded model, and a promotion or
rollback made by a flow in another process is served within ``PIPELINE_API_REFRESH_S`` seconds, no restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from api.parity import ParitySampler
from infra.collections import ensure_indexes
from infra.settings import Settings
from infra.storage import Db, get_database
from tasks.registry.store import find_champion, get_version, load_binary
from tasks.serving.store import running_tests
from validation.contracts import TARGETS, FeatureContract

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A model version in memory, verified against the SHA-256 recorded at registration."""

    name: str
    version: int
    problem: str
    algorithm: str
    sha256: str
    model: object = field(repr=False)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    contract: FeatureContract = field(default_factory=FeatureContract)  # its inputs (the dataset's extras)


@dataclass(frozen=True)
class Snapshot:
    """Everything a request needs, taken once: champions and running tests by model name."""

    champions: dict[str, LoadedModel]
    tests: dict[str, dict]
    contracts: dict[str, FeatureContract] = field(default_factory=dict)  # what a request's records must carry

    def contract(self, name: str) -> FeatureContract:
        """The inputs a request for ``name`` must satisfy: the champion's, and a running test's other arm's."""
        return self.contracts.get(name, FeatureContract())


class ServingState:
    """The service's view of the registry, refreshed every ``api_refresh_s`` seconds by a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.snapshot = Snapshot({}, {})
        self.last_error: str | None = None
        self.refreshed_at: datetime | None = None
        self._models: dict[tuple[str, int], LoadedModel] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.parity = ParitySampler(settings.api_parity_share, self.db)

    def db(self) -> Db:
        """The store (the same settings as the flows)."""
        return get_database(self.settings)

    def model(self, name: str, version: int) -> LoadedModel:
        """A version, loaded and verified once (versions never change), then served from memory."""
        key = (name, version)
        with self._lock:
            cached = self._models.get(key)
        if cached is not None:
            return cached
        db = self.db()
        record = get_version(db, name, version)
        model = load_binary(db, record)  # raises on a missing or tampered binary
        loaded = LoadedModel(name, version, record.problem, record.algorithm, record.sha256, model,
                             contract=record.contract)
        with self._lock:
            self._models[key] = loaded
        return loaded

    def refresh(self) -> None:
        """Look at the champion pointers and the running tests; load what changed, then swap in one step."""
        db = self.db()
        if self.refreshed_at is None:
            ensure_indexes(db)  # once: the service writes predictions and tests before any flow may have
        champions = {}
        for name in TARGETS.values():
            champion = find_champion(db, name)
            if champion is not None:
                champions[name] = self.model(name, champion.version)
        tests = running_tests(db)
        for name, test in tests.items():
            for arm in test["arms"].values():
                self.model(name, arm["version"])
        contracts = {}
        for name, champion in champions.items():
            arms = [self.model(name, arm["version"]) for arm in tests.get(name, {}).get("arms", {}).values()]
            extras = {e.name: e for model in [champion, *arms] for e in model.contract.extras}
            contracts[name] = FeatureContract(tuple(extras.values()))
        self.snapshot = Snapshot(champions, tests, contracts)
        self.refreshed_at = datetime.now(UTC)
        self.last_error = None

    def refresh_quietly(self) -> None:
        """Refresh; a failure (the store unreachable, a tampered binary) is kept for /ready, not raised."""
        try:
            self.refresh()
        except Exception as exc:  # noqa: BLE001 - reported by /ready; the last good snapshot keeps serving
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("refresh failed: %s", self.last_error)

    def start(self) -> None:
        """Load what there is now, then keep looking in the background."""
        self.refresh_quietly()
        self._thread = threading.Thread(target=self._loop, name="serving-refresh", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.api_refresh_s):
            self.refresh_quietly()

    def stop(self) -> None:
        """Stop the background refresh and the parity checks."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.parity.stop()

    def wait_for(self, predicate, timeout_s: float) -> bool:
        """Refresh until ``predicate(snapshot)`` holds (for changes this process just made)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.refresh_quietly()
            if predicate(self.snapshot):
                return True
            time.sleep(0.05)
        return False
