"""A Prefect automation that tells a person when a sync needs them.

Every sync flow run emits `rosterflow.run.<outcome>` on the resource `rosterflow.tenant.<slug>`
(flows.sync.emit_run_event), with the run's summary and first issues as payload. This module
creates the automation that answers `held`, `rejected` and `failed` with a notification through
any Prefect notification block (Slack, Microsoft Teams, email, a custom webhook, ...):

    python -m rosterflow.flows.prefect_alerts BLOCK_SLUG [--name NAME]

e.g. `python -m rosterflow.flows.prefect_alerts slack-webhook/district-alerts` after saving the block in the
UI (Blocks -> Slack Webhook) or in Python (`SlackWebhook(url=...).save("district-alerts")`).
"""

from __future__ import annotations

import argparse
from uuid import UUID

from prefect.automations import Automation
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

NOTIFIED_EVENTS = ("rosterflow.run.held", "rosterflow.run.rejected", "rosterflow.run.failed")
DEFAULT_NAME = "rosterflow: a sync needs a person"
SUBJECT = "rosterflow: {{ event.resource.name }} {{ event.event.split('.')[-1] }}"
BODY = """\
Tenant {{ event.resource.name }}: run {{ event.payload.run_id }} of {{ event.payload.feed }} \
was {{ event.event.split('.')[-1] }}.
{{ event.payload.message }}
{% for change in event.payload.changes or [] %}
  {{ change.entity }} {{ change.action }}: {{ change.count }}{% endfor %}
{% for issue in (event.payload.issues or [])[:10] %}
  {{ issue.file }}:{{ issue.line }} {{ issue.field }} {{ issue.rule }}: {{ issue.message }}\
{% endfor %}
"""


def alert_automation(block_document_id: UUID, name: str = DEFAULT_NAME) -> Automation:
    """The automation (not yet created on the server): each held, rejected or failed run of any
    tenant sends one notification through the block."""
    return Automation(
        name=name,
        description="Notifies when a rosterflow sync is held by a safety guard, rejected, or fails.",
        trigger=EventTrigger(
            expect=set(NOTIFIED_EVENTS),
            match={"prefect.resource.id": "rosterflow.tenant.*"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=SUBJECT, body=BODY)],
    )


def create_alerts(block_slug: str, name: str = DEFAULT_NAME) -> Automation:
    """Create the automation on the configured Prefect server for the block `type/name`."""
    from prefect.blocks.core import Block

    block = Block.load(block_slug)
    return alert_automation(block._block_document_id, name).create()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("block", help="the notification block, as type/name")
    parser.add_argument("--name", default=DEFAULT_NAME)
    arguments = parser.parse_args()
    created = create_alerts(arguments.block, arguments.name)
    print(f"created automation {created.name!r} ({created.id})")
