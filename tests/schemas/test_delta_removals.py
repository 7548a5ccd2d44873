"""A delta file's removal that records stored in the warehouse, and not sent, still name:
`references.removed_record_issues`, and the stored records a run reads for it
(`validate.carried_records_needed`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.feed import Feed, open_feed
from rosterflow.schemas.references import removed_record_issues
from rosterflow.schemas.validate import carried_records_needed, validate_feed
from rosterflow.schemas.writer import write_feed
from rosterflow.transforms.source_state import next_source_state
from tests.feeds import frame, tiny_district


def _stored(name: str) -> pl.DataFrame:
    """tiny_district's records of `name` as a warehouse stores them after a bulk feed."""
    rows = tiny_district()[name].with_columns(pl.int_range(2, pl.len() + 2).alias(LINE))
    return next_source_state(name, None, rows, "bulk", 1)


def _removal(name: str, *sourced_ids: str, status: str = "tobedeleted") -> pl.DataFrame:
    return (
        tiny_district()[name]
        .filter(pl.col("sourcedId").is_in(sourced_ids))
        .with_columns(status=pl.lit(status), dateLastModified=pl.lit("2027-01-10T08:00:00.000Z"))
    )


def _delta(tmp_path: Path, frames: dict[str, pl.DataFrame], **modes: str) -> Feed:
    modes = {name: "delta" for name in frames} | modes
    return open_feed(write_feed(tmp_path / "delta.zip", frames, modes=modes))


def _validated(feed: Feed):
    """`feed` validated as a sync does: with the tenant's stored records of tiny_district, and
    the stored records `carried_records_needed` names."""
    stored = {name: _stored(name) for name in tiny_district()}
    known = {name: records["sourcedId"] for name, records in stored.items()}
    # (tiny_district stores no content: a removal's stored assignments are none)
    carried = {name: stored[name] for name in carried_records_needed(feed) if name in stored}
    return validate_feed(feed, known=known, carried=carried)


def _removed(validated) -> list[tuple]:
    return (
        validated.issues.filter(pl.col("rule") == "reference.removed")
        .select("file", "line", "field", "value", "severity")
        .rows()
    )


@pytest.mark.parametrize(
    ("name", "removed", "referring", "message"),
    [
        # the parent u-p1 names Sam in agentSourcedIds; his enrollment e2 names him too
        ("users", "u-s1", "users", "1 stored user(s) still name in agentSourcedIds (users.csv)"),
        ("users", "u-s1", "enrollments", "1 stored enrollment(s) still name in userSourcedId"),
        ("academicSessions", "t1", "classes", "2 stored class(es) still name in termSourcedIds"),
        ("courses", "c-alg", "classes", "2 stored class(es) still name in courseSourcedId"),
        ("classes", "k1", "enrollments", "2 stored enrollment(s) still name in classSourcedId"),
        ("orgs", "d1", "orgs", "2 stored org(s) still name in parentSourcedId"),
        # a school closed: Kim (u-s2, at both schools) and Alan teach or learn at South High,
        # and its class k3 is there
        ("orgs", "s2", "users", "2 stored user(s) still name in orgSourcedIds"),
        ("orgs", "s2", "classes", "1 stored class(es) still name in schoolSourcedId"),
    ],
)
def test_a_delta_removal_stored_records_still_name_is_warned_on_its_line(
    tmp_path, name, removed, referring, message
):
    feed = _delta(tmp_path, {name: _removal(name, removed)})

    validated = _validated(feed)

    assert referring in carried_records_needed(feed)
    file_name = f"{name}.csv"
    assert (file_name, 2, "sourcedId", removed, "warning") in _removed(validated)
    messages = validated.issues.filter(pl.col("rule") == "reference.removed")["message"]
    assert any(message in m for m in messages), messages.to_list()
    assert validated.ok


def test_the_warning_names_the_stored_records_and_what_the_sync_does(tmp_path):
    feed = _delta(tmp_path, {"academicSessions": _removal("academicSessions", "t1")})

    warned = _validated(feed).issues.filter(pl.col("rule") == "reference.removed")

    assert warned["message"].to_list() == [
        "this delta removes an academic session that 2 stored class(es) still name in "
        "termSourcedIds (classes.csv), and does not send them: k1, k2; they are kept as stored, "
        "still naming it (a section's session base course stays under its first term): send "
        "them with the terms the SIS now holds"
    ]


def test_a_removal_the_stored_records_of_many_name_shows_five_and_counts_them():
    stored_classes = pl.concat(
        [_stored("classes")]
        + [
            _stored("classes")
            .head(1)
            .with_columns(sourcedId=pl.lit(f"k1{n}"), termSourcedIds=pl.lit("t2, t1"))
            for n in range(6)
        ]
    )
    removal = _removal("academicSessions", "t1").with_columns(pl.lit(7).alias(LINE))

    found = pl.concat(
        removed_record_issues(
            {"academicSessions": removal},
            {"academicSessions": "delta"},
            {"classes": stored_classes},
        )
    ).collect()

    assert found.select("file", "line", "value").rows() == [("academicSessions.csv", 7, "t1")]
    # a list read as the reference check reads it: ` t1` after a comma is t1
    assert "8 stored class(es)" in found["message"][0]
    assert "does not send them: k1, k10, k11, k12, k13, ...;" in found["message"][0]


