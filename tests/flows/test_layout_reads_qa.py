"""Analysts' and operators' reads over a per-tenant layout while tenant files are held by other
processes (the tenants' nightly syncs): `rosterflow query`, the notebooks' reads, and finding
the file of a run numbered as a one-file warehouse's runs are. Real syncs into real files,
second processes holding files open for writing, the real commands."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from marimo._runtime.control_flow import MarimoStopError
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.warehouse.catalog import TenantFileHeld
from rosterflow.warehouse.layout import Layout, warehouse_of_run
from rosterflow.warehouse.readonly import ReadOnlyWarehouse
from rosterflow.warehouse.schema import LOCK_WAIT_ENV, WarehouseError
from tests.holding import MONTREAL, TENANTS, held, synced_layout

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three tenants synced into a layout, one run each."""
    return synced_layout(tmp_path_factory.mktemp("layout-reads"))


def _file_of(template: str, tenant: str) -> Path:
    return Layout(template).path_for(tenant)


def test_a_query_names_the_tenant_of_the_held_file_and_prints_no_rows(layout, monkeypatch, wide):
    """The query is not answered without Montréal's rows, and says whose file it waited for:
    its name, `Montr%C3%A9al%2FEst.duckdb`, alone left the analyst to decode it."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    montreal = _file_of(layout, MONTREAL).resolve()

    with held(montreal):
        asked = runner.invoke(
            app,
            ["query", "select tenant, count(*) from lms.users group by all", "--warehouse", layout],
        )

    assert asked.exit_code == 2, asked.output
    assert asked.stdout == ""
    (line,) = asked.stderr.splitlines()
    assert line.startswith(f"rosterflow: tenant {MONTREAL!r}: {montreal}: ")
    assert "locked by another process" in line


def test_a_notebook_opened_during_a_sync_names_the_tenant_whose_file_is_held(
    layout, monkeypatch, shared
):
    """The tenant picker said "The warehouse cannot be opened" and to point
    ROSTERFLOW_WAREHOUSE at a warehouse a sync wrote: advice to leave a good warehouse, for a
    file that is only busy, and without the tenant's name."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    warehouse = ReadOnlyWarehouse(layout)

    with held(_file_of(layout, "north")), pytest.raises(MarimoStopError) as stopped:
        shared.pick_tenant(warehouse)

    shown = stopped.value.output.text
    assert "The warehouse file of tenant &#x27;north&#x27; is in use" in shown
    assert "reload this notebook once" in shown
    assert "ROSTERFLOW_WAREHOUSE" not in shown.split("(ROSTERFLOW_LOCK_WAIT")[0]
    assert "cannot be opened." not in shown


def test_a_notebook_query_after_a_sync_began_stops_its_cell_with_a_word_of_help(
    layout, monkeypatch, shared
):
    """A cell run again (a tenant picked, a switch turned) while a tenant's sync held its file
    raised the lock error out of the query: a traceback in the cell."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    warehouse = ReadOnlyWarehouse(layout)
    picker = shared.pick_tenant(warehouse)  # every file free: the notebook opens
    assert picker.value == sorted(TENANTS)[0]

    with held(_file_of(layout, "south")), pytest.raises(MarimoStopError) as stopped:
        warehouse.query("select count(*) from lms.users where tenant = $tenant", tenant="north")

    assert "The warehouse file of tenant &#x27;south&#x27; is in use" in stopped.value.output.text
    # outside a notebook (no picker), the error itself, naming the tenant, as before
    with held(_file_of(layout, "south")), pytest.raises(TenantFileHeld, match="'south'"):
        ReadOnlyWarehouse(layout).query("select 1")


def test_held_files_are_waited_for_side_by_side_for_a_run_of_a_one_file_warehouse(
    layout, monkeypatch
):
    """`undo 1` (a run id below the layout's ranges, looked for in every file) waited out the
    lock wait file after file: north's sync ending 3 s in, south's wait began only then, 7 s in
    all for a 4 s wait."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "4")
    north, south = _file_of(layout, "north"), _file_of(layout, "south")

    with held(south), held(north, seconds=3):
        started = time.monotonic()
        with pytest.raises(WarehouseError) as refused:
            warehouse_of_run(layout, 1)
        waited = time.monotonic() - started
        undone = runner.invoke(app, ["undo", "1", "--warehouse", layout])

    assert 2.5 < waited < 5.5, waited  # (a wait file after file: 7 s)
    assert str(refused.value).startswith(f"{south}: cannot open the warehouse: it is locked")
    assert undone.exit_code == 2, undone.output
    assert f"one could not be read: {south}: cannot open" in undone.stderr


def test_a_run_of_a_one_file_warehouse_no_file_holds_is_no_such_run(layout):
    """Every file read (none held): the run is in none of them, as before."""
    result = runner.invoke(app, ["undo", "1", "--warehouse", layout])
    assert result.exit_code == 1, result.output
    assert "there is no run 1" in result.stderr
