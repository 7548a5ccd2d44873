"""The sync and the inbox scan without Prefect (`flows.plain`): the same steps as the flows, each
announced to the CLI's spinner by the name of its task."""

from __future__ import annotations

import pytest

from rosterflow.flows import plain, steps
from rosterflow.flows.progress import announced, listening_to_steps
from rosterflow.schemas.feed import FeedError, open_feed
from tests.feeds import tiny_district, with_cell, write_feed

FULL_RUN = [
    "load-settings",
    "load-feed",
    "read-feed",
    "recall",
    "validate",
    "plan",
    "guard",
    "apply",
]


def steps_of(run, *arguments, **options) -> tuple[object, list[str]]:
    heard: list[str] = []
    with listening_to_steps(heard.append):
        outcome = run(*arguments, **options)
    return outcome, heard


def test_listeners_hear_each_call_until_they_stop_listening():
    heard: list[str] = []
    double = announced(lambda x: 2 * x, "double")
    with listening_to_steps(heard.append):
        assert double(2) == 4
        with listening_to_steps(lambda name: heard.append(name.upper())):
            double(3)
    double(4)
    assert heard == ["double", "double", "DOUBLE"]


def test_the_plain_sync_announces_each_step_by_its_task_name(tmp_path):
    feed, warehouse = write_feed(tmp_path / "north.zip", tiny_district()), tmp_path / "w.duckdb"

    applied, full = steps_of(plain.sync, str(feed), str(warehouse))
    recalled, short = steps_of(plain.sync, str(feed), str(warehouse))
    broken = write_feed(tmp_path / "n2.zip", with_cell(tiny_district(), "users", 2, "role", "x"))
    rejected, refused = steps_of(plain.sync, str(broken), str(warehouse), tenant="north")

    assert (applied.outcome, recalled.outcome, rejected.outcome) == (
        "applied",
        "applied",
        "rejected",
    )
    assert full == FULL_RUN
    assert short == ["load-settings", "load-feed", "read-feed", "recall"]
    assert refused == ["load-settings", "load-feed", "read-feed", "recall", "validate", "reject"]


@pytest.mark.flow
def test_the_flow_announces_the_same_steps_and_then_publishes(tmp_path):
    from rosterflow.flows.sync import sync_flow

    feed = write_feed(tmp_path / "north.zip", tiny_district())

    _, heard = steps_of(sync_flow, str(feed), str(tmp_path / "w.duckdb"))

    assert heard == [*FULL_RUN, "publish"]


def test_reading_the_feed_is_retried_after_an_io_error_only(tmp_path, monkeypatch):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    calls, pauses = [], []

    def flaky_share(path, **options):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        return open_feed(path, **options)

    monkeypatch.setattr(plain.time, "sleep", pauses.append)
    monkeypatch.setattr(steps, "open_feed", flaky_share)

    result, heard = steps_of(plain.sync, str(feed), str(tmp_path / "w.duckdb"))

    assert result.outcome == "applied" and len(calls) == 2
    assert pauses == [plain.LOAD_FEED_RETRY_DELAY_SECONDS]
    assert heard[:3] == ["load-settings", "load-feed", "load-feed"]

    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    with pytest.raises(FeedError, match="not a zip"):
        steps_of(plain.sync, str(tmp_path / "junk.zip"), str(tmp_path / "w.duckdb"))
    assert len(calls) == 3 and len(pauses) == 1  # a FeedError is not read again


def test_an_io_error_that_persists_is_raised_after_the_retries(monkeypatch):
    monkeypatch.setattr(plain.time, "sleep", lambda _: None)
    calls = []

    def gone(path):
        calls.append(path)
        raise OSError(5, "Input/output error")

    with pytest.raises(OSError):
        plain.retrying_io(gone, retries=2, delay_seconds=1)("x.zip")
    assert len(calls) == 3


def test_the_plain_scan_announces_its_steps_and_each_zips_sync(tmp_path):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    write_feed(inbox / "north.zip", tiny_district())

    filed, heard = steps_of(plain.scan, str(inbox), str(warehouse), settle_seconds=0)

    assert [(f.name, f.outcome) for f in filed] == [("north.zip", "applied")]
    assert heard == [
        "check-settings",
        "check-warehouse",
        "find-ready-zips",
        "look-up-ledger",
        *FULL_RUN,
        "file-zip",
    ]
