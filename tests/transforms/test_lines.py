"""What a run keeps of its files' lines: a summary per file, and the lines the next run must
find again, or nothing when the next run could not stand on them."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from rosterflow.schemas.csvfile import parse_csv
from rosterflow.schemas.issues import issue_frame, issue_row
from rosterflow.schemas.lines import line_hashes, summary
from rosterflow.transforms.lines import kept_lines
from tests.feeds import feed_files, tiny_district
from tests.transforms.test_hierarchy import as_source

DISTRICT = tiny_district()
FILES = feed_files(DISTRICT)
LINES = {name: line_hashes(data) for name, data in FILES.items()}
PARSED = {name: parse_csv(data, name) for name, data in FILES.items() if name != "manifest.csv"}
MODES = dict.fromkeys(DISTRICT, "bulk")
RECORDS = as_source(DISTRICT)
NO_ISSUES = issue_frame([])


def kept(lines=LINES, parsed=PARSED, modes=MODES, version="1.1", issues=NO_ISSUES, records=RECORDS):
    return kept_lines(lines, parsed, modes, version, issues, records)


def test_a_run_keeps_each_files_summary_and_the_lines_its_issues_stand_on():
    warning = issue_row("users.csv", 3, "email", None, "teacher.no_email", "warning", "...")
    summaries, marks = kept(issues=issue_frame([warning]))
    assert dict(zip(summaries["file"], summaries["lines"], strict=True)) == {
        name: hashes.len() for name, hashes in LINES.items()
    }
    users = summaries.filter(pl.col("file") == "users.csv").row(0)
    assert users[1:] == tuple(summary(LINES["users.csv"]))
    assert marks.rows() == [("users.csv", 3, LINES["users.csv"][2], False)]


def test_the_teacher_enrollments_whose_order_decides_are_kept_in_order():
    unmarked = DISTRICT["enrollments"].with_columns(pl.lit("false").alias("primary"))
    second = unmarked.filter(pl.col("sourcedId") == "e5").with_columns(
        pl.lit("e7").alias("sourcedId"), pl.lit("k1").alias("classSourcedId")
    )
    district = DISTRICT | {"enrollments": pl.concat([unmarked, second])}
    files = feed_files(district)
    lines = {name: line_hashes(data) for name, data in files.items()}
    parsed = PARSED | {"enrollments.csv": parse_csv(files["enrollments.csv"], "enrollments.csv")}

    _, marks = kept(lines=lines, parsed=parsed, records=as_source(district))

    # e1 and e7 teach k1, neither marked primary: lines 2 and 8
    assert marks.select("file", "line", "ordered").rows() == [
        ("enrollments.csv", 2, True),
        ("enrollments.csv", 8, True),
    ]


@pytest.mark.parametrize(
    "why",
    ["no lines", "a delta file", "OneRoster 1.2", "values span lines", "an issue off the files"],
)
def test_nothing_is_kept_when_the_next_run_could_not_stand_on_it(why):
    options = {
        "no lines": {"lines": None},
        "a delta file": {"modes": MODES | {"users": "delta"}},
        "OneRoster 1.2": {"version": "1.2"},
        "values span lines": {
            "parsed": PARSED | {"users.csv": replace(PARSED["users.csv"], one_line_records=False)}
        },
        "an issue off the files": {
            "issues": issue_frame([issue_row("notes.csv", 2, None, None, "x", "warning", "...")])
        },
    }[why]
    summaries, marks = kept(**options)
    assert summaries.height == 0 and marks.height == 0


def test_a_file_whose_lines_are_not_its_rows_keeps_nothing():
    users = PARSED["users.csv"]
    fewer = replace(users, rows=users.rows.head(users.rows.height - 1))  # a blank line, say
    summaries, _ = kept(parsed=PARSED | {"users.csv": fewer})
    assert summaries.height == 0
