"""What a sync flow run tells Prefect stays small whatever the feed holds: a feed whose cells
run to hundreds of thousands of characters is rejected as it would be without Prefect, its
event emitted and its artifacts published with each value shortened, where Prefect refused the
event (over 1.5 MB) and the flow run of a run already recorded failed."""

from __future__ import annotations

import json

import polars as pl
import pytest

from rosterflow.flows.notify import VALUE_CHARACTERS
from rosterflow.flows.sync import summary_markdown
from rosterflow.schemas.runs import SyncResult
from tests.feeds import tiny_district, write_feed
from tests.flows.test_notify_retries import _our_events
from tests.flows.test_sync import artifacts_of
from tests.webhook import Receiver

LONG_ROLE = "x" * 400_000


def _long_roles(tmp_path):
    """A feed each of whose users has a role of 400,000 characters: five errors whose values
    alone are 2 MB."""
    frames = tiny_district()
    frames["users"] = frames["users"].with_columns(pl.lit(LONG_ROLE).alias("role"))
    return write_feed(tmp_path / "north.zip", frames)


@pytest.mark.flow
def test_a_feed_of_huge_values_is_rejected_its_event_and_artifacts_shortened(
    tmp_path, prefect_events
):
    """The flow run failed with Prefect's EventTooLarge after recording the run as rejected
    (`rosterflow sync` said "what followed it failed"), no automation heard of it, and neither
    artifact was published."""
    from rosterflow.flows.sync import sync_flow

    receiver = Receiver()
    config = tmp_path / "settings.toml"
    config.write_text(f'[notify]\nwebhook = "{receiver.url}"\n')
    try:
        state = sync_flow(
            str(_long_roles(tmp_path)),
            str(tmp_path / "w.duckdb"),
            config=str(config),
            return_state=True,
        )
    finally:
        receiver.close()

    assert state.is_completed()
    assert state.result().outcome == "rejected"
    shown = f"{'x' * VALUE_CHARACTERS}… (400,000 characters)"
    events = _our_events(prefect_events)
    assert [event.event for event in events] == ["rosterflow.run.rejected"]
    assert [issue["value"] for issue in events[0].payload["issues"]] == [shown] * 5
    assert len(json.dumps(events[0].payload)) < 20_000
    # the webhook is sent the same
    assert [issue["value"] for issue in receiver.posts[0]["issues"]] == [shown] * 5

    artifacts = artifacts_of(state)
    assert [row["value"] for row in json.loads(artifacts["sync-north-issues"].data)] == (
        [shown] * 5
    )
    # (it said "the first 50 of 5 issues", as if there were more to see)
    assert artifacts["sync-north-issues"].description == "run 1: 5 issues"
    assert "rejected" in artifacts["sync-north-summary"].data


def test_the_summary_keeps_a_name_with_a_line_feed_on_its_heading():
    """A zip named with a line feed ended the markdown heading there, the rest of its name and
    the outcome shown as a paragraph."""
    no_changes = pl.DataFrame(schema={"entity": pl.String, "action": pl.String, "count": pl.UInt32})
    result = SyncResult(3, "north\nisd", "north\n# forged.zip", "held", None, no_changes)
    lines = summary_markdown(result).splitlines()

    assert lines[0] == "# Sync of north\\n# forged.zip: held"
    assert "- **tenant:** north\\nisd" in lines
    assert not any(line.startswith("# forged") for line in lines)
