"""A resync by changed lines (`schemas.by_lines`) over several runs, each held to `--full` of
the same feed on a copy of the warehouse: the sequences a district's exports go through that
leave the stored records' line keys and lines from other runs than the last (a byte-order mark
or the last line end dropped, sourcedIds moved between lines, a recall before the change, a
file absent for a run, a value over two lines and back)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from rosterflow.schemas.settings import Settings
from tests.flows.test_pipeline_incremental import (
    run_once,
    synced_as_in_full,
)

Files = dict[str, bytes]
# a run's members made of the run before's and of the first run's
Rewrite = Callable[[Files, Files], Files]


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def cell(name: str, row: int, column: str, value: str) -> Rewrite:
    def rewrite(files: Files, first: Files) -> Files:
        rows = _rows(files[name])
        rows[row][rows[0].index(column)] = value
        return files | {name: _csv(rows)}

    return rewrite


def in_bytes(name: str, change: Callable[[bytes], bytes]) -> Rewrite:
    return lambda files, first: files | {name: change(files[name])}


def ids_swapped(name: str, one: int, other: int) -> Rewrite:
    """The sourcedIds of rows `one` and `other` swapped (each line another record's)."""

    def rewrite(files: Files, first: Files) -> Files:
        rows = _rows(files[name])
        rows[one][0], rows[other][0] = rows[other][0], rows[one][0]
        return files | {name: _csv(rows)}

    return rewrite


def reversed_keeping_first(name: str, kept: int) -> Rewrite:
    """The rows after the first `kept` in reverse order."""

    def rewrite(files: Files, first: Files) -> Files:
        header, *rows = _rows(files[name])
        return files | {name: _csv([header, *rows[:kept], *rows[kept:][::-1]])}

    return rewrite


def absent(name: str) -> Rewrite:
    def rewrite(files: Files, first: Files) -> Files:
        entity = name.removesuffix(".csv")
        manifest = files["manifest.csv"].replace(
            f"file.{entity},bulk".encode(), f"file.{entity},absent".encode()
        )
        return {member: data for member, data in files.items() if member != name} | {
            "manifest.csv": manifest
        }

    return rewrite


def as_first(name: str) -> Rewrite:
    """`name` and the manifest as the first run sent them."""
    return lambda files, first: files | {name: first[name], "manifest.csv": first["manifest.csv"]}


def both(*rewrites: Rewrite) -> Rewrite:
    def rewrite(files: Files, first: Files) -> Files:
        for each in rewrites:
            files = each(files, first)
        return files

    return rewrite


NO_PRIMARY = cell("enrollments.csv", 1, "primary", "false")  # cls-1's two teachers, none marked
BOM = b"\xef\xbb\xbf"

# sequence: the first feed's rewrite, then each next run's (of the run before's members), and
# whether each next run is read by its changed lines
SEQUENCES: dict[str, tuple[list[Rewrite], list[list[bool]]]] = {
    "a byte-order mark dropped as a name changes": (
        [
            in_bytes("users.csv", lambda data: BOM + data),
            both(
                in_bytes("users.csv", lambda data: data.removeprefix(BOM)),
                cell("users.csv", 5, "givenName", "Zed"),
            ),
        ],
        [[True]],
    ),
    "the last line end dropped, then another line changed": (
        [
            lambda files, first: files,
            both(
                in_bytes("users.csv", lambda data: data.rstrip(b"\n")),
                cell("users.csv", 5, "givenName", "Zed"),
            ),
            both(
                cell("users.csv", 6, "givenName", "Yves"),
                in_bytes("users.csv", lambda data: data.rstrip(b"\n")),
            ),
        ],
        [[True], [True]],
    ),
    "two users' lines swap their sourcedIds": (
        [lambda files, first: files, ids_swapped("users.csv", 40, 41)],
        [[True]],
    ),
    "a class's teachers swapped after a recall": (
        [
            NO_PRIMARY,
            reversed_keeping_first("enrollments.csv", 2),
            both(ids_swapped("enrollments.csv", 1, 2), cell("users.csv", 5, "givenName", "Zed")),
        ],
        [[True], [True]],
    ),
    "users.csv absent for a run, then back with a change": (
        [
            lambda files, first: files,
            both(absent("users.csv"), cell("enrollments.csv", 5, "role", "teacher")),
            both(as_first("users.csv"), cell("users.csv", 6, "givenName", "Yves")),
        ],
        [[True], [True]],
    ),
    "a value over two lines, then on one again": (
        [
            lambda files, first: files,
            cell("users.csv", 5, "givenName", "Ann\nMarie"),
            cell("users.csv", 5, "givenName", "Ann"),
        ],
        [[False], []],  # (a run of a value over lines keeps no line keys: the next is parsed)
    ),
}


def _feed(folder: Path, run: int, files: Files) -> Path:
    feed = folder / f"feed{run}.zip"
    with zipfile.ZipFile(feed, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return feed


@pytest.mark.slow
@pytest.mark.parametrize("sequence", SEQUENCES)
def test_each_run_of_a_sequence_is_synced_as_in_full(
    tmp_path, generated_members, by_lines, sequence
):
    """Each run after the first is read by its changed lines (or parsed whole where its lines
    cannot be read as records), validated, planned and applied as `--full` does on a copy of
    the warehouse: issues, plan, and everything the run leaves."""
    rewrites, read_by_lines = SEQUENCES[sequence]
    warehouse = tmp_path / "ours.duckdb"
    first = files = rewrites[0](dict(generated_members), generated_members)
    run_once(warehouse, _feed(tmp_path, 0, files), Settings(), full=False)
    for run, rewrite in enumerate(rewrites[1:], start=1):
        files = rewrite(files, first)
        feed = _feed(tmp_path, run, files)
        by_lines.clear()
        synced_as_in_full(warehouse, tmp_path / f"full{run}.duckdb", feed)
        assert by_lines == read_by_lines[run - 1], run  # (`--full` reads no stored record)
