"""`rosterflow validate` and `sync` on zips as districts' tools make them, each command in its
own process: a folder zipped by Windows PowerShell's Compress-Archive (backslashes between
folder and file) syncs as the folder does; a manifest where it is not read is one error that
names where it is, and both commands say it, the warehouse untouched; a file compressed inside
the zip is refused by both, also as a resync."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

from tests.feeds import feed_files, tiny_district, write_zip
from tests.flows.cli_without_prefect import rosterflow
from tests.flows.test_cli_plain import query, runs

FILES = feed_files(tiny_district())


def compress_archive(path: Path) -> Path:
    """The feed's folder `district` zipped as Compress-Archive of Windows PowerShell 5.1 names
    its members: `district\\`, `district\\users.csv`."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("district\\"), b"")
        for name, data in FILES.items():
            archive.writestr(f"district\\{name}", data)
    return path


@pytest.mark.slow  # (two commands, each in a process of its own)
def test_a_folder_zipped_with_backslashes_validates_and_syncs_as_the_folder(tmp_path):
    feed, warehouse = compress_archive(tmp_path / "north.zip"), tmp_path / "w.duckdb"

    validated = rosterflow(tmp_path, "validate", feed)
    synced = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse)

    assert validated.code == 0 and "0 errors, 0 warnings" in validated.stdout, validated.output
    assert synced.code == 0, synced.output
    assert runs(warehouse) == [(1, "north", "north.zip", "applied")]
    assert query(warehouse, "select count(*) from lms.users") == [(5,)]


@pytest.mark.slow
def test_a_manifest_beside_which_the_feed_is_not_read_is_named_by_validate_and_sync(tmp_path):
    feed = write_zip(
        tmp_path / "north.zip",
        {**{f"district/{n}": d for n, d in FILES.items()}, "README.txt": b"nightly export"},
    )
    warehouse, report = tmp_path / "w.duckdb", tmp_path / "issues.json"

    validated = rosterflow(tmp_path, "validate", feed, "--report", report)
    synced = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse)

    assert validated.code == synced.code == 1, (validated.output, synced.output)
    (issue,) = json.loads(report.read_text())
    assert (issue["rule"], issue["value"]) == ("manifest.missing", "district/manifest.csv")
    assert "it has district/manifest.csv" in issue["message"]
    assert runs(warehouse) == [(1, "north", "north.zip", "rejected")]
    assert query(warehouse, "select rule, value from audit.issues") == [
        ("manifest.missing", "district/manifest.csv")
    ]
    assert query(warehouse, "select count(*) from lms.users") == [(0,)]


@pytest.mark.slow
@pytest.mark.parametrize("changed", [False, True])
def test_a_resync_with_a_compressed_file_is_refused_as_validate_refuses_it(tmp_path, changed):
    """The sync read a resync's files by their lines, which Polars took from a gzip-compressed
    users.csv inflated: the same lines were the last run's feed again (exit 0, and `validate
    --warehouse` found it valid, as `validate` refused it with exit 2), a changed name was
    applied."""
    warehouse = tmp_path / "w.duckdb"
    first = rosterflow(tmp_path, "sync", write_zip(tmp_path / "north.zip", FILES), "--warehouse", warehouse)  # fmt: skip
    assert first.code == 0, first.output
    users = FILES["users.csv"].replace(b"Sam", b"Samuel") if changed else FILES["users.csv"]
    feed = write_zip(tmp_path / "north-2.zip", FILES | {"users.csv": gzip.compress(users)})

    validated = rosterflow(tmp_path, "validate", feed)
    against = rosterflow(tmp_path, "validate", feed, "--warehouse", warehouse, "--tenant", "north")
    synced = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse, "--tenant", "north")

    assert validated.code == against.code == synced.code == 2, (against.output, synced.output)
    assert "users.csv line 1: not a CSV file but a gzip-compressed one" in synced.stderr
    assert runs(warehouse) == [(1, "north", "north.zip", "applied")]
    assert query(warehouse, "select count(*) from lms.users where given_name = 'Samuel'") == [(0,)]
