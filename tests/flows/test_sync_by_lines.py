"""A sync reads a feed of changed lines by those lines (`flows.steps.read_feed`,
`schemas.by_lines`): the stored records stand in for the unchanged ones, on the lines they stand
on now. Each scenario is held to the same feed synced with `--full` on a copy of the warehouse;
the equivalence property (`test_pipeline_incremental.py`) does so under random changes."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.flows import steps
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from tests.feeds import frame, tiny_district, with_cell
from tests.flows.test_pipeline_incremental import (
    Scenario,
    actions,
    copy_with_seal,
    run_once,
    synced_as_in_full,
)
from tests.spying import answered_by_lines
from tests.syncing import Warehouse


@pytest.fixture
def by_lines(monkeypatch) -> list[bool]:
    """Whether each run's validation was answered by its changed lines."""
    return answered_by_lines(monkeypatch, steps)


def with_second_teacher(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """k2 with two teacher enrollments, neither marked primary: the first in file order is its
    primary teacher."""
    enrollments = district["enrollments"].with_columns(
        pl.when(pl.col("sourcedId") == "e3")
        .then(pl.lit("false"))
        .otherwise("primary")
        .alias("primary")
    )
    second = frame(
        "enrollments",
        {
            "sourcedId": "e7",
            "classSourcedId": "k2",
            "schoolSourcedId": "s1",
            "userSourcedId": "u-t2",
            "role": "teacher",
            "primary": "false",
        },
    )
    return district | {"enrollments": pl.concat([enrollments, second])}


def test_unchanged_teacher_lines_in_another_order_move_a_section_as_in_full(tmp_path, by_lines):
    """Only the order of k2's two teacher lines changes (a student's name too, so that the
    run is not recalled): the stored enrollments stand on their new lines, and k2's section
    moves to its new first teacher's base course as a full run moves it."""
    scenario = Scenario(tmp_path, Settings())
    district = with_second_teacher(tiny_district())
    scenario.first(district)
    enrollments = district["enrollments"]
    swapped = pl.concat(
        [
            enrollments.filter(pl.col("sourcedId") == "e7"),
            enrollments.filter(pl.col("sourcedId") != "e7"),
        ]
    )
    renamed = with_cell(district | {"enrollments": swapped}, "users", 2, "givenName", "Samuel")
    planned = scenario.step(renamed)  # (held to --full)
    assert by_lines == [True]
    assert ("or--u-s1", "update") in actions(planned, "user")
    # the section's base course is now u-t2's, made for it
    assert {("or--k2", "update"), ("or--tbc--s1--u-t2--Algebra I", "create")} <= actions(
        planned, "course"
    )


def test_an_issue_on_an_unchanged_line_is_reported_on_it_as_in_full(tmp_path, by_lines):
    """A changed user takes an unchanged user's login (`[identity] key = "username"`): both
    lines are named, the unchanged one on the line it stands on now (the file reordered), as
    a full run names them."""
    by_username = {"identity": {"key": "username"}}
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district(), settings=by_username)
    users = tiny_district()["users"].reverse()
    taken = users.with_columns(
        pl.when(pl.col("sourcedId") == "u-s1")
        .then(pl.lit("kim.lee"))
        .otherwise(pl.col("username"))
        .alias("username")
    )
    feed = tiny_district() | {"users": taken}
    oracle = Warehouse(tmp_path / "oracle")
    (tmp_path / "oracle").mkdir()
    shutil.copyfile(warehouse.path, oracle.path)

    ours = warehouse.sync(feed, settings=by_username)
    full = oracle.sync(feed, settings=by_username, full=True)
    assert by_lines[-1] is True
    assert ours.outcome == full.outcome == "rejected"
    assert_frame_equal(ours.issues, full.issues)
    login = ours.issues.filter(pl.col("value") == "kim.lee")
    assert sorted(login["line"].to_list()) == [3, 4]  # Kim unchanged on line 3, Sam on 4


