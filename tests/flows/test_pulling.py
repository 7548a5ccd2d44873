"""When a sync of a URL may pull only what changed (`flows.pulling.pull_since`), what audit
names the feed, and how a pulled feed is written (`flows.pulling.write_pulled`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from rosterflow.demo.district import generate_feed
from rosterflow.flows.pulling import PullChoice, feed_name, pull_since, write_pulled
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.settings import Source
from rosterflow.sis.pull import Pulled
from rosterflow.warehouse.pulls import PullHistory

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
