"""Tenant names of a per-tenant layout that are legal but unusual: each keeps its one number in
the registry, and two names that the file system takes for one file never share it."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from rosterflow.flows.operations import runs
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.catalog import open_catalog
from rosterflow.warehouse.layout import REGISTRY, Layout, LayoutError, TenantNameError
from tests.feeds import tiny_district, with_cell
from tests.syncing import every_row

TEMPLATE = "wh/{tenant}.duckdb"


def _sync(tmp_path: Path, tenant: str, frames=None, name: str = "feed.zip"):
    feed = write_feed(tmp_path / name, frames or tiny_district())
    return run_sync(feed, str(tmp_path / TEMPLATE), Settings(), tenant=tenant)


@pytest.mark.slow
@pytest.mark.parametrize("tenant", ["cr\rlf", "cr\r\nlf", "tail\r"])
def test_a_tenant_with_a_carriage_return_keeps_its_one_registration(tmp_path, tenant):
    """The registry was read as text, which turns "\\r" into "\\n": the tenant's second sync
    found no registration, registered it again, and failed (KeyError)."""
    first = _sync(tmp_path, tenant)
    changed = with_cell(tiny_district(), "users", 0, "givenName", "Renamed")
    second = _sync(tmp_path, tenant, changed, "feed-2.zip")

    assert (first.outcome, second.outcome) == ("applied", "applied")
    assert second.run_id == first.run_id + 1
    layout = Layout(str(tmp_path / TEMPLATE))
    assert layout.tenants() == {tenant: 1}
    assert len(list((tmp_path / "wh" / REGISTRY).iterdir())) == 1
    assert runs(str(tmp_path / TEMPLATE))["tenant"].to_list() == [tenant, tenant]


def _one_file_two_names(tmp_path: Path) -> Path:
    """north's file, and NORTH.duckdb naming it too: as a file system that ignores case (macOS,
    an SMB share) takes both names for one file."""
    assert _sync(tmp_path, "north").outcome == "applied"
    north = tmp_path / "wh" / "north.duckdb"
    (tmp_path / "wh" / "NORTH.duckdb").symlink_to(north.name)
    return north


def test_a_tenant_whose_file_is_another_tenants_is_refused_before_it_is_registered(tmp_path):
    north = _one_file_two_names(tmp_path)
    before = every_row(north)

    with pytest.raises(TenantNameError) as refused:
        _sync(tmp_path, "NORTH", name="other.zip")

    assert str(refused.value) == (
        f"tenant 'NORTH': its warehouse file {tmp_path / 'wh' / 'NORTH.duckdb'} is the file of "
        "tenant 'north' (the file system takes both names for one file: it ignores case, say); "
        "give the tenant a name of its own (the manifest's source.systemCode, or --tenant)"
    )
    assert every_row(north) == before
    assert Layout(str(tmp_path / TEMPLATE)).tenants() == {"north": 1}

    # where the file system tells the names apart, NORTH is a tenant of its own, as in one file
    (tmp_path / "wh" / "NORTH.duckdb").unlink()
    assert _sync(tmp_path, "NORTH", name="other.zip").outcome == "applied"
    assert every_row(north) == before
    assert set(Layout(str(tmp_path / TEMPLATE)).files()) == {"north", "NORTH"}


def test_a_file_of_another_tenant_is_refused_when_the_registry_does_not_know_it(tmp_path):
    """The file's own audit.id_space says whose it is: a registry that lost the other tenant
    (north's registration undone by hand, say) cannot see the two names meet."""
    north = _one_file_two_names(tmp_path)
    before = every_row(north)
    for entry in (tmp_path / "wh" / REGISTRY).iterdir():
        entry.unlink()
    Layout(str(tmp_path / TEMPLATE)).register("NORTH")

    with pytest.raises(TenantNameError, match="is the file of tenant 'north'"):
        _sync(tmp_path, "NORTH", name="other.zip")
    assert every_row(north) == before


def test_a_file_two_registered_tenants_lead_to_is_listed_and_attached_once(tmp_path):
    """Registered before the refusal existed: runs and the catalog showed every row twice."""
    _one_file_two_names(tmp_path)
    template = str(tmp_path / TEMPLATE)
    Layout(template).register("NORTH")

    assert Layout(template).files() == {"north": tmp_path / "wh" / "north.duckdb"}
    assert runs(template).height == 1
    with open_catalog(template) as con:
        users = con.sql("select count(*) from lms.users").fetchall()[0][0]
    with duckdb.connect(str(tmp_path / "wh" / "north.duckdb"), read_only=True) as con:
        assert con.sql("select count(*) from lms.users").fetchall()[0][0] == users


def test_a_tenant_file_copied_without_the_registry_is_refused_not_numbered_afresh(tmp_path):
    """Files copied to another folder without the hidden registry: south, synced first there,
    took number 1, north's file's range, and `approve` of north's held run looked for it in
    south's file ("there is no run"); a new tenant could take a range a file holds already."""
    _sync(tmp_path / "old", "north")
    _sync(tmp_path / "old", "south")
    (tmp_path / "wh").mkdir()
    for name in ("north.duckdb", "south.duckdb"):
        shutil.copy(tmp_path / "old" / "wh" / name, tmp_path / "wh" / name)
    before = {name: every_row(tmp_path / "wh" / name) for name in ("north.duckdb", "south.duckdb")}

    with pytest.raises(LayoutError) as refused:
        _sync(tmp_path, "south")  # numbered 1 here, 2 where it was synced

    assert str(refused.value) == (
        f"tenant 'south': its warehouse file {tmp_path / 'wh' / 'south.duckdb'} holds the ids "
        "the registry it was synced with gave it, and this layout's registry "
        f"{tmp_path / 'wh' / REGISTRY} numbers the tenant otherwise (the files copied without "
        "the registry, a hidden folder?); put the registry the files were synced with beside "
        "them, so that ids and run ids stay unique across the files"
    )
    assert {name: every_row(tmp_path / "wh" / name) for name in before} == before

    shutil.rmtree(tmp_path / "wh" / REGISTRY)
    shutil.copytree(tmp_path / "old" / "wh" / REGISTRY, tmp_path / "wh" / REGISTRY)
    assert _sync(tmp_path, "south").outcome == "applied"


def test_a_tenant_file_the_platform_made_before_the_first_sync_is_synced_into(tmp_path):
    """A platform that ran before its district rostered has the tenant's file, its accounts
    made by hand in it, and no registration: the first sync registers the tenant and keeps
    them."""
    from rosterflow.warehouse.schema import connect

    (tmp_path / "wh").mkdir()
    with connect(tmp_path / "wh" / "north.duckdb") as con:
        con.execute(
            "insert into lms.users (user_id, tenant, external_id, status, origin) "
            "values (999, 'north', 'hand-made-1', 'active', 'manual')"
        )

    assert _sync(tmp_path, "north").outcome == "applied"
    assert list(Layout(str(tmp_path / TEMPLATE)).tenants()) == ["north"]
    with duckdb.connect(str(tmp_path / "wh" / "north.duckdb"), read_only=True) as con:
        assert con.execute(
            "select user_id from lms.users where external_id = 'hand-made-1'"
        ).fetchall() == [(999,)]
