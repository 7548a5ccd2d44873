"""A record a bulk file no longer states that stored records of a file absent from the feed,
or sent as a delta, still name: `validate.with_dropped_records` (`references.
dropped_record_issues`), which a sync and a delta's removal warn of alike."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from rosterflow.schemas.feed import Feed, open_feed
from rosterflow.schemas.references import dropped_records_checked
from rosterflow.schemas.validate import ValidatedFeed, validate_feed, with_dropped_records
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district
from tests.schemas.test_delta_removals import _stored

CHANGED = "2027-01-10T08:00:00.000Z"


def _without(name: str, sourced_id: str) -> pl.DataFrame:
    """tiny_district's `name` without the record `sourced_id`; Sam (u-s1) gone, his parent
    no longer names him (else users.csv itself points at no record: an error)."""
    rows = tiny_district()[name].filter(pl.col("sourcedId") != sourced_id)
    if name == "users" and sourced_id == "u-s1":
        rows = rows.with_columns(
            agentSourcedIds=pl.when(pl.col("sourcedId") != "u-p1").then("agentSourcedIds")
        )
    return rows


def _feed(tmp_path: Path, frames: dict[str, pl.DataFrame], **modes: str) -> Feed:
    return open_feed(write_feed(tmp_path / "feed.zip", frames, modes=modes))


class _Reads:
    """The stored records of tiny_district as a warehouse holds them, and which files
    `with_dropped_records` asked for."""

    def __init__(self) -> None:
        self.stored = {name: _stored(name) for name in tiny_district()}
        self.asked: list[tuple[str, ...]] = []

    @property
    def ids(self) -> dict[str, pl.Series]:
        return {name: records["sourcedId"] for name, records in self.stored.items()}

    def __call__(self, names: tuple[str, ...]) -> dict[str, pl.DataFrame]:
        self.asked.append(names)
        return {name: self.stored[name] for name in names}


def _checked(feed: Feed, reads: _Reads) -> ValidatedFeed:
    validated, _ = with_dropped_records(validate_feed(feed, known=reads.ids), reads.ids, reads)
    return validated


def _warned(validated: ValidatedFeed) -> list[tuple]:
    return (
        validated.issues.filter(pl.col("rule") == "reference.removed")
        .select("file", "line", "field", "value", "severity")
        .rows()
    )


def _messages(validated: ValidatedFeed) -> list[str]:
    return validated.issues.filter(pl.col("rule") == "reference.removed")["message"].to_list()


@pytest.mark.parametrize(
    ("name", "dropped", "read", "said"),
    [
        (
            "users",
            "u-s1",
            ("enrollments",),
            ["1 stored enrollment(s) still name in userSourcedId (enrollments.csv, absent"],
        ),
        (
            "classes",
            "k1",
            ("enrollments",),
            ["2 stored enrollment(s) still name in classSourcedId (enrollments.csv, absent"],
        ),
        (
            "orgs",
            "s2",
            ("users", "classes", "courses"),
            [
                "2 stored user(s) still name in orgSourcedIds (users.csv, absent",
                "1 stored class(es) still name in schoolSourcedId (classes.csv, absent",
                "1 stored course(s) still name in orgSourcedId (courses.csv, absent",
            ],
        ),
        (
            "academicSessions",
            "t1",
            ("classes",),
            ["2 stored class(es) still name in termSourcedIds (classes.csv, absent"],
        ),
        (
            "courses",
            "c-alg",
            ("classes",),
            ["2 stored class(es) still name in courseSourcedId (classes.csv, absent"],
        ),
    ],
)
def test_a_record_a_bulk_file_drops_that_stored_records_of_an_absent_file_name_is_warned(
    tmp_path, name, dropped, read, said
):
    # the one file sent, in bulk: every other is absent, its stored records stand
    reads = _Reads()

    validated = _checked(_feed(tmp_path, {name: _without(name, dropped)}), reads)

    assert reads.asked == [read]
    file_name = f"{name}.csv"
    assert _warned(validated) == [(file_name, None, "sourcedId", dropped, "warning")] * len(said)
    messages = _messages(validated)
    for part in said:
        assert any(part in message for message in messages), messages
    assert validated.ok


def test_the_warning_names_the_records_and_says_what_happens_to_them(tmp_path):
    validated = _checked(_feed(tmp_path, {"users": _without("users", "u-s1")}), _Reads())

    assert _messages(validated) == [
        "this bulk file removes a user (no longer in it) that 1 stored enrollment(s) still name "
        "in userSourcedId (enrollments.csv, absent from this feed): e2; once it is removed they "
        "leave the platform with it (as [policy] enrollments says, or deleted with it when "
        "[policy] deletes it): send enrollments.csv in bulk without them, or as a delta marking "
        "them tobedeleted, to say so"
    ]


def test_a_delta_that_does_not_send_the_stored_records_is_warned_of_too(tmp_path):
    # enrollments.csv is a delta that changes e4 alone: Sam's e2 is stored, not sent
    e4 = (
        tiny_district()["enrollments"]
        .filter(pl.col("sourcedId") == "e4")
        .with_columns(status=pl.lit("active"), dateLastModified=pl.lit(CHANGED))
    )
    feed = _feed(
        tmp_path, {"users": _without("users", "u-s1"), "enrollments": e4}, enrollments="delta"
    )

    validated = _checked(feed, _Reads())

    assert _warned(validated) == [("users.csv", None, "sourcedId", "u-s1", "warning")]
    (message,) = _messages(validated)
    assert "(enrollments.csv, a delta that does not send them): e2;" in message
    assert message.endswith("mark them tobedeleted in the delta to say so")


def test_a_delta_removing_the_stored_records_too_says_so_and_is_not_warned_of(tmp_path):
    e2 = (
        tiny_district()["enrollments"]
        .filter(pl.col("sourcedId") == "e2")
        .with_columns(status=pl.lit("tobedeleted"), dateLastModified=pl.lit(CHANGED))
    )
    feed = _feed(
        tmp_path, {"users": _without("users", "u-s1"), "enrollments": e2}, enrollments="delta"
    )

    validated = _checked(feed, _Reads())

    assert _warned(validated) == []
    assert validated.ok


def test_a_record_marked_tobedeleted_in_a_bulk_file_is_warned_of_on_its_line(tmp_path):
    users = _without("users", "u-nobody").with_columns(
        status=pl.when(pl.col("sourcedId") == "u-s1").then(pl.lit("tobedeleted")),
        agentSourcedIds=pl.when(pl.col("sourcedId") != "u-p1").then("agentSourcedIds"),
    )

    validated = _checked(_feed(tmp_path, {"users": users}), _Reads())

    # Sam is the third user: on line 4
    assert _warned(validated) == [("users.csv", 4, "sourcedId", "u-s1", "warning")]
    assert "removes a user (marked tobedeleted) that 1 stored" in _messages(validated)[0]


def test_bulk_files_naming_the_dropped_record_are_the_reference_check_s(tmp_path):
    # enrollments.csv in bulk still names Sam: an error, as ever; nothing stored is read
    district = tiny_district()
    reads = _Reads()

    validated = _checked(_feed(tmp_path, district | {"users": _without("users", "u-s1")}), reads)

    assert reads.asked == []
    assert _warned(validated) == []
    assert validated.issues.filter(pl.col("severity") == "error").select(
        "file", "field", "value", "rule"
    ).rows() == [("enrollments.csv", "userSourcedId", "u-s1", "reference")]


@pytest.mark.parametrize(
    ("frames", "modes"),
    [
        # every file in bulk (most syncs): nothing is compared nor read
        (tiny_district(), {}),
        # a file is absent, but users.csv drops nobody
        ({"users": tiny_district()["users"]}, {}),
        # the files enrollments.csv names are absent: nothing of them is dropped
        ({"enrollments": tiny_district()["enrollments"]}, {}),
    ],
    ids=["all-bulk", "nothing-dropped", "targets-absent"],
)
def test_stored_records_are_read_only_when_a_bulk_file_dropped_records(tmp_path, frames, modes):
    reads = _Reads()

    feed = _feed(tmp_path, frames, **modes)

    validated = _checked(feed, reads)

    assert reads.asked == []
    assert _warned(validated) == []
    if len(frames) == len(tiny_district()):
        # no roster file it refers to is absent; the content files are (tiny_district sends
        # none), whose assignments name classes and courses: those two are compared, and
        # nothing is read
        assert dropped_records_checked(feed.modes) == ("classes", "courses")


def test_records_read_before_are_not_read_again(tmp_path):
    reads = _Reads()
    feed = _feed(tmp_path, {"orgs": _without("orgs", "s2")})
    validated = validate_feed(feed, known=reads.ids)

    _, carried = with_dropped_records(validated, reads.ids, reads, {"users": reads.stored["users"]})

    assert reads.asked == [("classes", "courses")]
    assert sorted(carried) == ["classes", "courses", "users"]
