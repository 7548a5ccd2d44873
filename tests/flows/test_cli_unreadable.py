"""A feed this user may not read (its zip, its folder, a file of it, or a folder above it) is
the command's one line, exit 2, for every command: the path and the file system's reason,
"Permission denied"; no run recorded, no warehouse made, and the inbox leaves such a zip where
it is for the next scan. Each command runs in its own process, bound by file permissions
(`tests.unprivileged`), also when the tests run as root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_cell
from tests.flows.test_cli_plain import rosterflow, runs


@contextmanager
def mode(path: Path, bits: int) -> Iterator[None]:
    """`path` with these permission bits for the block, its own ones again after it (so
    that the test's folder can be removed, also by a user whom permissions bind)."""
    before = path.stat().st_mode & 0o7777
    path.chmod(bits)
    try:
        yield
    finally:
        path.chmod(before)


def unreadable_feed(tmp_path: Path, which: str) -> tuple[Path, Path, Path]:
    """The feed to give the command, and the path made unreadable: the zip, the folder, a file
    of the folder, or the folder it is in."""
    if which == "zip":
        feed = write_feed(tmp_path / "north.zip", tiny_district())
        return feed, feed, feed
    feed = write_feed(tmp_path / "drop" / "north", tiny_district())
    locked = {
        "folder": feed,
        "users.csv": feed / "users.csv",
        "manifest.csv": feed / "manifest.csv",
        "folder above": feed.parent,
    }[which]
    named = feed if which == "folder above" else locked
    return feed, locked, named


WHICH = ["zip", "folder", "users.csv", "manifest.csv", "folder above"]


def one_line(done) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.output
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("which", WHICH)
def test_validate_names_what_it_may_not_read_in_one_line(tmp_path, which):
    feed, locked, named = unreadable_feed(tmp_path, which)

    with mode(locked, 0):
        done = rosterflow(tmp_path, "validate", feed, unprivileged=True)

    assert done.code == 2, done.output
    assert one_line(done) == f"rosterflow: {named}: cannot be read (Permission denied)"
    assert done.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize("which", WHICH)
def test_sync_names_what_it_may_not_read_and_makes_no_warehouse(tmp_path, which):
    feed, locked, named = unreadable_feed(tmp_path, which)
    warehouse = tmp_path / "w.duckdb"

    with mode(locked, 0):
        done = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse, unprivileged=True)

    assert done.code == 2, done.output
    assert one_line(done) == f"rosterflow: {named}: cannot be read (Permission denied)"
    assert not warehouse.exists()


@pytest.mark.slow
@pytest.mark.parametrize("which", ["users.csv", "manifest.csv"])
def test_sync_into_a_warehouse_records_no_run_of_a_feed_it_may_not_read(tmp_path, which):
    warehouse = tmp_path / "w.duckdb"
    first = rosterflow(
        tmp_path, "sync", write_feed(tmp_path / "a", tiny_district()), "--warehouse", warehouse
    )
    assert first.code == 0, first.output
    changed = with_cell(tiny_district(), "users", 0, "givenName", "Renamed")
    feed = write_feed(tmp_path / "b", changed)

    with mode(feed / which, 0):
        done = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse, unprivileged=True)

    assert done.code == 2, done.output
    assert one_line(done) == f"rosterflow: {feed / which}: cannot be read (Permission denied)"
    assert [run[3] for run in runs(warehouse)] == ["applied"]


def test_the_inbox_leaves_a_zip_it_may_not_read_and_syncs_the_others(tmp_path):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    locked = write_feed(inbox / "locked.zip", tiny_district())
    write_feed(inbox / "good.zip", tiny_district(), properties={"source.systemCode": "south"})
    old = inbox.stat().st_mtime - 60
    os.utime(locked, (old, old))  # a zip that cannot be read is not waited for as arriving

    with mode(locked, 0):
        done = rosterflow(
            tmp_path,
            *("serve", "--inbox", inbox, "--warehouse", warehouse, "--once", "--settle", "0"),
            unprivileged=True,
        )

    assert done.code == 2, done.output
    assert one_line(done) == (
        f"rosterflow: 1 zip(s) left in the inbox for the next scan: locked.zip: {locked}: "
        "cannot be read (Permission denied)"
    )
    assert locked.exists()
    assert (inbox / "processed" / "good.zip").exists()
    assert [(run[1], run[3]) for run in runs(warehouse)] == [("south", "applied")]
