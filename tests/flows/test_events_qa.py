"""The Prefect events a sync flow run emits are named by the outcome their payload gives, as the
inbox files the zip and `[notify]` says it: an automation on the event's name can tell a
refused tenant file (`rosterflow.run.rejected`) from a run that broke (`rosterflow.run.failed`)."""

from __future__ import annotations

import pytest

from rosterflow.flows.prefect_alerts import NOTIFIED_EVENTS
from tests.feeds import tiny_district, write_feed
from tests.flows.test_fanout_qa import TEMPLATE, _one_file_copied_in
from tests.flows.test_notify_retries import _our_events
from tests.webhook import Receiver


@pytest.mark.flow
def test_a_refused_tenant_file_emits_rosterflow_run_rejected_not_failed(tmp_path, prefect_events):
    """The event was `rosterflow.run.failed` with `outcome: "rejected"` in its payload, while the
    webhook, the inbox and the payload all said rejected."""
    from rosterflow.flows.sync import sync_flow
    from rosterflow.warehouse.layout import TenantFileRefused

    _one_file_copied_in(tmp_path, "north")
    receiver = Receiver()
    config = tmp_path / "settings.toml"
    config.write_text(f'[notify]\nwebhook = "{receiver.url}"\n')
    feed = write_feed(tmp_path / "nightly.zip", tiny_district())
    try:
        with pytest.raises(TenantFileRefused):
            sync_flow(
                feed=str(feed),
                warehouse=str(tmp_path / TEMPLATE),
                tenant="north",
                config=str(config),
            )
    finally:
        receiver.close()

    events = _our_events(prefect_events)
    assert [event.event for event in events] == ["rosterflow.run.rejected"]
    assert events[0].event in NOTIFIED_EVENTS  # the alert automation still answers it
    assert events[0].resource.id == "rosterflow.tenant.north"
    assert events[0].payload["outcome"] == receiver.posts[0]["outcome"] == "rejected"
    assert events[0].payload["message"] == receiver.posts[0]["message"]
    assert "one-file warehouse" in events[0].payload["message"]


@pytest.mark.flow
def test_a_run_that_broke_still_emits_rosterflow_run_failed(tmp_path, prefect_events):
    """Automations that match `rosterflow.run.failed` keep hearing of every run that broke."""
    from rosterflow.flows.sync import sync_flow

    not_a_zip = tmp_path / "nightly.zip"
    not_a_zip.write_text("the SIS exported its error page\n")
    with pytest.raises(Exception, match="not a zip"):
        sync_flow(feed=str(not_a_zip), warehouse=str(tmp_path / TEMPLATE), tenant="north")

    events = _our_events(prefect_events)
    assert [event.event for event in events] == ["rosterflow.run.failed"]
    assert events[0].payload["outcome"] == "failed"
    assert events[0].payload["feed"] == "nightly.zip"


@pytest.mark.flow
def test_settings_the_sync_cannot_use_still_emit_rosterflow_run_failed(tmp_path, prefect_events):
    """The flow run failed on its settings before any event was emitted: an automation on
    `rosterflow.run.failed` never heard of it, while every sync flow run emits one."""
    from rosterflow.flows.sync import sync_flow
    from rosterflow.schemas.settings import SettingsError

    config = tmp_path / "settings.toml"
    config.write_text("[safety]\nmax_removal_share = 2\n")
    feed = write_feed(tmp_path / "nightly.zip", tiny_district())
    with pytest.raises(SettingsError, match="max_removal_share"):
        sync_flow(feed=str(feed), warehouse=str(tmp_path / "w.duckdb"), config=str(config))

    events = _our_events(prefect_events)
    assert [event.event for event in events] == ["rosterflow.run.failed"]
    assert events[0].payload["feed"] == "nightly.zip"
    assert "max_removal_share" in events[0].payload["message"]


def _alert_body(event) -> str:
    """The body the alert automation's notification gets, rendered as the Prefect server
    renders it."""
    from prefect.server.utilities.user_templates import (
        render_user_template_sync,
        validate_user_template,
    )

    from rosterflow.flows.prefect_alerts import BODY

    validate_user_template(BODY)  # as the server does when the automation is created
    return render_user_template_sync(BODY, {"event": event})


@pytest.mark.flow
def test_the_alert_of_a_held_run_in_a_layout_names_the_commands_that_decide_it(
    tmp_path, prefect_events, monkeypatch
):
    """The alert said only the run's message, `rosterflow approve 4`: run from anywhere but the
    sync's folder it reads rosterflow.duckdb, never a per-tenant layout's file; the warehouse
    the payload carries was not shown."""
    import shlex

    from typer.testing import CliRunner

    from rosterflow.flows.cli import app
    from rosterflow.flows.sync import sync_flow
    from tests.feeds import without_students

    warehouse = str(tmp_path / "it's" / TEMPLATE)
    first = write_feed(tmp_path / "monday.zip", tiny_district())
    sync_flow(feed=str(first), warehouse=warehouse, tenant="north")
    emptied = write_feed(tmp_path / "tuesday.zip", without_students(tiny_district()))
    held = sync_flow(feed=str(emptied), warehouse=warehouse, tenant="north")
    assert held.outcome == "held"

    event = _our_events(prefect_events)[-1]
    body = _alert_body(event)
    assert f"Tenant north: run {held.run_id} of tuesday.zip was held.\n" in body
    assert f"Warehouse: {warehouse}\n" in body
    [approve] = [line for line in body.splitlines() if line.startswith("Decide: ")]
    [discard] = [line for line in body.splitlines() if line.startswith("    or: ")]
    assert shlex.split(discard.removeprefix("    or: ")) == [
        "rosterflow",
        "discard",
        str(held.run_id),
        "--warehouse",
        warehouse,
    ]
    # the command as the alert gives it, from a folder that is not the sync's
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    applied = CliRunner().invoke(app, shlex.split(approve.removeprefix("Decide: "))[1:])
    assert applied.exit_code == 0, applied.output
    assert "applied" in applied.output


def test_the_alert_of_a_refused_tenant_file_shows_no_run_and_no_none():
    """A refused tenant file has no run yet, and a whole file's issue no line or field: the
    alert said `run None of nightly.zip` and `manifest.csv:None None`."""
    from prefect.events import Event

    event = Event(
        event="rosterflow.run.rejected",
        resource={"prefect.resource.id": "rosterflow.tenant.north", "prefect.resource.name": "north"},
        payload={
            "outcome": "rejected",
            "tenant": "north",
            "run_id": None,
            "feed": "nightly.zip",
            "message": "wh/north.duckdb: holds 1 run(s) of a one-file warehouse",
            "changes": [],
            "issues": [
                {"file": "manifest.csv", "line": None, "field": None, "rule": "file.missing",
                 "value": None, "message": "no manifest.csv"},
                {"file": "users.csv", "line": 4, "field": "role", "rule": "enum",
                 "value": "pupil", "message": "not a role"},
            ],
            "warehouse": "/data/wh/{tenant}.duckdb",
        },
    )  # fmt: skip
    body = _alert_body(event)
    assert body.startswith("Tenant north: nightly.zip was rejected.\n")
    assert "Warehouse: /data/wh/{tenant}.duckdb\n" in body
    assert "Decide" not in body and "None" not in body
    assert "  manifest.csv: file.missing no manifest.csv\n" in body
    assert "  users.csv line 4 role: enum (pupil) not a role" in body
