"""The Prefect sync flow: real flow runs under the shared harness, and the plain helpers."""

from __future__ import annotations

import json
import re

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from prefect.states import Failed

from rosterflow.flows.sync import (
    ARTIFACT_ISSUES,
    artifact_key,
    first_issues,
    summary_markdown,
    sync_flow,
    worth_retrying,
)
from rosterflow.schemas.feed import FeedError, open_feed
from rosterflow.schemas.issues import issue_frame, issue_row
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import SettingsError
from tests.feeds import tiny_district, with_cell, write_feed

LMS_TABLES = ("domains", "users", "courses", "enrollments", "observers")


def lms(warehouse) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {t: con.sql(f"select * from lms.{t} order by all").pl() for t in LMS_TABLES}


def query(warehouse, sql: str, params: list | None = None) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql, params=params).pl()


def artifacts_of(state) -> dict[str, object]:
    """The artifacts a flow run created, by key."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    run_filter = ArtifactFilter(
        flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
    )
    with get_client(sync_client=True) as client:
        return {a.key: a for a in client.read_artifacts(artifact_filter=run_filter)}


def result_with(issues: pl.DataFrame, outcome="rejected", message=None) -> SyncResult:
    summary = pl.DataFrame(
        {"entity": ["user"], "action": ["create"], "count": [3]},
        schema={"entity": pl.String, "action": pl.String, "count": pl.UInt32},
    )
    return SyncResult(7, "North ISD #1", "feed.zip", outcome, message, summary, issues)


# --- real flow runs ----------------------------------------------------------------------------


@pytest.mark.smoke  # the real flow run of the README's command
@pytest.mark.flow
def test_a_flow_run_applies_a_district_and_publishes_both_artifacts(tmp_path):
    feed = write_feed(tmp_path / "north.zip", tiny_district())
    warehouse = tmp_path / "w.duckdb"

    state = sync_flow(str(feed), str(warehouse), return_state=True)

    assert state.is_completed()
    result = state.result()
    assert (result.outcome, result.tenant, result.run_id) == ("applied", "north", 1)
    created = dict(
        result.summary.filter(pl.col("action") == "create").select("entity", "count").iter_rows()
    )
    assert {e: lms(warehouse)[f"{e}s"].height for e in created} == created
    assert created["user"] == 5

    artifacts = artifacts_of(state)
    assert set(artifacts) == {"sync-north-summary", "sync-north-issues"}
    markdown = artifacts["sync-north-summary"].data
    assert "**outcome:** applied" in markdown and "**tenant:** north" in markdown
    assert "| user | create | 5 |" in markdown
    assert json.loads(artifacts["sync-north-issues"].data) == []


@pytest.mark.flow
def test_a_dry_run_plans_and_leaves_lms_alone(tmp_path):
    feed = write_feed(tmp_path / "north.zip", tiny_district())
    warehouse = tmp_path / "w.duckdb"

    result = sync_flow(str(feed), str(warehouse), tenant="t1", dry_run=True)

    assert result.outcome == "planned" and result.exit_code == 0
    assert all(frame.height == 0 for frame in lms(warehouse).values())
    planned = query(warehouse, "select count(*) as n from audit.changes where run_id = ?", [1])
    assert planned["n"][0] == result.summary["count"].sum() > 0


@pytest.mark.slow  # (in-process: test_cli_plain's rejected run; this adds the flow's artifact)
@pytest.mark.flow
def test_a_feed_with_errors_is_rejected_and_lms_keeps_its_rows(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    sync_flow(str(write_feed(tmp_path / "d.zip", tiny_district())), str(warehouse))
    before = lms(warehouse)
    broken = write_feed(
        tmp_path / "d2.zip", with_cell(tiny_district(), "users", 2, "role", "pupil")
    )

    state = sync_flow(str(broken), str(warehouse), tenant="d", return_state=True)

    result = state.result()
    assert (result.outcome, result.exit_code) == ("rejected", 1)
    for table, rows in lms(warehouse).items():
        assert_frame_equal(rows, before[table])
    runs = query(warehouse, "select run_id, outcome from audit.sync_runs order by run_id")
    assert runs.rows() == [(1, "applied"), (2, "rejected")]
    recorded = query(warehouse, "select file, line, field, rule from audit.issues where run_id = 2")
    assert ("users.csv", 4, "role", "enum") in recorded.rows()
    table = json.loads(artifacts_of(state)["sync-d-issues"].data)
    assert {"file": "users.csv", "line": 4, "field": "role", "value": "pupil"}.items() <= table[
        0
    ].items()


@pytest.mark.flow
def test_a_held_run_emits_its_event_and_notifies_from_the_flow(tmp_path, prefect_events):
    from prefect.events.clients import AssertingEventsClient

    from tests.feeds import without_students
    from tests.webhook import Receiver

    receiver = Receiver()
    config = tmp_path / "notify.toml"
    config.write_text(f'[notify]\nwebhook = "{receiver.url}"\n')
    warehouse = tmp_path / "w.duckdb"
    try:
        sync_flow(
            str(write_feed(tmp_path / "d.zip", tiny_district())), str(warehouse), "d", str(config)
        )
        feed = write_feed(tmp_path / "d2.zip", without_students(tiny_district()))
        result = sync_flow(str(feed), str(warehouse), tenant="d", config=str(config))
    finally:
        receiver.close()
    prefect_events.drain()

    assert result.outcome == "held"
    assert [p["outcome"] for p in receiver.posts] == ["held"]
    events = [e for client in AssertingEventsClient.all for e in client.events]
    ours = [e for e in events if e.event.startswith("rosterflow.run.")]
    assert [e.event for e in ours] == ["rosterflow.run.applied", "rosterflow.run.held"]
    held = ours[-1]
    assert held.resource.id == "rosterflow.tenant.d"
    assert held.payload["run_id"] == result.run_id
    assert "rosterflow approve" in held.payload["message"]
    # the same JSON as the webhook's: where the run is included
    assert held.payload["warehouse"] == receiver.posts[0]["warehouse"] == str(warehouse)


@pytest.mark.flow
def test_errors_inside_the_flow_reach_the_caller_as_themselves(tmp_path):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    (tmp_path / "bad.toml").write_text("[safety]\nmax_removal_share = 3\n")
    with pytest.raises(SettingsError, match="max_removal_share"):
        sync_flow(str(feed), str(tmp_path / "w.duckdb"), config=str(tmp_path / "bad.toml"))
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    with pytest.raises(FeedError, match="not a zip"):
        sync_flow(str(tmp_path / "junk.zip"), str(tmp_path / "w.duckdb"))


@pytest.mark.slow  # (two flow runs, 5 s)
@pytest.mark.flow
def test_reading_the_feed_is_retried_after_an_io_error(tmp_path, monkeypatch):
    from rosterflow.flows import steps

    feed = write_feed(tmp_path / "d.zip", tiny_district())
    calls = []

    def flaky_share(path, **options):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        return open_feed(path, **options)

    monkeypatch.setattr(steps, "open_feed", flaky_share)

    result = sync_flow(str(feed), str(tmp_path / "w.duckdb"))

    assert result.outcome == "applied" and len(calls) == 2


# --- plain helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant", "key"),
    [
        ("north", "sync-north-summary"),
        ("North ISD #1", "sync-north-isd-1-summary"),
        ("__", "sync-tenant-9911f4d2-summary"),
    ],
)
def test_artifact_keys_are_lowercase_letters_digits_and_dashes(tenant, key):
    assert artifact_key(tenant, "summary") == key


def test_tenants_of_no_latin_letter_or_digit_have_artifact_keys_and_resources_of_their_own():
    """`東京` and `大阪` were both `tenant`: one artifact key, each run's summary shown as the
    other's latest, and one event resource, an automation for one firing for both."""
    from rosterflow.flows.sync import _tenant_resource

    tokyo, osaka = artifact_key("東京", "summary"), artifact_key("大阪", "summary")
    assert tokyo != osaka
    assert re.fullmatch(r"sync-tenant-[0-9a-f]{8}-summary", tokyo)
    ids = {_tenant_resource(t)["prefect.resource.id"] for t in ("東京", "大阪", "Αθήνα")}
    assert len(ids) == 3


