"""A required text value of whitespace alone (a name, a title, a username): the model's
`required` takes it for a value, so it was stored and sent to the platform without a word. It is
now warned of (`value.blank`), on every row, and alike by a resync of the changed lines and by
`--full` of the same feed."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.spec import FILE_SPECS
from rosterflow.schemas.validate import blank_value_issues, validate_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import feed_files, frame, tiny_district, with_cell, write_zip
from tests.flows.test_pipeline_incremental import run_once, synced_as_in_full
from tests.schemas.test_reader_qa4 import cell

MESSAGE = (
    "{} is required and holds only whitespace: the platform gets a blank value; fill it in the SIS"
)


def _courses(*titles: str | None, status: str | None = None) -> pl.DataFrame:
    rows = [
        {"sourcedId": f"c{i}", "title": title, "orgSourcedId": "d1", "status": status}
        for i, title in enumerate(titles)
    ]
    return frame("courses", *rows).with_row_index("__line", offset=2).cast({"__line": pl.Int64})


@pytest.mark.parametrize("spaces_only", [False, True])
def test_a_required_text_of_whitespace_alone_is_warned_of(spaces_only):
    blank = ["   ", " "] if spaces_only else ["   ", "\t", "\u00a0", " \u3000 "]
    courses = _courses("Algebra", " Biology ", "", None, *blank)

    found = blank_value_issues(courses, FILE_SPECS["courses"], spaces_only).collect()

    assert found.select("line", "field", "value", "rule", "severity", "message").rows() == [
        (6 + i, "title", value, "value.blank", "warning", MESSAGE.format("title"))
        for i, value in enumerate(blank)
    ]


def test_a_removal_or_an_optional_text_of_whitespace_alone_is_not_warned_of():
    removal = _courses("  ", status="tobedeleted")
    coded = _courses("Algebra").with_columns(pl.lit("   ").alias("courseCode"))  # (optional)

    assert blank_value_issues(removal, FILE_SPECS["courses"]).collect().height == 0
    assert blank_value_issues(coded, FILE_SPECS["courses"], True).collect().height == 0


def test_a_blank_given_name_is_warned_of_where_it_stands(tmp_path):
    district = with_cell(tiny_district(), "users", 1, "givenName", "  ")

    issues = validate_feed(open_feed(write_feed(tmp_path / "feed.zip", district))).issues

    assert issues.select("file", "line", "field", "value", "rule").rows() == [
        ("users.csv", 3, "givenName", "  ", "value.blank")
    ]


@pytest.mark.slow
@pytest.mark.parametrize("unchanged", [True, False])
def test_a_resync_warns_of_a_blank_name_as_full_does(tmp_path, by_lines, unchanged):
    """The district synced with a blank family name, then again with another user's name
    changed (the blank one unchanged) or with the blank one changed to another blank: by its
    changed lines and in `--full` on a copy, the same issues, warning included, and the same
    warehouse."""
    files = cell("users.csv", 2, "familyName", "  ")(feed_files(tiny_district()))
    warehouse, oracle = tmp_path / "ours.duckdb", tmp_path / "full.duckdb"
    synced, _ = run_once(warehouse, write_zip(tmp_path / "feed0.zip", files), Settings(), False)
    change = (
        ("users.csv", 5, "givenName", "Zed") if unchanged else ("users.csv", 2, "familyName", "\t")
    )
    feed: Path = write_zip(tmp_path / "feed1.zip", cell(*change)(files))
    by_lines.clear()

    ours, _ = synced_as_in_full(warehouse, oracle, feed)

    assert synced.issues.filter(pl.col("rule") == "value.blank").height == 1
    assert ours.issues.filter(pl.col("rule") == "value.blank").height == 1
    assert by_lines == [True]
    assert_frame_equal(ours.issues, validate_feed(open_feed(feed)).issues)
