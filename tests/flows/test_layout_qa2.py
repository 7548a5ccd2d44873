"""`rosterflow validate --warehouse 'wh/{tenant}.duckdb'` of a tenant that has no file in the
layout yet, in a layout no sync has created either: a district checks its feed before its
first sync, so the feed is validated as without a warehouse, and nothing is created."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district, with_cell, write_feed

runner = CliRunner()


def _everything_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.mark.usefixtures("wide")
@pytest.mark.parametrize(
    ("frames", "exit_code", "says"),
    [
        (tiny_district(), 0, "valid — 0 errors"),
        (with_cell(tiny_district(), "users", 0, "role", "pupil"), 1, "invalid — 1 error"),
    ],
    ids=["valid", "invalid"],
)
def test_validating_against_a_layout_no_sync_created_validates_the_feed_alone(
    tmp_path, monkeypatch, frames, exit_code, says
):
    """It exited 2, `no such warehouse (a sync creates it)`, for the very feed the first sync
    of the layout would take."""
    feed = write_feed(tmp_path / "feeds" / "d.zip", frames)
    monkeypatch.chdir(tmp_path)
    before = _everything_under(tmp_path)

    result = runner.invoke(app, ["validate", str(feed), "--warehouse", "wh/{tenant}.duckdb"])

    assert result.exit_code == exit_code, result.output
    assert says in result.output and "no such warehouse" not in result.output
    assert _everything_under(tmp_path) == before  # no folder, registry or file


def test_a_one_file_warehouse_that_is_not_there_is_still_refused(tmp_path):
    """A file's path mistyped is not a tenant never synced: it still exits 2."""
    feed = write_feed(tmp_path / "d.zip", tiny_district())

    result = runner.invoke(app, ["validate", str(feed), "--warehouse", str(tmp_path / "w.duckdb")])

    assert result.exit_code == 2, result.output
    assert "no such warehouse" in result.output
    assert not (tmp_path / "w.duckdb").exists()
