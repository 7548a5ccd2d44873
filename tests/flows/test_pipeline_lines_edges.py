"""A resync by changed lines (`schemas.by_lines`) and a recall of the same lines
(`warehouse.runs.recall`) held to their oracle at the edges of how a file's bytes split into
lines: what a resync records (lms, audit.changes, issues, outcome) is what `--full` of the
same feed records on the same starting warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.flows import steps
from rosterflow.flows.commands import validate
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.validate import validate_feed
from rosterflow.warehouse.state import known_ids
from tests.feeds import feed_files, tiny_district, with_cell, write_zip
from tests.flows.test_pipeline_incremental import leaves
from tests.spying import answered_by_lines

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

TENANT = "district"


def synced(folder: Path, files: dict[str, bytes]) -> Path:
    """A warehouse of the tenant synced once with a feed of these members."""
    warehouse = folder / "w.duckdb"
    first = run_steps(
        Steps(), write_zip(folder / "first.zip", files), warehouse, Settings(), TENANT
    )
    assert first.outcome == "applied", first.issues
    return warehouse


def resync_and_full(
    warehouse: Path, files: dict[str, bytes]
) -> tuple[SyncResult, SyncResult, Path]:
    """The feed of these members synced as a resync would, and with `--full` on a copy of the
    warehouse (the oracle, returned with its warehouse)."""
    feed = write_zip(warehouse.parent / "next.zip", files)
    oracle = warehouse.parent / "oracle.duckdb"
    shutil.copyfile(warehouse, oracle)
    ours = run_steps(Steps(), feed, warehouse, Settings(), TENANT)
    full = run_steps(Steps(), feed, oracle, Settings(), TENANT, full=True)
    return ours, full, oracle


def assert_same_run(ours: SyncResult, full: SyncResult, warehouse: Path, oracle: Path) -> None:
    assert ours.outcome == full.outcome
    assert_frame_equal(ours.issues.sort(pl.all()), full.issues.sort(pl.all()))
    assert_frame_equal(ours.summary.sort(pl.all()), full.summary.sort(pl.all()))
    ours_left, full_left = leaves(warehouse), leaves(oracle)
    for what, rows in full_left.items():
        if what != "teacher_order":  # (a recall keeps the last run's, see test_pipeline_lines)
            assert_frame_equal(ours_left[what], rows, check_dtypes=False)


def test_a_line_ending_in_cr_cr_lf_is_read_as_the_full_run_reads_it(tmp_path, monkeypatch):
    """users.csv saved again with u-t1's line ending in CR CR LF (a CRLF file written out in
    text mode on Windows), and u-t2 (line 3) without an email: the full run warns of the CR
    alone and finds u-t2 on line 4, a line further on; so must the resync."""
    by_lines = answered_by_lines(monkeypatch, steps)
    district = tiny_district()
    warehouse = synced(tmp_path, feed_files(district))
    files = feed_files(with_cell(district, "users", 1, "email", None))
    header, first, *rest = files["users.csv"].split(b"\n")
    files["users.csv"] = b"\n".join([header, first + b"\r\r", *rest])

    ours, full, oracle = resync_and_full(warehouse, files)

    assert set(full.issues.select("rule", "line").iter_rows()) == {
        ("file.line_endings", None),
        ("teacher.no_email", 4),
    }
    assert_same_run(ours, full, warehouse, oracle)
    assert by_lines == [False]  # (its lines are not its records: parsed whole)


def test_a_feed_whose_last_line_ends_in_a_cr_alone_is_not_recalled(tmp_path):
    """The last run's feed again, users.csv's last LF a CR alone: the full run warns of it,
    so the feed is not the last run's lines, and is not recalled with that run's issues."""
    files = feed_files(tiny_district())
    warehouse = synced(tmp_path, files)
    files["users.csv"] = files["users.csv"].removesuffix(b"\n") + b"\r"

    ours, full, oracle = resync_and_full(warehouse, files)

    assert ours.planning != "recalled", ours.planning_note
    assert full.issues["rule"].to_list() == ["file.line_endings"]
    assert_same_run(ours, full, warehouse, oracle)


def test_a_file_with_two_byte_order_marks_is_rejected_as_the_full_run_rejects_it(
    tmp_path, monkeypatch
):
    """enrollments.csv with a byte-order mark prepended to the one it had, and a user renamed:
    the full run finds the header's first name to be \\ufeffsourcedId and rejects the feed;
    the resync must not apply it."""
    by_lines = answered_by_lines(monkeypatch, steps)
    district = tiny_district()
    warehouse = synced(tmp_path, feed_files(district))
    files = feed_files(with_cell(district, "users", 2, "givenName", "Samuel"))
    files["enrollments.csv"] = b"\xef\xbb\xbf\xef\xbb\xbf" + files["enrollments.csv"]

    ours, full, oracle = resync_and_full(warehouse, files)

    assert full.outcome == "rejected"
    assert ("header.unknown", "\\ufeffsourcedId") in set(
        full.issues.select("rule", "value").iter_rows()
    )
    assert_same_run(ours, full, warehouse, oracle)
    assert by_lines == [False]


def _manifest_rows(manifest: bytes) -> list[bytes]:
    return manifest.rstrip(b"\n").split(b"\n")


# the feed of a run, then the same files beside another member or under another manifest,
# whose issues the full run finds otherwise: (first feed's members, second's), from a feed
FEED_ISSUES_OTHERWISE = {
    "a member beside the files": lambda f: (f, f | {"notes.csv": b"x\n"}),
    "a member gone": lambda f: (f | {"Users.csv": b"x\n"}, f),
    "a property in another case": lambda f: (
        f,
        f | {"manifest.csv": f["manifest.csv"].replace(b"file.users,", b"File.users,")},
    ),
    "an unknown property on another line": lambda f: (
        f | {"manifest.csv": f["manifest.csv"] + b"file.notes,bulk\n"},
        f
        | {
            "manifest.csv": b"\n".join(
                [
                    _manifest_rows(f["manifest.csv"])[0],
                    b"file.notes,bulk",
                    *_manifest_rows(f["manifest.csv"])[1:],
                ]
            )
            + b"\n"
        },
    ),
}


@pytest.mark.parametrize("variant", FEED_ISSUES_OTHERWISE)
def test_the_same_files_with_other_feed_issues_are_not_recalled_with_the_last_ones(
    tmp_path, variant
):
    """The same files, and the same manifest properties, but another member beside them or
    a manifest stating them otherwise: the full run records this feed's warnings (a member
    named, a property's case, a line), so a resync may not recall the last run's."""
    first, second = FEED_ISSUES_OTHERWISE[variant](feed_files(tiny_district()))
    warehouse = synced(tmp_path, first)

    ours, full, oracle = resync_and_full(warehouse, second)

    assert_same_run(ours, full, warehouse, oracle)
    assert ours.planning != "recalled", ours.planning_note


def test_validate_with_a_warehouse_warns_of_a_cr_alone_as_validating_every_record(tmp_path):
    """`rosterflow validate FEED --warehouse W` of the last run's feed whose users.csv ends
    in a CR alone: not the last run's lines, so not answered with that run's issues (none),
    but with the warning that validating every record gives."""
    files = feed_files(tiny_district())
    warehouse = synced(tmp_path, files)
    files["users.csv"] = files["users.csv"].removesuffix(b"\n") + b"\r"
    feed = write_zip(tmp_path / "next.zip", files)

    _, validated = validate(feed, None, warehouse, TENANT)

    every_record = validate_feed(open_feed(feed), Settings(), known_ids(warehouse, TENANT))
    assert every_record.issues["rule"].to_list() == ["file.line_endings"]
    assert_frame_equal(validated.issues.sort(pl.all()), every_record.issues.sort(pl.all()))
