"""The prediction service over real HTTP: uvicorn on a loopback port inside the test process, a store with a
champion (and a second version) built once per module."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tasks.data.synthetic import DriftKnobs
from tasks.training.params import TrainingParams
from tests.builders import add_batch, train_and_register
from tests.conftest import drop_database, free_port, use_store


def make_key(db, scopes: list[str], name: str = "test") -> str:
    """A key with ``scopes`` in the store (as ``python -m api.keys create`` makes one)."""
    from datetime import UTC, datetime

    from api.auth import key_document, new_key
    from tasks.serving.store import insert_key

    key, key_id, hashed = new_key()
    insert_key(db, key_document(name, scopes, key_id, hashed, datetime.now(UTC)))
    return key


def sign_in(browser: httpx.Client, key: str) -> httpx.Response:
    """Sign a browser in as a person does: open the sign-in page (its token and cookie), then post the key."""
    form = browser.get("/dashboard/sign-in")
    token = form.text.split('name="signin" value="')[1].split('"')[0]
    return browser.post("/dashboard/sign-in", data={"key": key, "signin": token}, follow_redirects=False)


class Service:
    """A running service: its URL, an HTTP client with a key of every scope, a client without one, the store."""

    def __init__(self, url: str, db, env: dict[str, str]) -> None:
        self.url, self.db, self.env = url, db, env  # env: what another process needs to reach the same store
        # the school's own integration: its predictions on stored records count toward the monitors
        self.key = make_key(db, ["predict", "official", "read", "label", "operate"], "operator")
        self.http = httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {self.key}"})
        self.anonymous = httpx.Client(base_url=url, timeout=60)


def serve(monkeypatch: pytest.MonkeyPatch, **env: str):
    """Start uvicorn with the service on a free loopback port in a thread; returns (server, thread, url)."""
    import uvicorn

    from api.app import create_app
    from api.protocol import uvicorn_options
    from infra.settings import get_settings

    monkeypatch.setenv("PIPELINE_API_REFRESH_S", "0.2")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(get_settings()), host="127.0.0.1", port=port,
                                           log_level="warning", **uvicorn_options()))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    return server, thread, url


def stop(server, thread) -> None:
    """Ask uvicorn to exit and wait for it."""
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def service(mongo_server, tmp_path_factory):
    """The service over a store whose champion (v1) was trained in another world (grades 25 points lower, the
    outcome driven by habits): about 0.66 accurate on today's students, against 0.86 for v2, trained on today's."""
    from infra.storage import get_database

    name = f"api_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        folder = tmp_path_factory.mktemp("api")
        use_store(monkeypatch, mongo_server, name, folder)
        add_batch(2000, 0, knobs=DriftKnobs(grade_inflation=-25, concept_drift=1.0))
        train_and_register(TrainingParams(algorithms=["linear"]))
        add_batch(2000, 1)
        train_and_register(TrainingParams(algorithms=["linear"], window_batches=1))
        # every batch's in-process features checked against the store's aggregation (the live parity check)
        server, thread, url = serve(monkeypatch, PIPELINE_API_PARITY_SHARE="1")
        try:
            yield Service(url, get_database(), {"MONGO_URI": mongo_server, "MONGO_DB": name,
                                                "PIPELINE_DATA_DIR": str(folder / "data"),
                                                "PIPELINE_ARTIFACTS_DIR": str(folder / "artifacts")})
        finally:
            stop(server, thread)
    drop_database(mongo_server, name)
