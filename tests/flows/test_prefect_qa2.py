"""The alert automation's notification keeps each issue on its line: a cell of the feed holding
a line break split its issue over two lines, the rest of the value reading as the next issue,
where the `[notify]` mail writes it `\\n`. A sync flow run has a `notify` task only when
`[notify]` names someone to tell, as the docs say: one that ran without sending anything read
in the UI as a person told of the run."""

from __future__ import annotations

import pytest

from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.settings import Settings
from tests.feeds import tiny_district, with_cell, write_feed
from tests.flows.test_events_qa import _alert_body
from tests.webhook import Receiver


def test_an_alert_keeps_a_value_with_a_line_break_on_its_issue_s_line(tmp_path):
    from prefect.events import Event

    from rosterflow.flows.notify import bounded

    broken = with_cell(tiny_district(), "users", 0, "role", "stu\r\ndent")
    broken = with_cell(broken, "users", 1, "role", "teach\ner")
    feed = write_feed(tmp_path / "north.zip", broken)
    rejected = run_steps(Steps(), feed, tmp_path / "w.duckdb", Settings(), "north")
    assert rejected.outcome == "rejected"

    event = Event(
        event="rosterflow.run.rejected",
        resource={
            "prefect.resource.id": "rosterflow.tenant.north",
            "prefect.resource.name": "north",
        },
        payload=bounded(rejected.payload()),
    )
    body = _alert_body(event)

    # (the second record begins on line 4: the first one's line break is in its cell)
    shown = [line for line in body.splitlines() if line.startswith("  users.csv")]
    enum = rejected.issues["message"][0]
    assert shown == [
        rf"  users.csv line 2 role: enum (stu\r\ndent) {enum}",
        rf"  users.csv line 4 role: enum (teach\ner) {enum}",
    ]


def _task_names(state) -> list[str]:
    """The names of the tasks of the flow run that ended in `state`, in the order they ran,
    without the suffix Prefect numbers them by (`notify-3c7`)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=flow_runs, sort=TaskRunSort.EXPECTED_START_TIME_ASC
        )
    return [run.name.rsplit("-", 1)[0] for run in runs]


@pytest.mark.flow
def test_a_flow_run_has_a_notify_task_only_when_notify_names_someone(tmp_path):
    from rosterflow.flows.sync import sync_flow

    feed = write_feed(tmp_path / "north.zip", with_cell(tiny_district(), "users", 0, "role", "x"))
    webhook = Receiver()
    config = tmp_path / "settings.toml"
    config.write_text(f'[notify]\nwebhook = "{webhook.url}"\n')
    try:
        told = sync_flow(
            feed=str(feed),
            warehouse=str(tmp_path / "w.duckdb"),
            config=str(config),
            return_state=True,
        )
        untold = sync_flow(feed=str(feed), warehouse=str(tmp_path / "w.duckdb"), return_state=True)
    finally:
        webhook.close()

    assert [state.result().outcome for state in (told, untold)] == ["rejected", "rejected"]
    assert [post["outcome"] for post in webhook.posts] == ["rejected"]
    steps = ["load-settings", "load-feed", "read-feed", "recall", "validate", "reject"]
    assert _task_names(told) == [*steps, "notify", "publish"]
    assert _task_names(untold) == [*steps, "publish"]