def test_the_stored_records_the_delta_sends_are_the_reference_check_s(tmp_path):
    # the delta removes Sam and sends his parent without him: nothing stored still names Sam
    # but his enrollment e2, which the delta removes too
    parent = (
        tiny_district()["users"]
        .filter(pl.col("sourcedId") == "u-p1")
        .with_columns(
            agentSourcedIds=pl.lit(None, pl.String),
            status=pl.lit("active"),
            dateLastModified=pl.lit("2027-01-10T08:00:00.000Z"),
        )
    )
    feed = _delta(
        tmp_path,
        {
            "users": pl.concat([_removal("users", "u-s1"), parent]),
            "enrollments": _removal("enrollments", "e2"),
        },
    )

    validated = _validated(feed)

    assert _removed(validated) == []
    assert validated.ok


def test_a_delta_record_naming_the_removal_is_warned_once_on_its_own_line(tmp_path):
    # the parent is sent still naming Sam: the reference check warns on the parent's line;
    # the stored records add nothing (the parent is the feed's)
    parent = (
        tiny_district()["users"]
        .filter(pl.col("sourcedId") == "u-p1")
        .with_columns(status=pl.lit("active"), dateLastModified=pl.lit("2027-01-10T08:00:00.000Z"))
    )
    feed = _delta(
        tmp_path,
        {
            "users": pl.concat([_removal("users", "u-s1"), parent]),
            "enrollments": _removal("enrollments", "e2"),
        },
    )

    assert _removed(_validated(feed)) == [("users.csv", 3, "agentSourcedIds", "u-s1", "warning")]


def test_a_row_whose_status_is_not_valid_is_no_removal(tmp_path):
    feed = _delta(tmp_path, {"users": _removal("users", "u-s1", status="deleted")})

    validated = _validated(feed)

    assert carried_records_needed(feed) == ()
    assert _removed(validated) == []
    assert ("users.csv", 2, "status", "error") in validated.issues.select(
        "file", "line", "field", "severity"
    ).rows()


def test_a_removal_in_another_letter_case_reads_the_stored_records(tmp_path):
    # `TOBEDELETED` is read as tobedeleted (status.case): a removal like any other
    feed = _delta(tmp_path, {"users": _removal("users", "u-s1", status="TOBEDELETED")})

    validated = _validated(feed)

    assert carried_records_needed(feed) == ("users", "enrollments")
    assert ("users.csv", 2, "sourcedId", "u-s1", "warning") in _removed(validated)


@pytest.mark.parametrize(
    ("frames", "modes", "needed"),
    [
        # a feed of bulk files: nothing read, whatever it removes
        ({"users": _removal("users", "u-s1")}, {"users": "bulk"}, ()),
        # a delta that removes nothing
        ({"users": _removal("users", "u-s1", status="active")}, {}, ()),
        # a referring file sent in bulk is the feed's own: not read
        (
            {"users": _removal("users", "u-s1"), "enrollments": tiny_district()["enrollments"]},
            {"enrollments": "bulk"},
            ("users",),
        ),
        ({"academicSessions": _removal("academicSessions", "t1")}, {}, ("classes",)),
        (
            {"academicSessions": _removal("academicSessions", "t1"), "classes": frame("classes")},
            {},
            ("classes",),
        ),
        ({"orgs": _removal("orgs", "d1")}, {}, ("orgs", "users", "classes", "courses")),
        (
            {"orgs": _removal("orgs", "d1")},
            {"users": "bulk", "classes": "bulk", "courses": "bulk"},
            ("orgs",),
        ),
    ],
    ids=[
        "bulk",
        "no-removal",
        "referrer-bulk",
        "term",
        "term-classes-delta",
        "org",
        "org-referrers-bulk",
    ],
)
def test_stored_records_are_read_for_a_delta_that_removes_alone(tmp_path, frames, modes, needed):
    feed = _delta(tmp_path, frames, **modes)
    assert carried_records_needed(feed) == needed


@pytest.mark.parametrize(
    ("name", "removed", "file", "field", "said"),
    [
        ("academicSessions", "t1", "classes.csv", "termSourcedIds", "the class keeps naming it"),
        ("orgs", "s2", "classes.csv", "schoolSourcedId", "the section stays in the school's"),
        ("orgs", "s2", "users.csv", "orgSourcedIds", "the user keeps it"),
        ("courses", "c-alg", "classes.csv", "courseSourcedId", "the reference is dropped"),
    ],
)
def test_a_reference_to_a_record_the_feed_removes_says_what_the_sync_keeps(
    tmp_path, name, removed, file, field, said
):
    # the sync keeps a class's terms and school and a user's orgs as sent (a session base
    # course stays under its term): such a reference is not "dropped"
    district = tiny_district()
    district[name] = district[name].with_columns(
        status=pl.when(pl.col("sourcedId") == removed).then(pl.lit("tobedeleted"))
    )
    validated = validate_feed(open_feed(write_feed(tmp_path / "feed.zip", district)))

    warned = validated.issues.filter(
        (pl.col("rule") == "reference.removed")
        & (pl.col("file") == file)
        & (pl.col("field") == field)
    )
    assert warned.height > 0
    assert all(said in message for message in warned["message"]), warned["message"].to_list()
