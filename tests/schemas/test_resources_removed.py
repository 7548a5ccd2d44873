"""A resource, class or course removed while stored content assignments still name it: a
delta's removal (`references.removed_record_issues`) and a bulk file's drop (`references.
dropped_record_issues`), and the stored assignments a run reads for them
(`validate.carried_records_needed`, `validate.with_dropped_records`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.feed import Feed, open_feed
from rosterflow.schemas.references import dropped_records_checked
from rosterflow.schemas.validate import (
    ValidatedFeed,
    carried_records_needed,
    validate_feed,
    with_dropped_records,
)
from rosterflow.schemas.writer import write_feed
from rosterflow.transforms.source_state import next_source_state
from tests.feeds import tiny_district, with_resources

CHANGED = "2027-01-10T08:00:00.000Z"


def _district() -> dict[str, pl.DataFrame]:
    return with_resources(tiny_district())


def _stored(name: str) -> pl.DataFrame:
    """with_resources' records of `name` as a warehouse stores them after a bulk feed."""
    rows = _district()[name].with_columns(pl.int_range(2, pl.len() + 2).alias(LINE))
    return next_source_state(name, None, rows, "bulk", 1)


def _marked(name: str, sourced_id: str) -> pl.DataFrame:
    return (
        _district()[name]
        .filter(pl.col("sourcedId") == sourced_id)
        .with_columns(status=pl.lit("tobedeleted"), dateLastModified=pl.lit(CHANGED))
    )


def _feed(tmp_path: Path, frames: dict[str, pl.DataFrame], **modes: str) -> Feed:
    return open_feed(write_feed(tmp_path / "feed.zip", frames, modes=modes))


class _Reads:
    """The stored records of with_resources as a warehouse holds them (of the files
    `held`), and which files a check asked for."""

    def __init__(self, held: tuple[str, ...] = tuple(_district())) -> None:
        self.stored = {name: _stored(name) for name in held}
        self.asked: list[tuple[str, ...]] = []

    @property
    def ids(self) -> dict[str, pl.Series]:
        return {name: records["sourcedId"] for name, records in self.stored.items()}

    def __call__(self, names: tuple[str, ...]) -> dict[str, pl.DataFrame]:
        self.asked.append(names)
        return {name: self.stored[name] for name in names}


def _validated(feed: Feed, reads: _Reads) -> ValidatedFeed:
    """`feed` validated as a sync does: the stored records `carried_records_needed` names,
    then the records a bulk file dropped (`with_dropped_records`)."""
    carried = reads(carried_records_needed(feed))
    validated = validate_feed(feed, known=reads.ids, carried=carried)
    return with_dropped_records(validated, reads.ids, reads, carried)[0]


def _removed(validated: ValidatedFeed) -> list[tuple]:
    return (
        validated.issues.filter(pl.col("rule") == "reference.removed")
        .select("file", "line", "field", "value", "message")
        .sort(pl.all())
        .rows()
    )


@pytest.mark.parametrize(
    ("name", "removed", "needed", "referring"),
    [
        (
            "resources",
            "r-lab",
            ("classResources", "courseResources"),
            [
                "1 stored class assignment(s) still name in resourceSourcedId "
                "(classResources.csv), and does not send them: cr2;",
                "1 stored course assignment(s) still name in resourceSourcedId "
                "(courseResources.csv), and does not send them: kr2;",
            ],
        ),
        (
            "classes",
            "k3",
            ("enrollments", "classResources"),
            [
                "1 stored class assignment(s) still name in classSourcedId "
                "(classResources.csv), and does not send them: cr2;",
                "2 stored enrollment(s) still name in classSourcedId (enrollments.csv)",
            ],
        ),
        (
            "courses",
            "c-bio",
            # (and the courses, whose titles a courses.csv delta's are compared with)
            ("classes", "courseResources", "courses"),
            [
                "1 stored class(es) still name in courseSourcedId (classes.csv)",
                "1 stored course assignment(s) still name in courseSourcedId "
                "(courseResources.csv), and does not send them: kr2;",
            ],
        ),
    ],
)
def test_a_delta_removal_stored_assignments_name_is_warned_on_its_line(
    tmp_path, name, removed, needed, referring
):
    feed = _feed(tmp_path, {name: _marked(name, removed)}, **{name: "delta"})
    reads = _Reads()

    validated = _validated(feed, reads)

    assert carried_records_needed(feed) == needed
    warned = _removed(validated)
    assert [row[:4] for row in warned] == [(f"{name}.csv", 2, "sourcedId", removed)] * len(
        referring
    )
    for part, (*_, message) in zip(referring, warned, strict=True):
        assert part in message, message
    assert validated.ok


