"""The per-command table of docs/reference/exit-codes.md against the program: a case the page
names under one exit code's column is answered with that code."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import app
from rosterflow.warehouse.schema import LOCK_WAIT_ENV
from tests.docs.test_reference_claims import rule_row
from tests.feeds import tiny_district, with_cell, write_feed
from tests.flows.test_pull_qa import CLIENT, ROSTERING, pull_with_token, refusing
from tests.holding import held

ROOT = Path(__file__).resolve().parents[2]
EXIT_CODES_PAGE = ROOT / "docs/reference/exit-codes.md"

runner = CliRunner()


def exit_code_columns(command: str) -> dict[int, str]:
    """The page's row of `command`: what it says under exit code 0, 1 and 2."""
    prefix = f"| `{command}` |"
    rows = [line for line in EXIT_CODES_PAGE.read_text().splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, f"{EXIT_CODES_PAGE}: no single row for {command}: {rows}"
    cells = [cell.strip() for cell in rows[0].strip().strip("|").split("|")]
    assert len(cells) == 4, f"{EXIT_CODES_PAGE}: the row of {command} has {len(cells)} cells"
    return {0: cells[1], 1: cells[2], 2: cells[3]}


def column_saying(command: str, words: str) -> list[int]:
    """The exit codes under which the row of `command` says `words`."""
    return [code for code, text in exit_code_columns(command).items() if words in text]


def _cli(*arguments: str):
    return runner.invoke(app, [*arguments, "--no-prefect"] if "serve" in arguments else arguments)


def _synced_layout(tmp_path: Path, *tenants: str) -> str:
    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    feed = write_feed(tmp_path / "district.zip", tiny_district())
    for tenant in tenants:
        synced = _cli("sync", str(feed), "--warehouse", template, "--tenant", tenant)
        assert synced.exit_code == 0, synced.output
    return template


def test_a_zip_whose_tenant_file_the_layout_refuses_exits_as_the_page_says(tmp_path):
    """A one-file warehouse copied in as a tenant's file: serve --once files the zip under
    rejected/ and exits 1 (the page named it among the exit-2 cases, followed by "(1)"), its
    report's one issue `sync.rejected` (which feeds.md gave for a run recorded alone)."""
    one_file = tmp_path / "one.duckdb"
    feed = write_feed(tmp_path / "east.zip", tiny_district())
    synced = _cli("sync", str(feed), "--warehouse", str(one_file), "--tenant", "east")
    assert synced.exit_code == 0, synced.output
    layout = tmp_path / "wh"
    layout.mkdir()
    shutil.copy(one_file, layout / "east.duckdb")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # the district's next export (a name changed); no systemCode: the zip's name is its tenant
    write_feed(inbox / "east.zip", with_cell(tiny_district(), "users", 0, "givenName", "Ann"))
    then = time.time() - 60
    os.utime(inbox / "east.zip", (then, then))

    scanned = _cli(
        "serve", "--inbox", str(inbox), "--once", "--settle", "0",
        "--warehouse", str(layout / "{tenant}.duckdb"),
    )  # fmt: skip

    assert (inbox / "rejected" / "east.zip").exists(), scanned.output
    assert column_saying("serve --once", "refuses as it stands") == [scanned.exit_code]
    report = pl.read_csv(inbox / "rejected" / "east.issues.csv", infer_schema=False)
    assert report["rule"].to_list() == ["sync.rejected"]
    assert "refuses as it stands" in rule_row("sync.rejected")[1]  # feeds.md's table of rules


@pytest.mark.slow
def test_a_catalog_with_tenant_files_held_exits_as_the_page_says(tmp_path, monkeypatch):
    """One tenant's file held: the catalog is printed (0), naming it; every file held: 2. The
    page's catalog row named neither."""
    template = _synced_layout(tmp_path, "north", "south")
    north, south = (tmp_path / "wh" / f"{tenant}.duckdb" for tenant in ("north", "south"))
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")

    with held(north):
        one_held = _cli("catalog", "--warehouse", template)
    with held(north, south):
        all_held = _cli("catalog", "--warehouse", template)

    assert one_held.exit_code == 0, one_held.output
    assert "-- note: tenant 'north'" in one_held.stdout
    assert all_held.exit_code == 2, all_held.output
    assert column_saying("catalog", "`-- note:`") == [0]
    assert column_saying("catalog", "every tenant file held") == [2]


def test_a_pull_whose_demographics_are_refused_exits_as_the_page_says(tmp_path):
    """A 403 on the optional /demographics writes the roster with a warning, exit 0: the
    page's pull row named only errors that end the pull (2)."""
    feed = {n: f for n, f in generate_feed(12, seed=3).items() if n in ROSTERING}
    api = RosterApi(feed, client=CLIENT)
    api.fault = refusing("/demographics", 403)
    with serving(api) as root:
        pulled = pull_with_token(api, root, tmp_path / "feed.zip")

    assert "warning: demographics not read" in pulled.output
    assert column_saying("pull URL OUT", "`/demographics`") == [pulled.exit_code]


def test_a_sync_into_a_tenant_file_the_layout_refuses_exits_as_the_page_says(tmp_path):
    """The sync itself refuses such a file, exit 2, which the page's sync row did not name."""
    one_file = tmp_path / "one.duckdb"
    feed = write_feed(tmp_path / "east.zip", tiny_district())
    assert _cli("sync", str(feed), "--warehouse", str(one_file)).exit_code == 0
    (tmp_path / "wh").mkdir()
    shutil.copy(one_file, tmp_path / "wh" / "east.duckdb")

    synced = _cli("sync", str(feed), "--warehouse", str(tmp_path / "wh" / "{tenant}.duckdb"))

    assert "one-file warehouse" in " ".join(synced.output.split()), synced.output
    assert column_saying("sync", "refuses as it stands") == [synced.exit_code]
