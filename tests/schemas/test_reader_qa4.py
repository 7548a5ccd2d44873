"""The reader's answers to what a district's tools leave in a feed that reads wrong to a person:
a record's own sourcedId with spaces around it, a file beside another of its name in other
letter case, and the DOS end-of-file mark an old Windows exporter writes last. Each is answered
alike by a resync of the changed lines and by `--full` of the same feed."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.csvfile import parse_csv
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import feed_files, tiny_district, with_cell, write_zip
from tests.flows.test_pipeline_incremental import (
    run_once,
    synced_as_in_full,
)

Files = dict[str, bytes]
USERS = feed_files(tiny_district())["users.csv"]  # the header, then five users on lines 2 to 6
DOS_END = (
    "a DOS end-of-file mark (Ctrl-Z, 0x1A) ends the file, as old Windows exporters write it: "
    "read as the end of the file, and ignored"
)


def issues_of(path: Path) -> list[tuple]:
    issues = validate_feed(open_feed(path)).issues
    return issues.select("file", "line", "field", "value", "rule", "severity", "message").rows()


# --- a record's own sourcedId with spaces around it ---------------------------------------------


@pytest.mark.parametrize("spaced", ["u-t2 ", " u-t2", "u-t2\t", "u-t2\u00a0"])
def test_a_record_whose_own_sourcedid_has_spaces_around_it_is_warned(tmp_path, spaced):
    """`u-t2 ` was stored as sent without a word: the next export, without the space, removed
    the user and made another. Its references say so already (`reference`)."""
    district = with_cell(tiny_district(), "users", 1, "sourcedId", spaced)
    district["enrollments"] = district["enrollments"].with_columns(
        pl.col("userSourcedId").replace("u-t2", spaced)
    )

    assert issues_of(write_feed(tmp_path / "feed.zip", district)) == [
        (
            "users.csv",
            3,
            "sourcedId",
            spaced,
            "id.spaces",
            "warning",
            f"the sourcedId has spaces around it, and is stored with them ('{spaced}' is not "
            "'u-t2'): a reference written without them names no record, and a later export "
            "without them replaces the record; remove them in the SIS or its export",
        )
    ]


def test_spaces_inside_a_sourcedid_or_around_other_values_are_not_warned_of(tmp_path):
    district = with_cell(tiny_district(), "users", 1, "givenName", " Alan ")
    district = with_cell(district, "orgs", 0, "sourcedId", "the state")
    district["orgs"] = district["orgs"].with_columns(
        pl.col("parentSourcedId").replace("st", "the state")
    )

    assert issues_of(write_feed(tmp_path / "feed.zip", district)) == []


def test_a_removal_of_a_sourcedid_with_spaces_around_it_is_warned_too(tmp_path):
    # a delta's removal of `u-t2 ` removes no stored `u-t2`
    removal = with_cell(tiny_district(), "users", 1, "sourcedId", "u-t2 ")
    removal = with_cell(removal, "users", 1, "status", "tobedeleted")
    removal = with_cell(removal, "users", 1, "dateLastModified", "2027-01-10T08:00:00.000Z")
    feed = write_feed(
        tmp_path / "delta.zip", {"users": removal["users"].slice(1, 1)}, modes={"users": "delta"}
    )

    assert [issue[:5] for issue in issues_of(feed)] == [
        ("users.csv", 2, "sourcedId", "u-t2 ", "id.spaces")
    ]


# --- a DOS end-of-file mark ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [
        pytest.param(USERS + b"\x1a", 7, id="alone on the last line"),
        pytest.param(USERS.removesuffix(b"\n") + b"\x1a", 6, id="at the end of the last line"),
        pytest.param(USERS.replace(b"\n", b"\r\n") + b"\x1a", 7, id="after a CRLF"),
        pytest.param(USERS.replace(b"\n", b"\r") + b"\x1a", 7, id="after a CR alone"),
    ],
)
def test_a_dos_end_of_file_mark_ends_the_file_with_a_warning(data, line):
    """It was `file.ragged` with the value `\x1a` (the raw character) alone on its line, or
    `value.control` in the last record's last value: an error either way, for a byte that
    means the end of the file."""
    clean = parse_csv(USERS, "users.csv")

    parsed = parse_csv(data, "users.csv")

    assert_frame_equal(parsed.rows, clean.rows)
    assert parsed.one_line_records
    found = parsed.issues.filter(pl.col("rule") != "file.line_endings")
    assert found.rows() == [("users.csv", line, None, "\\x1a", "file.dos_end", "warning", DOS_END)]


def test_a_dos_end_of_file_mark_reads_alike_on_the_exact_path():
    """A ragged record elsewhere sends the file to the csv module: the mark ends the file
    there as well, and the other records read as the fast path reads them."""
    lines = USERS.split(b"\n")
    ragged = b"\n".join([*lines[:3], b"u-x,1", *lines[3:]]) + b"\x1a"
    clean = parse_csv(USERS, "users.csv")

    parsed = parse_csv(ragged, "users.csv")

    assert parsed.rows.drop("__line").equals(clean.rows.drop("__line"))
    assert parsed.issues.select("line", "value", "rule").sort("line").rows() == [
        (4, "u-x,1", "file.ragged"),
        (8, "\\x1a", "file.dos_end"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(USERS + b"\x1a\n", id="with a line end after it"),
        pytest.param(USERS.replace(b"u-t1,", b"u-t1\x1a,"), id="inside a value"),
        pytest.param(USERS + b"\x1a\x1a", id="twice"),
    ],
)
def test_a_dos_end_of_file_mark_anywhere_else_stays_a_control_character(data):
    found = parse_csv(data, "users.csv").issues.select("value", "rule").rows()
    assert found and all(value.count("\\x1a") for value, _ in found), found
    assert {rule for _, rule in found} & {"value.control", "file.ragged"}
    assert "\x1a" not in "".join(value for value, _ in found)


def test_a_ragged_record_shows_its_control_characters_as_a_report_does():
    # it was the raw character, which a report or a terminal shows as nothing or garbage
    data = USERS + b"u-x,\x1b[31m\n"

    found = parse_csv(data, "users.csv").issues.filter(pl.col("rule") == "file.ragged")

    assert found["value"].to_list() == ["u-x,\\x1b[31m"]


# --- a resync by changed lines against `--full` -------------------------------------------------


def cell(name: str, row: int, column: str, value: str) -> Callable[[Files], Files]:
    """The file with one value rewritten, a DOS end-of-file mark kept as it stood."""

    def rewrite(files: Files) -> Files:
        data = files[name]
        text = data.removesuffix(b"\x1a").decode()
        rows = list(csv.reader(io.StringIO(text, newline="")))
        rows[row][rows[0].index(column)] = value
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        written = out.getvalue().encode()
        if data.endswith(b"\x1a"):
            written = (written if text.endswith("\n") else written.removesuffix(b"\n")) + b"\x1a"
        return files | {name: written}

    return rewrite


def in_bytes(name: str, change: Callable[[bytes], bytes]) -> Callable[[Files], Files]:
    return lambda files: files | {name: change(files[name])}


def both(*rewrites: Callable[[Files], Files]) -> Callable[[Files], Files]:
    def rewrite(files: Files) -> Files:
        for each in rewrites:
            files = each(files)
        return files

    return rewrite


# the first run's files, the second's made of them, and whether the second was read by its
# changed lines: not the file holding the DOS mark, whose parse by lines finds it in the last
# line's value (that line is read again each run, the warning standing on it), nor one whose
# mark stands alone on its line, which holds no record (no line keys are kept)
SEQUENCES = {
    "a DOS mark at the end of the last line": (
        in_bytes("users.csv", lambda data: data.removesuffix(b"\n") + b"\x1a"),
        cell("users.csv", 5, "givenName", "Zed"),
        [False],
    ),
    "a DOS mark alone on the last line": (
        in_bytes("enrollments.csv", lambda data: data + b"\x1a"),
        cell("users.csv", 5, "givenName", "Zed"),
        [],
    ),
    "a DOS mark that comes with a change": (
        lambda files: files,
        lambda files: cell("users.csv", 5, "givenName", "Zed")(
            in_bytes("users.csv", lambda data: data.removesuffix(b"\n") + b"\x1a")(files)
        ),
        [False],
    ),
    "a sourcedId with a space after it": (
        cell("users.csv", 2, "sourcedId", "usr-adm-2 "),  # (an administrator: named nowhere)
        cell("users.csv", 5, "givenName", "Zed"),
        [True],  # (its line read again: the warning stands on it)
    ),
    # the file parsed whole and compared with the stored records, the unchanged ones not
    # checked again: the warnings of IDs were raised on the changed records alone
    "a sourcedId with a space after it, in a file of a value over two lines": (
        both(
            cell("users.csv", 2, "sourcedId", "usr-adm-2 "),
            cell("users.csv", 1, "givenName", "No\nah"),
        ),
        cell("users.csv", 5, "givenName", "Zed"),
        [],
    ),
    "a sourcedId holding a zero-width space, in a file of a value over two lines": (
        both(
            cell("users.csv", 2, "sourcedId", "usr-adm-2\u200b"),
            cell("users.csv", 1, "givenName", "No\nah"),
        ),
        cell("users.csv", 5, "givenName", "Zed"),
        [],
    ),
}


def _feed(folder: Path, run: int, files: Files) -> Path:
    return write_zip(folder / f"feed{run}.zip", files)


@pytest.mark.slow
@pytest.mark.parametrize("sequence", SEQUENCES)
def test_a_resync_of_one_changed_line_is_synced_as_in_full(
    tmp_path, generated_members, by_lines, sequence
):
    """The feed synced, then again with one user's name changed, by its changed lines and in
    `--full` on a copy of the warehouse: the same issues (the warning of the first run again),
    plan, and everything the run leaves."""
    first, then, answered = SEQUENCES[sequence]
    warehouse, oracle = tmp_path / "ours.duckdb", tmp_path / "full.duckdb"
    files = first(dict(generated_members))
    synced, _ = run_once(warehouse, _feed(tmp_path, 0, files), Settings(), full=False)
    files = then(files)
    feed = _feed(tmp_path, 1, files)
    by_lines.clear()

    ours, _ = synced_as_in_full(warehouse, oracle, feed)
    assert by_lines == answered, by_lines  # (`--full` reads no stored record)

    warned = {"file.dos_end", "id.spaces", "id.invisible"}
    assert synced.issues.filter(pl.col("rule").is_in(warned)).height or "change" in sequence
    assert ours.issues.filter(pl.col("rule").is_in(warned)).height == 1
    assert_frame_equal(ours.issues, validate_feed(open_feed(feed)).issues)
