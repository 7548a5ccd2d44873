"""A per-tenant layout (`--warehouse 'wh/{tenant}.duckdb'`) given a one-file warehouse as a
tenant's file: its ids start at 1, as every one-file warehouse's do, so it is refused rather
than synced into with ids other files of the layout can hold."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.layout import REGISTRY, Layout, LayoutError, TenantFileRefused
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

TEMPLATE = "wh/{tenant}.duckdb"


def _one_file_warehouse(tmp_path: Path, tenant: str) -> Path:
    feed = write_feed(tmp_path / f"{tenant}.zip", tiny_district())
    path = tmp_path / f"{tenant}-one-file.duckdb"
    run_sync(feed, str(path), Settings(), tenant=tenant)
    return path


def test_a_one_file_warehouse_copied_in_as_a_tenant_file_is_refused_before_anything_is_written(
    tmp_path,
):
    (tmp_path / "wh").mkdir()
    for tenant in ("north", "south"):  # two districts moving from a file each
        shutil.copy(_one_file_warehouse(tmp_path, tenant), tmp_path / "wh" / f"{tenant}.duckdb")
    feed = write_feed(tmp_path / "north-again.zip", tiny_district())

    with pytest.raises(LayoutError, match=r"north\.duckdb holds 1 run\(s\) of a one-file"):
        run_sync(feed, str(tmp_path / TEMPLATE), Settings(), tenant="north")

    # neither registered nor claimed: nothing of the layout's is written
    assert not (tmp_path / "wh" / REGISTRY).exists()
    with connect(tmp_path / "wh" / "north.duckdb", read_only=True) as con:
        assert con.execute("select count(*) from audit.id_space").fetchone() == (0,)
        assert con.execute("select run_id from audit.sync_runs").fetchall() == [(1,)]


def test_a_file_made_by_hand_before_the_first_sync_is_still_synced_into(tmp_path):
    with connect(tmp_path / "wh" / "north.duckdb") as con:  # the accounts' file, no run yet
        assert con.execute("select count(*) from audit.sync_runs").fetchone() == (0,)
    feed = write_feed(tmp_path / "north.zip", tiny_district())

    result = run_sync(feed, str(tmp_path / TEMPLATE), Settings(), tenant="north")

    assert result.outcome == "applied"
    assert result.run_id >> 40 == 1


@pytest.mark.parametrize(
    ("tenant", "file_name"),
    [
        ("East Side", "East Side.duckdb"),
        ("a/b", "a%2Fb.duckdb"),
        ("../x", "%2E.%2Fx.duckdb"),
        ("Montréal", "Montr%C3%A9al.duckdb"),
    ],
)
def test_tenant_file_names_are_those_the_how_to_shows(tmp_path, tenant, file_name):
    """docs/how-to/per-tenant.md, "File names": a real sync lands in the file it names, in
    the layout's folder."""
    feed = write_feed(tmp_path / "feed.zip", tiny_district())

    run_sync(feed, str(tmp_path / TEMPLATE), Settings(), tenant=tenant)

    assert sorted(p.name for p in (tmp_path / "wh").glob("*.duckdb")) == [file_name]


def test_a_tenant_file_refused_as_it_stands_names_its_tenant_for_the_inbox(tmp_path):
    """The inbox files such a zip under rejected/ (every later sync would be refused alike)
    by this kind of error, and names the tenant in its table."""
    (tmp_path / "wh").mkdir()
    shutil.copy(_one_file_warehouse(tmp_path, "north"), tmp_path / "wh" / "north.duckdb")
    feed = write_feed(tmp_path / "north-again.zip", tiny_district())

    with pytest.raises(TenantFileRefused) as refused:
        run_sync(feed, str(tmp_path / TEMPLATE), Settings(), tenant="north")

    assert refused.value.tenant == "north"


def test_a_file_numbered_by_another_registry_is_refused_as_it_stands(tmp_path):
    """Files copied without their registry, numbered afresh in another order: refused, and
    refused alike at every sync, until the registry is put back."""
    template = str(tmp_path / TEMPLATE)
    feed = write_feed(tmp_path / "feed.zip", tiny_district())
    for tenant in ("north", "south"):
        run_sync(feed, template, Settings(), tenant=tenant)
    shutil.rmtree(tmp_path / "wh" / REGISTRY)  # `cp wh/*.duckdb` leaves it behind
    Layout(template).register("south")  # now number 1 (its file says 2), north number 2

    for _ in range(2):
        with pytest.raises(TenantFileRefused, match=r"numbers the tenant otherwise") as refused:
            run_sync(feed, template, Settings(), tenant="north")
        assert refused.value.tenant == "north"
