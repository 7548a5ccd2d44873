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
from rosterflow.flows.inbox import (
    PROCESSED,
    REJECTED,
    AlreadyApplied,
    applied_run_of,
    tenant_chains,
)
from rosterflow.warehouse.layout import Layout, tenant_file_name
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


COMPOSED, DECOMPOSED = "Montr\u00e9al", "Montre\u0301al"  # one text, two Unicode forms


def test_a_tenant_s_zips_in_two_unicode_forms_make_one_chain(tmp_path):
    """Two chains run at once on a work pool: both forms of one tenant could register in the
    layout before either saw the other."""
    first, second, other = (tmp_path / f"{name}.zip" for name in (COMPOSED, DECOMPOSED, "north"))
    tenants = {first: COMPOSED, second: DECOMPOSED, other: "north"}
    chains = tenant_chains("wh/{tenant}.duckdb", [first, other, second], tenants=tenants)
    assert chains == {COMPOSED: [first, second], "north": [other]}


@pytest.mark.usefixtures("wide")
def test_a_zip_naming_a_known_tenant_in_another_unicode_form_is_rejected_not_synced_again(
    tmp_path,
):
    """`Montréal.zip` saved on a Mac (its name decomposed) became a second tenant of the
    layout, with a file of its own and a copy of every record."""
    inbox, template = tmp_path / "inbox", tmp_path / "wh" / "{tenant}.duckdb"
    write_feed(inbox / f"{COMPOSED}.zip", tiny_district())
    write_feed(inbox / f"{DECOMPOSED}.zip", tiny_district())
    _aged(inbox / f"{COMPOSED}.zip", 20)

    scanned = _once(inbox, template)

    assert scanned.exit_code == 1, scanned.output
    layout = Layout(str(template))
    assert list(layout.tenants()) == [COMPOSED]
    assert [p.name for p in (tmp_path / "wh").glob("*.duckdb")] == [
        tenant_file_name(COMPOSED) + ".duckdb"
    ]
    assert _runs(layout.path_for(COMPOSED)) == [(f"{COMPOSED}.zip", COMPOSED, "applied")]
    report = (inbox / REJECTED / f"{DECOMPOSED}.issues.csv").read_text()
    assert f"tenant '{DECOMPOSED}' is tenant '{COMPOSED}' of the layout {template}" in report
    assert (inbox / PROCESSED / f"{COMPOSED}.zip").exists()
