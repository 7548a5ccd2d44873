"""A Prefect automation that tells a person when a sync needs them.

Every sync flow run emits `rosterflow.run.<outcome>` on the resource `rosterflow.tenant.<slug>`
(flows.sync.emit_run_event), with the run's summary and first issues as payload. This module
creates the automation that answers `held`, `rejected` and `failed` with a notification through
any Prefect notification block (Slack, Microsoft Teams, email, a custom webhook, ...):

    python -m rosterflow.flows.prefect_alerts BLOCK_SLUG [--name NAME]

e.g. `python -m rosterflow.flows.prefect_alerts slack-webhook/district-alerts` after saving the block in the
UI (Blocks -> Slack Webhook) or in Python (`SlackWebhook(url=...).save("district-alerts")`).
Run again, it replaces the automation of that name rather than adding a second one. A block
not saved yet, or a server that cannot be reached, is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from uuid import UUID

from prefect.automations import Automation
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

NOTIFIED_EVENTS = ("rosterflow.run.held", "rosterflow.run.rejected", "rosterflow.run.failed")
DEFAULT_NAME = "rosterflow: a sync needs a person"
SUBJECT = "rosterflow: {{ event.resource.name }} {{ event.event.split('.')[-1] }}"
# the warehouse, and for a held run the commands that decide it with `--warehouse` named: the
# run's message names the run alone (`rosterflow approve 4`), which, run anywhere but the
# sync's folder, reads another warehouse (always so for a per-tenant layout); the warehouse is
# quoted as shlex.quote would, for a shell. A run, line, field or value that is not there is
# left out rather than shown as "None" (a refused tenant file has no run yet)
_WAREHOUSE = "'{{ event.payload.warehouse | replace(\"'\", \"'\\\"'\\\"'\") }}'"
# an issue's field, value and message with their line breaks written `\n`, as the [notify]
# mail writes them: a quoted cell of the feed can hold one, which split its issue over two
# lines and made the rest of the value read as the next issue
_ONE_LINE = "| replace('\\r', '\\\\r') | replace('\\n', '\\\\n')"
_BODY = """\
Tenant {{ event.resource.name }}: \
{% if event.payload.run_id is not none %}run {{ event.payload.run_id }} of {% endif %}\
{{ event.payload.feed }} was {{ event.event.split('.')[-1] }}.
{% if event.payload.warehouse %}Warehouse: {{ event.payload.warehouse }}
{% endif %}\
{{ event.payload.message }}
{% if event.event.endswith('.held') and event.payload.warehouse %}
Decide: rosterflow approve {{ event.payload.run_id }} --warehouse WAREHOUSE
    or: rosterflow discard {{ event.payload.run_id }} --warehouse WAREHOUSE
{% endif %}\
{% for change in event.payload.changes or [] %}
  {{ change.entity }} {{ change.action }}: {{ change.count }}{% endfor %}
{% for issue in (event.payload.issues or [])[:10] %}
  {{ issue.file }}{% if issue.line is not none %} line {{ issue.line }}{% endif %}\
{% if issue.field %} {{ issue.field ONE_LINE }}{% endif %}: {{ issue.rule }}\
{% if issue.value is not none %} ({{ issue.value ONE_LINE }}){% endif %}\
{% if issue.message %} {{ issue.message ONE_LINE }}{% endif %}\
{% endfor %}
"""
BODY = _BODY.replace("WAREHOUSE", _WAREHOUSE).replace("ONE_LINE", _ONE_LINE)


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


class AlertsError(Exception):
    """The automation cannot be made as asked: no such block, no server (exit 2)."""


def block_document_id(block_slug: str) -> UUID:
    """The id of the saved block `type/name` on the configured Prefect server (its secrets
    not read); an AlertsError saying how to save it when there is none."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    block_type, _, name = block_slug.partition("/")
    if not block_type or not name:
        raise AlertsError(
            f"{block_slug!r}: name the block as type/name, such as slack-webhook/district-alerts"
        )
    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(
                name=name, block_type_slug=block_type, include_secrets=False
            )
        except ObjectNotFound:
            raise AlertsError(
                f"no block {block_slug!r} is saved on the Prefect server: save it first, in the "
                f"UI (Blocks -> +, type {block_type}, name {name}) or in Python, such as "
                f'SlackWebhook(url=...).save("{name}")'
            ) from None
    assert document.id is not None
    return document.id


def create_alerts(block_slug: str, name: str = DEFAULT_NAME) -> Automation:
    """Create the automation on the configured Prefect server for the block `type/name`, or
    replace the one of that name (and remove copies of it an earlier version made): run twice,
    there is still one automation, and each alert is sent once."""
    from prefect import get_client

    wanted = alert_automation(block_document_id(block_slug), name)
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(name=name)  # the newest first
    if not existing:
        return wanted.create()
    kept, *copies = existing
    wanted.id = kept.id
    wanted.update()
    with get_client(sync_client=True) as client:
        for copy in copies:
            client.delete_automation(copy.id)
    return wanted


def main(arguments: list[str] | None = None) -> int:
    """The command line: create or replace the automation; 2 with one line when it cannot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("block", help="the notification block, as type/name")
    parser.add_argument("--name", default=DEFAULT_NAME)
    parsed = parser.parse_args(arguments)
    from prefect.settings import PREFECT_API_URL

    from rosterflow.flows.prefect_logging import prefect_unreachable

    try:
        if not PREFECT_API_URL.value():
            raise AlertsError(
                "an automation lives on a Prefect server: start one with `prefect server "
                "start` and set PREFECT_API_URL (for example http://127.0.0.1:4200/api)"
            )
        automation = create_alerts(parsed.block, parsed.name)
    except AlertsError as error:
        print(f"rosterflow: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        unreachable = prefect_unreachable(
            error, "set PREFECT_API_URL to the server syncs report to"
        )
        if unreachable is None:
            raise
        print(f"rosterflow: {unreachable}", file=sys.stderr)
        return 2
    print(
        f"automation {automation.name!r} ({automation.id}): held, rejected and failed runs "
        f"notify through {parsed.block}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
