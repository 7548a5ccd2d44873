"""What a run keeps of its files' lines: a summary per file, and the lines the next run must
find again, or nothing when the next run could not stand on them."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.csvfile import parse_csv
from rosterflow.schemas.issues import issue_frame, issue_row
from rosterflow.schemas.lines import LINE_KEY, line_hashes, line_keys, summary
from rosterflow.transforms.lines import kept_lines, with_line_keys
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
    assert users[1:5] == tuple(summary(LINES["users.csv"]))
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


# --- the line keys of stored records ---------------------------------------------------------

FILE_NAMES = {name: f"{name}.csv" for name in DISTRICT}


def keyed(records=RECORDS, modes=MODES, version="1.1", issues=NO_ISSUES):
    return with_line_keys(records, LINES, PARSED, modes, version, issues, FILE_NAMES)


def test_the_records_of_users_and_enrollments_keep_their_line_keys():
    warning = issue_row("users.csv", 3, "email", None, "teacher.no_email", "warning", "...")

    found = keyed(issues=issue_frame([warning]))

    for name in ("users", "enrollments"):
        keys = line_keys(LINES[f"{name}.csv"])
        expected = keys.gather(RECORDS[name]["line"] - 2).to_list()
        if name == "users":
            expected[1] = None  # line 3: an issue stands on it, the next run reads it again
        assert found[name][LINE_KEY].to_list() == expected
    assert LINE_KEY not in found["orgs"].columns
    assert_frame_equal(found["users"].drop(LINE_KEY), RECORDS["users"])


def test_the_records_of_a_patch_are_keyed_as_the_same_records_among_all_of_them():
    # a run writing a patch keys its changed records alone, on lines anywhere in the file
    warning = issue_row("users.csv", 3, "email", None, "teacher.no_email", "warning", "...")
    issues = issue_frame([warning])
    everyone = keyed(issues=issues)
    patch = {
        name: frame.filter(pl.col("line").is_in([3, frame["line"].max()]))
        for name, frame in RECORDS.items()
    }

    found = keyed(records=patch, issues=issues)

    for name in ("users", "enrollments"):
        assert found[name].height == 2
        assert_frame_equal(found[name], everyone[name].join(patch[name], on="line", how="semi"))
    assert found["users"].filter(pl.col("line") == 3)[LINE_KEY].to_list() == [None]
    assert (
        keyed(records={name: frame.clear() for name, frame in patch.items()})["users"].schema
        == everyone["users"].schema
    )


@pytest.mark.parametrize("why", ["1.2", "delta"])
def test_no_line_keys_when_the_next_run_cannot_stand_on_the_lines(why):
    found = keyed(
        version="1.2" if why == "1.2" else "1.1",
        modes=MODES | {"classes": "delta"} if why == "delta" else MODES,
    )
    assert all(LINE_KEY not in frame.columns for frame in found.values())


def test_a_line_key_column_comes_in_the_chunks_of_its_records():
    users = RECORDS["users"]
    chunked = pl.concat([users.head(2), users.tail(users.height - 2)], rechunk=False)

    found = keyed(records=RECORDS | {"users": chunked})["users"]

    assert found[LINE_KEY].n_chunks() == chunked["sourcedId"].n_chunks() == 2
    assert found[LINE_KEY].to_list() == keyed()["users"][LINE_KEY].to_list()
