"""An inbox of several tenants' zips into one warehouse file: each zip is synced into its own
tenant, and only that tenant's runs tell whether its bytes were applied already."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.flows.inbox import PROCESSED, AlreadyApplied, applied_run_of
from tests.feeds import tiny_district, write_feed

runner = CliRunner()


def _aged(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _once(inbox: Path, warehouse: Path):
    arguments = ["serve", "--inbox", str(inbox), "--warehouse", str(warehouse), "--once"]
    return runner.invoke(app, [*arguments, "--settle", "0", "--no-prefect"])


def _runs(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(
            "select feed_name, tenant, outcome from audit.sync_runs order by run_id"
        ).fetchall()


@pytest.mark.usefixtures("wide")
def test_a_zip_with_the_bytes_another_tenant_applied_is_synced_into_its_own(tmp_path):
    """Without a systemCode a zip's tenant is its name: jefferson.zip, with the bytes lincoln.zip
    had, was filed as a duplicate of lincoln's run, and jefferson never synced (a layout
    synced it, into jefferson's file)."""
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    write_feed(inbox / "lincoln.zip", tiny_district())
    shutil.copy(inbox / "lincoln.zip", inbox / "jefferson.zip")
    _aged(inbox / "lincoln.zip", 20)

    scanned = _once(inbox, warehouse)

    assert scanned.exit_code == 0, scanned.output
    assert _runs(warehouse) == [
        ("lincoln.zip", "lincoln", "applied"),
        ("jefferson.zip", "jefferson", "applied"),
    ]
    found = applied_run_of(warehouse, inbox / PROCESSED / "jefferson.zip")
    assert isinstance(found, AlreadyApplied) and found.tenant == "jefferson"

    # the same bytes of the same tenant again are still a duplicate
    shutil.copy(inbox / PROCESSED / "jefferson.zip", inbox / "jefferson.zip")
    again = _once(inbox, warehouse)
    assert again.exit_code == 0, again.output
    assert "duplicate" in again.output
    assert len(_runs(warehouse)) == 2
