"""`approve`, `discard` and `undo` of a run in a per-tenant layout (`wh/{tenant}.duckdb`)
whose id is a one-file warehouse's: `rosterflow runs` lists the runs of a one-file warehouse
copied into the layout (by a sync before such files were refused), so the run is looked for
in every tenant file, and one that two files hold is refused naming both."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from rosterflow.flows.operations import OperationRefused, runs, undo_run
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.layout import Layout, LayoutError
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

TEMPLATE = "wh/{tenant}.duckdb"


def _copied_in(tmp_path: Path, *tenants: str) -> str:
    """A layout whose tenants' files are one-file warehouses, copied in and claimed as the
    tenants' files (as a sync did before it refused such files)."""
    template = str(tmp_path / TEMPLATE)
    (tmp_path / "wh").mkdir()
    for tenant in tenants:
        feed = write_feed(tmp_path / f"{tenant}.zip", tiny_district())
        one_file = tmp_path / f"{tenant}-one-file.duckdb"
        run_sync(feed, str(one_file), Settings(), tenant=tenant)
        copy = shutil.copy(one_file, tmp_path / "wh" / f"{tenant}.duckdb")
        with duckdb.connect(str(copy)) as con:
            base = Layout(template).id_base(tenant)
            con.execute("insert into audit.id_space values (?, ?)", [tenant, base])
    return template


def _run_count(path: Path) -> int:
    with connect(path, read_only=True) as con:
        return con.execute("select count(*) from audit.sync_runs").fetchone()[0]


def test_a_listed_run_of_a_copied_in_file_is_undone_through_the_layout(tmp_path):
    template = _copied_in(tmp_path, "north")
    assert runs(template)["run_id"].to_list() == [1]

    undone = undo_run(template, 1)

    assert undone.outcome == "applied"
    assert undone.run_id >> 40 == 1  # the new run takes the tenant's ids of the layout
    assert _run_count(tmp_path / "wh" / "north.duckdb") == 2


def test_a_run_id_two_tenant_files_hold_is_refused_naming_both_files(tmp_path):
    template = _copied_in(tmp_path, "north", "south")

    with pytest.raises(LayoutError, match=r"run 1 is in 2 tenant files") as refused:
        undo_run(template, 1)

    assert "north.duckdb" in str(refused.value) and "south.duckdb" in str(refused.value)
    assert _run_count(tmp_path / "wh" / "north.duckdb") == 1
    assert _run_count(tmp_path / "wh" / "south.duckdb") == 1


def test_a_run_id_no_tenant_file_holds_is_still_refused_as_no_such_run(tmp_path):
    template = _copied_in(tmp_path, "north")

    with pytest.raises(OperationRefused, match=r"there is no run 7 in"):
        undo_run(template, 7)


@pytest.mark.parametrize("command", [["runs"], ["query", "select 1"], ["undo", "1"]])
def test_a_template_of_a_field_in_capitals_is_one_line_for_every_command(tmp_path, command):
    from typer.testing import CliRunner

    from rosterflow.flows.cli import app

    done = CliRunner().invoke(app, [*command, "--warehouse", str(tmp_path / "{Tenant}.duckdb")])
    assert done.exit_code == 2, done.output
    (line,) = done.output.strip().splitlines()
    assert "names the field {Tenant}" in line and "Traceback" not in done.output
