"""When a sync of a URL may pull only what changed (`flows.pulling.pull_since`), what audit
names the feed, and how a pulled feed is written (`flows.pulling.write_pulled`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows import steps
from rosterflow.flows.plain import sync
from rosterflow.flows.pulling import PullChoice, feed_name, pull_since, write_pulled
from rosterflow.flows.sources import pull_and_sync
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.settings import Settings, Source
from rosterflow.sis.pull import Pulled
from rosterflow.warehouse.layout import open_warehouse
from rosterflow.warehouse.pulls import PullHistory, pull_history
from rosterflow.warehouse.runs import utc_now

URL = "https://sis.example/ims/oneroster/v1p1"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DELTA = Source(delta=True, full_pull_days=7, delta_overlap_minutes=60)


def history(
    latest: str | None, hours_ago: float = 24, full_days_ago: float | None = 2, approved=False
):
    naive = NOW.replace(tzinfo=None)  # audit's timestamps: UTC without a zone
    return PullHistory(
        latest,
        naive - timedelta(hours=hours_ago) if latest else None,
        approved,
        naive - timedelta(days=full_days_ago) if full_days_ago is not None else None,
    )


@pytest.mark.parametrize(
    ("source", "found", "since", "why"),
    [
        (Source(), history(URL), None, "[source] delta is off"),
        (DELTA, PullHistory(), None, "last applied run was no pull of it"),
        (DELTA, history("north.zip"), None, "last applied run was no pull of it"),
        (DELTA, history("undo of run 4"), None, "last applied run was no pull of it"),
        (DELTA, history(URL + "-other"), None, "last applied run was no pull of it"),
        (DELTA, history(URL, approved=True), None, "applied a held run's plan"),
        (DELTA, history(URL, full_days_ago=7), None, "the last was 7+ days ago"),
        (DELTA, history(URL, full_days_ago=None), None, "the last was 7+ days ago"),
        (DELTA, history(URL, hours_ago=24), NOW - timedelta(hours=25), "what changed since"),
        (
            DELTA,
            history(URL + "?filter=dateLastModified>'2026-03-08T10:00:00.000Z'", hours_ago=3),
            NOW - timedelta(hours=4),
            "what changed since 2026-03-10 08:00:00 UTC",
        ),
        (DELTA, history(URL + "/", hours_ago=3), None, "no pull of it"),
    ],
)
def test_a_delta_only_where_the_last_applied_run_was_a_pull_of_the_url(source, found, since, why):
    choice = pull_since(found, URL, source, NOW)
    assert choice.since == since and why in choice.why
    assert isinstance(choice, PullChoice)


def test_the_feed_name_is_the_url_and_a_deltas_filter():
    assert feed_name(URL + "/", None) == URL
    since = datetime(2026, 3, 10, 7, 59, 58, 123456, tzinfo=UTC)
    assert feed_name(URL, since) == f"{URL}?filter=dateLastModified>'2026-03-10T07:59:58.123Z'"


ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")


def pulled(demographics: bool) -> Pulled:
    """A pulled roster of 1.1, with demographics.csv or without (an API that stopped offering
    it)."""
    frames = {n: f for n, f in generate_feed(12, seed=3).items() if n in ROSTERING}
    if demographics:
        frames["demographics"] = (
            frames["users"]
            .select("sourcedId")
            .with_columns(pl.lit("2010-01-02").alias("birthDate"))
        )
    return Pulled(URL, "1.1", frames, dict.fromkeys(frames, "bulk"))


def test_a_pull_into_a_feed_folder_replaces_its_feed_files_and_leaves_the_rest(tmp_path):
    out = tmp_path / "feed"
    write_pulled(pulled(demographics=True), out)
    assert (out / "demographics.csv").is_file()
    (out / "archive").mkdir()
    (out / "archive" / "2025.zip").write_bytes(b"PK last year")
    (out / "NOTES.md").write_text("where this feed comes from")
    (out / "users.csv").write_text("sourcedId\nstale\n")  # the last feed's, to be replaced

    assert write_pulled(pulled(demographics=False), out) == out

    # the new feed's files, and nothing of the last feed's it lacks; every other file stays
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["NOTES.md", "archive", "manifest.csv", *(f"{n}.csv" for n in ROSTERING)]
    )
    assert (out / "archive" / "2025.zip").read_bytes() == b"PK last year"
    assert (out / "NOTES.md").read_text() == "where this feed comes from"
    feed = open_feed(out)
    assert feed.read_issues.filter(severity="error").height == 0
    assert feed.modes["demographics"] == "absent"
    assert feed.rows("users")["sourcedId"].to_list() == (
        pulled(False).frames["users"]["sourcedId"].to_list()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed"]  # no temporary left


def test_a_pull_into_a_folder_that_is_not_a_feed_is_refused_and_leaves_it(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "users.csv").write_text("my own list")

    with pytest.raises(FileExistsError, match="a folder that is not a feed"):
        write_pulled(pulled(demographics=False), out)

    assert [p.name for p in out.iterdir()] == ["users.csv"]
    assert (out / "users.csv").read_text() == "my own list"


def test_the_next_delta_starts_when_the_last_pull_began_reading_not_when_its_sync_did(tmp_path):
    """A pulled feed's run recorded as started when its pull began (`steps.start_run`'s
    `started_at`) is where the next delta asks from, without any overlap (`pull_since`): a
    record changed during that pull, after its page was read, is asked for again."""
    no_overlap = Source(delta=True, full_pull_days=7, delta_overlap_minutes=0)
    pull_began = datetime.now(UTC) - timedelta(minutes=40)  # a pull of 40 minutes
    warehouse = tmp_path / "warehouse.duckdb"
    feed = steps.load_feed(pulled(demographics=False).write(tmp_path / "feed"))
    feed.name = feed_name(URL, None)  # as a sync of the URL names it
    with open_warehouse(warehouse, "district") as con:
        feed = steps.read_feed(feed, con, "district", False)
        run = steps.start_run(con, feed, "district", False, Settings(), started_at=pull_began)
        validated = steps.validate(feed, con, run, Settings())
        planned = steps.plan(validated, con, run, Settings())
        assert steps.apply(con, planned, validated.issues).outcome == "applied"

    recorded = pull_history(warehouse, "district", URL)
    assert recorded.latest_feed == URL
    assert recorded.latest_started_at == pull_began.replace(tzinfo=None)  # audit: UTC, no zone
    choice = pull_since(recorded, URL, no_overlap, datetime.now(UTC))
    assert choice.since == pull_began


def test_a_synced_pull_is_recorded_as_started_when_the_pull_began_reading(tmp_path):
    """`sync URL` and a sources scan (`flows.sources.pull_and_sync`): the run's `started_at`
    in audit is the moment its pull began, before the sync that records it began, so that
    the next delta, asking from there less no overlap, asks for what changed during the pull."""
    syncs_began: list[datetime] = []

    def sync_noting_when(**parameters):
        syncs_began.append(utc_now())
        return sync(**parameters)

    roster = RosterApi({n: f for n, f in generate_feed(12, seed=3).items() if n in ROSTERING})
    warehouse = tmp_path / "warehouse.duckdb"
    before_pull = utc_now()
    with serving(roster) as base:
        url = base + roster.base_path
        pulled_run = pull_and_sync(url, "district", str(warehouse), None, sync_noting_when)

    assert pulled_run.result.outcome == "applied", pulled_run.result.message
    recorded = pull_history(warehouse, "district", url)
    assert before_pull <= recorded.latest_started_at < syncs_began[0]
    assert recorded.latest_started_at == pulled_run.pulled.started_at.replace(tzinfo=None)
    no_overlap = Source(delta=True, full_pull_days=7, delta_overlap_minutes=0)
    choice = pull_since(recorded, url, no_overlap, datetime.now(UTC))
    assert choice.since == pulled_run.pulled.started_at


def test_a_pulled_run_never_starts_before_the_tenants_latest_run(tmp_path):
    """History's versions run from one run's start to the next's: a pull that began before
    the tenant's latest run started (two pulls at once) starts its run just after that run's."""
    warehouse = tmp_path / "warehouse.duckdb"
    feed = steps.load_feed(pulled(demographics=False).write(tmp_path / "feed"))
    with open_warehouse(warehouse, "district") as con:
        feed = steps.read_feed(feed, con, "district", False)
        first = steps.start_run(con, feed, "district", False, Settings())
        validated = steps.validate(feed, con, first, Settings())
        planned = steps.plan(validated, con, first, Settings())
        assert steps.apply(con, planned, validated.issues).outcome == "applied"
        long_ago = datetime.now(UTC) - timedelta(hours=2)
        second = steps.start_run(con, feed, "district", False, Settings(), started_at=long_ago)
    assert second.started_at > first.started_at


def test_the_pulled_rows_are_let_go_once_written_and_their_counts_kept():
    """`sync URL` syncs the feed it wrote: the pulled rows held through that sync kept the
    roster in memory twice (found by QA at 200,000 students). The sync finds them gone; the
    summary line still counts them."""
    from rosterflow.flows.pulling import pulled_summary
    from rosterflow.flows.sources import sync_pulled

    roster = pulled(demographics=False)
    counts = {name: frame.height for name, frame in roster.frames.items()}
    before = pulled_summary(roster)
    held_during_the_sync: dict[str, int] = {}

    def sync(**feed):
        held_during_the_sync.update({n: f.height for n, f in roster.frames.items()})
        written = open_feed(feed["feed"])
        assert {n: written.rows(n).height for n in counts} == counts
        return "synced"

    assert sync_pulled(roster, None, sync) == "synced"
    assert held_during_the_sync == dict.fromkeys(counts, 0)
    assert roster.counts == counts and roster.records == sum(counts.values())
    assert pulled_summary(roster) == before
