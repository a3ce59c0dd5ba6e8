"""Create (or update) what turns alerts into notifications on a Prefect server: a webhook notification block
whose address is PIPELINE_ALERT_WEBHOOK_URL (kept as a block secret: a URL that carries a token, as Slack's do, is
never shown or logged), and the automation ``alert-webhook``, which sends every ``student-pipeline.alert.raised``
event through it.

    export PREFECT_API_URL=http://127.0.0.1:4200/api PIPELINE_ALERT_WEBHOOK_URL=https://hooks.example.com/...
    python deployments/setup_alerts.py
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = "student-pipeline-alerts"
AUTOMATION = "alert-webhook"
BODY = ("{{ event.payload.severity }} alert ({{ event.payload.kind }}): {{ event.payload.message }}\n"
        "numbers: {{ event.payload.numbers }}\n"
        "alert {{ event.payload.alert_id }}, seen {{ event.payload.occurrences }} time(s): DASHBOARD/alerts")


def setup(webhook_url: str, dashboard: str) -> tuple[str, str]:
    """Save the block and (re)create the automation; returns their ids."""
    from prefect.automations import Automation, EventTrigger
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.events.actions import SendNotification

    block = CustomWebhookNotificationBlock(
        name=BLOCK, url="{{webhook_url}}", method="POST", secrets={"webhook_url": webhook_url},
        json_data={"subject": "{{subject}}", "text": "{{body}}", "source": "student-pipeline"})
    block_id = block.save(BLOCK, overwrite=True)
    with contextlib.suppress(ValueError):  # not there yet
        Automation.read(name=AUTOMATION).delete()
    automation = Automation(
        name=AUTOMATION, description="Every alert the pipeline raises (drift, a performance drop, an invalid A/B "
                                     "split, a failed quality gate), posted to the alert webhook.",
        trigger=EventTrigger(expect={"student-pipeline.alert.raised"},
                             match={"prefect.resource.id": "student-pipeline.alert.*"}, posture="Reactive",
                             threshold=1, within=0),
        actions=[SendNotification(block_document_id=block_id, subject="student-pipeline alert",
                                  body=BODY.replace("DASHBOARD", dashboard))]).create()
    return str(block_id), str(automation.id)


def main() -> int:
    """Read the settings, check them, set up, say what was done."""
    sys.path.insert(0, str(ROOT))
    from prefect.settings import PREFECT_API_URL

    from infra.settings import get_settings

    settings = get_settings()
    url = settings.alert_webhook_url.get_secret_value()
    if not url:
        print("error: PIPELINE_ALERT_WEBHOOK_URL is not set: where should alerts be posted?", file=sys.stderr)
        return 1
    if not PREFECT_API_URL.value():
        print("error: PREFECT_API_URL is not set: alerts are delivered by a Prefect server's automation",
              file=sys.stderr)
        return 1
    block_id, automation_id = setup(url, settings.dashboard_base)
    print(f"webhook block {BLOCK} ({block_id}) and automation {AUTOMATION} ({automation_id}) are set up")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