def test_assignments_sent_in_bulk_are_the_reference_check_s_and_not_read(tmp_path):
    district = _district()
    feed = _feed(
        tmp_path,
        {
            "resources": _marked("resources", "r-lab"),
            "classResources": district["classResources"],
            "courseResources": district["courseResources"],
        },
        resources="delta",
    )
    reads = _Reads()

    validated = _validated(feed, reads)

    assert carried_records_needed(feed) == ()
    # the feed's own assignments name the record it removes: not made, as the check says
    assert [row[:2] for row in _removed(validated)] == [
        ("classResources.csv", 3),
        ("courseResources.csv", 3),
    ]
    assert "the assignment is not made" in _removed(validated)[0][4]


def test_a_resource_a_bulk_file_drops_while_the_assignments_are_absent_is_warned(tmp_path):
    district = _district()
    feed = _feed(
        tmp_path, {"resources": district["resources"].filter(pl.col("sourcedId") != "r-lab")}
    )
    reads = _Reads()

    validated = _validated(feed, reads)

    assert "resources" in dropped_records_checked(feed.modes)
    assert reads.asked == [(), ("classResources", "courseResources")]
    assert _removed(validated) == [
        (
            "resources.csv",
            None,
            "sourcedId",
            "r-lab",
            "this bulk file removes a resource (no longer in it) that 1 stored class "
            "assignment(s) still name in resourceSourcedId (classResources.csv, absent from "
            "this feed): cr2; once it is removed they leave the platform with it (as [policy] "
            'class_resources says, or deleted with it when [policy] resources = "delete"): '
            "send classResources.csv in bulk without them, or as a delta marking them "
            "tobedeleted, to say so",
        ),
        (
            "resources.csv",
            None,
            "sourcedId",
            "r-lab",
            "this bulk file removes a resource (no longer in it) that 1 stored course "
            "assignment(s) still name in resourceSourcedId (courseResources.csv, absent from "
            "this feed): kr2; once it is removed they leave the platform with it (as [policy] "
            'course_resources says, or deleted with it when [policy] resources = "delete"): '
            "send courseResources.csv in bulk without them, or as a delta marking them "
            "tobedeleted, to say so",
        ),
    ]
    assert validated.ok


def test_a_class_dropped_while_an_assignments_delta_does_not_send_them_is_warned(tmp_path):
    district = _district()
    # classes.csv in bulk without k3; classResources.csv a delta that changes cr1 alone
    feed = _feed(
        tmp_path,
        {
            "classes": district["classes"].filter(pl.col("sourcedId") != "k3"),
            "classResources": district["classResources"]
            .filter(pl.col("sourcedId") == "cr1")
            .with_columns(title=pl.lit("Unit 1 (revised)"), dateLastModified=pl.lit(CHANGED)),
        },
        classResources="delta",
    )
    reads = _Reads()

    validated = _validated(feed, reads)

    about_assignments = [row for row in _removed(validated) if "classResources.csv" in row[4]]
    assert [row[:4] for row in about_assignments] == [("classes.csv", None, "sourcedId", "k3")]
    assert (
        "1 stored class assignment(s) still name in classSourcedId (classResources.csv, a delta "
        "that does not send them): cr2; once it is removed they leave the platform with it"
    ) in about_assignments[0][4]
    assert about_assignments[0][4].endswith("mark them tobedeleted in the delta to say so")


def test_a_tenant_holding_no_assignments_reads_none_when_a_class_is_dropped(tmp_path):
    district = tiny_district()  # a district that never sent content: those files absent
    feed = _feed(tmp_path, {"classes": district["classes"].filter(pl.col("sourcedId") != "k3")})
    reads = _Reads(held=tuple(district))

    validated = _validated(feed, reads)

    # the stored enrollments are read for the class they name; no assignment file is
    assert reads.asked == [(), ("enrollments",)]
    assert [row[4].split(";")[0] for row in _removed(validated)] == [
        "this bulk file removes a class (no longer in it) that 2 stored enrollment(s) still "
        "name in classSourcedId (enrollments.csv, absent from this feed): e5, e6"
    ]


def test_a_feed_of_bulk_files_alone_compares_and_reads_nothing(tmp_path):
    district = _district()
    feed = _feed(tmp_path, district)
    reads = _Reads()

    validated = _validated(feed, reads)

    assert dropped_records_checked(feed.modes) == ()
    assert reads.asked == [()]
    assert _removed(validated) == []
