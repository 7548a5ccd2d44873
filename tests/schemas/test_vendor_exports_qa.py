"""QA of feeds as SIS vendors write them: values that look like dates and years to a person but
are not in the spec's digits."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_cell
from tests.feeds12 import as_v12, write_feed_12

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def issues_of(path: Path) -> list[dict]:
    return (
        validate_feed(open_feed(path))
        .issues.select("file", "line", "field", "value", "rule", "severity", "message")
        .to_dicts()
    )


def stamped(frames: dict[str, pl.DataFrame], name: str, value: str) -> dict[str, pl.DataFrame]:
    """`frames` with the first record of `name` stated active and last modified at `value`."""
    return with_cell(
        with_cell(frames, name, 0, "status", "active"), name, 0, "dateLastModified", value
    )


@pytest.mark.parametrize("digits", [FULLWIDTH, ARABIC_INDIC], ids=["fullwidth", "arabic-indic"])
def test_a_school_year_in_other_digits_is_no_year(tmp_path: Path, digits: dict[int, str]) -> None:
    # a year of other scripts' digits passed as a year: the sessions synced with it, a value
    # that no reader of schoolYear takes for 2027
    year = "2027".translate(digits)
    district = with_cell(tiny_district(), "academicSessions", 0, "schoolYear", year)
    found = issues_of(write_feed(tmp_path / "feed.zip", district))
    assert found == [
        {
            "file": "academicSessions.csv",
            "line": 2,
            "field": "schoolYear",
            "value": year,
            "rule": "year",
            "severity": "error",
            "message": "not a year YYYY",
        }
    ]


def test_a_date_in_other_digits_is_not_in_the_format(tmp_path: Path) -> None:
    # it was called "not a real calendar day", as if it were in the format and named no day
    begin = "2026-08-15".translate(FULLWIDTH)
    district = with_cell(tiny_district(), "enrollments", 0, "beginDate", begin)
    found = issues_of(write_feed(tmp_path / "feed.zip", district))
    assert [
        (i["file"], i["line"], i["field"], i["value"], i["rule"], i["message"]) for i in found
    ] == [("enrollments.csv", 2, "beginDate", begin, "date", "not a date YYYY-MM-DD")]


def test_a_date_last_modified_in_other_digits_is_no_date_time(tmp_path: Path) -> None:
    # it was rule `date`, "not a real calendar day", where a value not in the format is rule
    # `datetime` (docs/reference/feeds.md)
    modified = "2026-08-01T10:00:00Z".translate(FULLWIDTH)
    found = issues_of(
        write_feed(tmp_path / "feed.zip", stamped(tiny_district(), "users", modified))
    )
    assert [
        (i["file"], i["line"], i["field"], i["value"], i["rule"], i["message"]) for i in found
    ] == [
        (
            "users.csv",
            2,
            "dateLastModified",
            modified,
            "datetime",
            "not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS.sssZ)",
        )
    ]


def test_a_short_date_time_in_other_digits_is_an_error_and_not_also_accepted(
    tmp_path: Path,
) -> None:
    # the lenient read took any script's digits for digits: beside the models' error, a
    # warning said the same value was "accepted" in another ISO 8601 form
    modified = "2026-08-01T" + "10".translate(FULLWIDTH) + ":00"
    found = issues_of(
        write_feed(tmp_path / "feed.zip", stamped(tiny_district(), "users", modified))
    )
    assert [(i["field"], i["value"], i["rule"], i["severity"]) for i in found] == [
        ("dateLastModified", modified, "datetime", "error")
    ]


def test_a_short_date_time_in_ascii_digits_is_still_accepted_with_a_warning(
    tmp_path: Path,
) -> None:
    found = issues_of(
        write_feed(tmp_path / "feed.zip", stamped(tiny_district(), "users", "2026-08-01T10:00"))
    )
    assert [(i["field"], i["rule"], i["severity"]) for i in found] == [
        ("dateLastModified", "datetime.format", "warning")
    ]


def test_a_role_date_in_other_digits_is_not_in_the_format_in_a_12_feed(tmp_path: Path) -> None:
    frames = as_v12(tiny_district())
    begin = "2026-08-15".translate(ARABIC_INDIC)
    frames["roles"] = with_cell(frames, "roles", 0, "beginDate", begin)["roles"]
    found = issues_of(write_feed_12(tmp_path / "feed12.zip", frames))
    assert [
        (i["file"], i["line"], i["field"], i["value"], i["rule"], i["message"]) for i in found
    ] == [("roles.csv", 2, "beginDate", begin, "date", "not a date YYYY-MM-DD")]


def test_dates_and_years_in_ascii_digits_stay_valid(tmp_path: Path) -> None:
    district = stamped(tiny_district(), "users", "2026-08-01T10:00:00.000Z")
    district = with_cell(district, "enrollments", 0, "beginDate", "2026-08-15")
    assert issues_of(write_feed(tmp_path / "feed.zip", district)) == []


def test_a_reference_with_spaces_around_it_says_so(tmp_path: Path) -> None:
    # an export edited in a spreadsheet: "no record with this sourcedId" beside a value that
    # reads as u-s1 on a screen, and nothing said of the space
    district = with_cell(tiny_district(), "enrollments", 1, "userSourcedId", "u-s1 ")
    district = with_cell(district, "enrollments", 3, "userSourcedId", "nobody")
    found = issues_of(write_feed(tmp_path / "feed.zip", district))
    assert [
        (i["file"], i["line"], i["field"], i["value"], i["rule"], i["message"]) for i in found
    ] == [
        (
            "enrollments.csv",
            3,
            "userSourcedId",
            "u-s1 ",
            "reference",
            "no record with this sourcedId in users.csv: the value has spaces around it, and a "
            "sourcedId is compared with them ('u-s1 ' is not 'u-s1')",
        ),
        (
            "enrollments.csv",
            5,
            "userSourcedId",
            "nobody",
            "reference",
            "no record with this sourcedId in users.csv",
        ),
    ]


def test_a_delta_reference_with_spaces_around_it_says_so_against_the_warehouse(
    tmp_path: Path,
) -> None:
    district = tiny_district()
    sent = {"enrollments": district["enrollments"].head(1)}
    sent = with_cell(
        stamped(sent, "enrollments", "2027-01-10T08:00:00Z"),
        "enrollments",
        0,
        "userSourcedId",
        " u-t1",
    )
    feed = open_feed(write_feed(tmp_path / "delta.zip", sent, modes={"enrollments": "delta"}))
    known = {name: frame["sourcedId"] for name, frame in district.items()}
    found = validate_feed(feed, known=known).issues
    assert found.select("file", "line", "field", "value", "rule", "severity", "message").rows() == [
        (
            "enrollments.csv",
            2,
            "userSourcedId",
            " u-t1",
            "reference",
            "error",
            "no record with this sourcedId in users.csv (absent) nor in the warehouse: the value "
            "has spaces around it, and a sourcedId is compared with them (' u-t1' is not 'u-t1')",
        )
    ]
