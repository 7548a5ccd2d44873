"""Dates and date-times as real SIS exports write them: accepted or refused as the field
reference says (docs/reference/feeds.md), each refusal one error naming file, line and value."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.validate import validate_feed
from tests.feeds import tiny_district, with_cell, write_feed

FORMAT = "datetime.format"


def issues_of(tmp_path, file: str, column: str, value: str) -> list[tuple]:
    """`(file, line, value, rule, severity)` of each issue of `column` in a tiny district whose
    first record of `file` holds `value` there."""
    frames = with_cell(tiny_district(), file, 0, column, value)
    found = validate_feed(open_feed(write_feed(tmp_path / "feed.zip", frames))).issues
    return (
        found.filter(pl.col("field") == column)
        .select("file", "line", "value", "rule", "severity")
        .rows()
    )


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        # ISO 8601 (and RFC 3339's lowercase), as the REST pull reads them: accepted, warned of
        ("2026-01-05T08:00:00+05", FORMAT),  # a zone of hours alone was an error
        ("2026-01-05t08:00:00z", FORMAT),  # was an error
        ("2026-01-05T08:00:00+0530", FORMAT),
        # no moment: a time of day or a zone past 23:59 was accepted, silently or warned of
        ("2026-01-05T25:61:61Z", "datetime"),
        ("2026-01-05T24:00:00Z", "datetime"),
        ("2026-01-05T08:00:00+25:00", "datetime"),
        ("2026-01-05T08:60:00Z", "datetime"),
        # year 0000 names no day DuckDB or Python keeps as a date
        ("0000-01-01T00:00:00Z", "date"),
    ],
)
def test_a_date_last_modified_is_judged_as_iso_8601_has_it(tmp_path, value, rule):
    severity = "warning" if rule == FORMAT else "error"
    assert issues_of(tmp_path, "orgs", "dateLastModified", value) == [
        ("orgs.csv", 2, value, rule, severity)
    ]


@pytest.mark.parametrize(
    "value",
    ["2026-01-05T23:59:59.1234567Z", "2024-02-29T00:00:00.123456789Z", "9999-12-31T23:59:59Z"],
)
def test_a_date_last_modified_in_the_spec_form_is_accepted_silently(tmp_path, value):
    assert issues_of(tmp_path, "orgs", "dateLastModified", value) == []


def test_a_date_of_year_0000_is_refused_before_it_reaches_lms(tmp_path):
    """It was stored in lms.enrollments as `0001-02-29 (BC)`, which `rosterflow query` and
    Python's dates cannot hold."""
    assert issues_of(tmp_path, "enrollments", "beginDate", "0000-02-29") == [
        ("enrollments.csv", 2, "0000-02-29", "date", "error")
    ]
