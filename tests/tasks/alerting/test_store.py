"""Alerts: stored as raised (the dashboard escapes on display), announced with client text escaped for chat."""

from __future__ import annotations

from infra.collections import ALERTS
from tasks.alerting.alerts import Alert
from tasks.alerting.store import for_chat, raise_alert


def test_text_from_clients_reaches_the_webhook_as_text_and_the_store_as_it_came(db, monkeypatch):
    import prefect.events

    emitted = []
    monkeypatch.setattr(prefect.events, "emit_event", lambda **event: emitted.append(event))
    name = "<!channel> <https://evil.example|click> & <script>alert(1)</script>"
    alert = Alert(kind="ab_test_invalid", severity="critical", message=f"A/B test {name} split is invalid",
                  batch_id=None, model="high_performer", version=2, numbers={"test": name, "units": 120})
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # announced, as to a server
        stored = raise_alert(db, alert)
    assert stored["message"] == f"A/B test {name} split is invalid"  # kept as it came
    assert db[ALERTS].count_documents({}) == 1
    [event] = emitted
    message = event["payload"]["message"]
    assert "<" not in message and ">" not in message and "&lt;!channel&gt;" in message and "&amp;" in message
    assert event["payload"]["numbers"] == {"test": for_chat(name), "units": 120}
    assert for_chat(3) == 3 and for_chat(["a<b"]) == ["a&lt;b"]