def test_the_summary_states_outcome_tenant_run_changes_and_issue_counts():
    issues = issue_frame(
        [issue_row("users.csv", n, "role", "x", "enum", "error", "bad role") for n in range(2, 62)]
        + [issue_row("orgs.csv", 2, "name", None, "required", "warning", "empty")]
    )
    markdown = summary_markdown(result_with(issues, message="60 validation errors"))
    assert markdown.startswith("# Sync of feed.zip: rejected\n")
    for line in (
        "- **tenant:** North ISD #1",
        "- **run_id:** 7",
        "- **why:** 60 validation errors",
        "| user | create | 3 |",
        "| error | enum | 60 |",
        "| warning | required | 1 |",
        f"The first {ARTIFACT_ISSUES} issues are in the table artifact.",
    ):
        assert line in markdown.splitlines()
    assert len(first_issues(issues)) == ARTIFACT_ISSUES
    assert first_issues(issues)[0] == {
        "file": "users.csv",
        "line": 2,
        "field": "role",
        "value": "x",
        "rule": "enum",
        "severity": "error",
        "message": "bad role",
    }


def test_only_io_errors_are_worth_another_read():
    assert worth_retrying(None, None, Failed(data=OSError("share went away")))
    assert worth_retrying(None, None, Failed(data=TimeoutError()))
    assert not worth_retrying(None, None, Failed(data=FeedError("x.zip: no such file")))
    assert not worth_retrying(None, None, Failed(data=ValueError("a bug")))


@pytest.mark.flow
def test_the_alert_automation_is_accepted_by_a_prefect_server():
    from prefect.automations import Automation
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    from rosterflow.flows.prefect_alerts import NOTIFIED_EVENTS, create_alerts

    CustomWebhookNotificationBlock(
        name="district", url="http://127.0.0.1:9/hook", json_data={"text": "{{body}}"}
    ).save("district-alerts", overwrite=True)

    created = create_alerts("custom-webhook/district-alerts", name="rosterflow test alerts")

    stored = Automation.read(id=created.id)
    assert stored.name == "rosterflow test alerts"
    assert stored.trigger.expect == set(NOTIFIED_EVENTS)
    assert stored.trigger.match.model_dump() == {"prefect.resource.id": "rosterflow.tenant.*"}
    assert stored.actions[0].type == "send-notification"
    stored.delete()
