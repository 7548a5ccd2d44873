"""When a sync of a URL may pull only what changed (`flows.pulling.pull_since`), and what audit
names the feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rosterflow.flows.pulling import PullChoice, feed_name, pull_since
from rosterflow.schemas.settings import Source
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