# --- the same records in other bytes -----------------------------------------------------------


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _inserted(data: bytes, at: int, line: bytes) -> bytes:
    lines = _lines(data)
    return b"\n".join([*lines[:at], line, *lines[at:]])


def _reversed(data: bytes) -> bytes:
    header, *rows = _lines(data)
    return b"\n".join([header, *[row for row in rows if row][::-1]]) + b"\n"


def _quoted_first_field(data: bytes) -> bytes:
    lines = _lines(data)
    first, rest = lines[3].split(b",", 1)
    lines[3] = b'"' + first + b'",' + rest
    return b"\n".join(lines)


def _given_name_across_lines(data: bytes) -> bytes:
    rows = list(csv.reader(io.StringIO(data.decode())))
    rows[5][rows[0].index("givenName")] = "Ann\nMarie"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def _with_column(data: bytes) -> bytes:
    header, *rows = _lines(data)
    return b"\n".join([header + b",metadata.extra", *(row + b",x" if row else row for row in rows)])


# variant: the file rewritten, how, and whether the sync reads it by its lines (or, where its
# lines cannot be read as records, parses it whole)
BYTES_OTHERWISE = {
    "CRLF line ends": ("enrollments.csv", lambda d: d.replace(b"\n", b"\r\n"), True),
    "a byte-order mark": ("users.csv", lambda d: b"\xef\xbb\xbf" + d, True),
    "a blank line": ("enrollments.csv", lambda d: _inserted(d, 5, b""), False),
    "no last line end": ("users.csv", lambda d: d.rstrip(b"\n"), True),
    "a quoted sourcedId": ("users.csv", _quoted_first_field, True),
    "a line twice": ("enrollments.csv", lambda d: _inserted(d, 4, _lines(d)[3]), False),
    "a value across lines": ("users.csv", _given_name_across_lines, False),
    "an extension column": ("enrollments.csv", _with_column, False),
    "the header again": ("enrollments.csv", lambda d: _inserted(d, 6, _lines(d)[0]), False),
    "a space after a comma": ("enrollments.csv", lambda d: d.replace(b"\n", b"\n ", 1), True),
    "the lines reversed": ("enrollments.csv", _reversed, True),
    "blank lines at the end": ("enrollments.csv", lambda d: d + b"\n\n", False),
}


@pytest.fixture(scope="module")
def synced_once(tmp_path_factory):
    """A tenant synced once with a generated district: the warehouse and the feed's files."""
    folder = tmp_path_factory.mktemp("bytes")
    feed = write_feed(folder / "first.zip", generate_feed(30, seed=3))
    run_once(folder / "synced.duckdb", feed, Settings(), full=False)
    with zipfile.ZipFile(feed) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return folder / "synced.duckdb", files


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    # four syncs each, 0.7 s: the README's command runs every other variant, CI all of them
    [
        v if i % 2 == 0 else pytest.param(v, marks=pytest.mark.slow)
        for i, v in enumerate(BYTES_OTHERWISE)
    ],
)
def test_a_feed_in_other_bytes_is_synced_as_in_full(tmp_path, synced_once, by_lines, variant):
    """The next feed holds the same records, or nearly, in other bytes: read by its lines (or
    parsed whole where its lines cannot be read as records), it is validated, planned and
    applied as `--full` does on a copy of the warehouse."""
    warehouse, files = synced_once
    name, rewrite, read_by_lines = BYTES_OTHERWISE[variant]
    feed = tmp_path / "next.zip"
    with zipfile.ZipFile(feed, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            archive.writestr(member, rewrite(data) if member == name else data)
    ours = tmp_path / "ours.duckdb"
    copy_with_seal(warehouse, ours)
    synced_as_in_full(ours, tmp_path / "full.duckdb", feed)
    assert by_lines == [read_by_lines]  # (`--full` reads no stored record)
