"""Alerts delivered through Prefect, for real: a Prefect server on loopback, the webhook block and automation
that deployments/setup_alerts.py creates, a flow process whose batch fails the quality gate, and a local HTTP
server standing in for the team's webhook."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading

import pytest

from tests.conftest import free_port
from tests.deployments.conftest import ROOT

pytestmark = pytest.mark.slow
TOKEN = "T0ken" + "Secret42"  # a webhook URL often carries a token: it must stay out of every payload


@pytest.fixture
def webhook():
    """A local HTTP server that keeps every POST it receives."""
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append({"path": self.path, "body": body.decode()})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    thread.join(timeout=10)


def test_a_failed_quality_gate_reaches_the_webhook_through_a_prefect_automation(prefect_server, webhook):
    server = prefect_server
    url, received = webhook
    env = {**server.env, "PIPELINE_ALERT_WEBHOOK_URL": f"{url}/hooks/team?token={TOKEN}"}
    setup = subprocess.run([sys.executable, "deployments/setup_alerts.py"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert setup.returncode == 0, setup.stderr[-2000:]
    assert [a["name"] for a in server.post("/automations/filter")] == ["alert-webhook"]

    run = subprocess.run([sys.executable, "flows/main.py", "--students", "200", "--seed", "9", "--malformed-rate",
                          "0.5", "--no-train"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "rejected" in run.stderr.strip().splitlines()[-1]

    [delivery] = server.wait_for(lambda: received, 90, "the alert's webhook notification")
    assert delivery["path"] == f"/hooks/team?token={TOKEN}"  # the secret only where it belongs: the address
    payload = json.loads(delivery["body"])
    assert payload["subject"] == "student-pipeline alert" and payload["source"] == "student-pipeline"
    assert "critical alert (quality_gate)" in payload["text"] and "gen-s9-n200-L" in payload["text"]
    assert "rejected-share gate failed" in payload["text"] and "'share':" in payload["text"]
    assert TOKEN not in delivery["body"] and env["MONGO_URI"] not in delivery["body"]
