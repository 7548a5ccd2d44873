"""`rosterflow runs` as a person reads it: which runs, and what to make of none."""

from __future__ import annotations

from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district
from tests.syncing import Warehouse

runner = CliRunner()


def test_no_runs_of_a_mistyped_tenant_names_the_tenants_that_have_runs(tmp_path, wide):
    """`--tenant North` said only "no runs of tenant North": a district that never synced, as
    far as the reader could tell."""
    for tenant in ("north", "south"):
        Warehouse(tmp_path, tenant=tenant).sync(tiny_district())
    warehouse = str(tmp_path / "warehouse.duckdb")

    done = runner.invoke(app, ["runs", "--warehouse", warehouse, "--tenant", "North"])

    assert done.exit_code == 0, done.output
    assert done.output == (
        f"{warehouse}: no runs of tenant North (the tenants with runs: north, south)\n"
    )


def test_no_runs_at_all_says_so_alone(tmp_path, wide):
    from rosterflow.warehouse.schema import connect

    warehouse = tmp_path / "w.duckdb"
    connect(warehouse).close()

    for tenant in ([], ["--tenant", "north"]):
        done = runner.invoke(app, ["runs", "--warehouse", str(warehouse), *tenant])

        assert done.exit_code == 0, done.output
        assert done.output == f"{warehouse}: no runs{' of tenant north' if tenant else ''}\n"
