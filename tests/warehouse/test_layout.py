"""A warehouse file per tenant (`--warehouse 'wh/{tenant}.duckdb'`): each tenant syncs into
its own file, ids stay unique across the files, and a run id names its tenant's file."""

from __future__ import annotations

import multiprocessing
import os
import re
from pathlib import Path

import pytest

from rosterflow.flows.operations import runs, undo_run
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.feed import FeedError
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.layout import (
    BESIDE_FILE,
    ID_BITS,
    REGISTRY,
    Layout,
    LayoutError,
    TenantNameError,
    TenantSpellingError,
    is_layout,
    tenant_file_name,
    warehouse_of_run,
)
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district, with_cell

TEMPLATE = "wh/{tenant}.duckdb"


def _sync(tmp_path: Path, tenant: str, frames=None, name: str = "feed.zip"):
    feed = write_feed(tmp_path / f"{tenant}-{name}", frames or tiny_district())
    return run_sync(feed, str(tmp_path / TEMPLATE), Settings(), tenant=tenant)


def test_each_tenant_syncs_into_its_own_file_with_ids_of_its_own(tmp_path):
    first = _sync(tmp_path, "north")
    second = _sync(tmp_path, "south")  # the same sourcedIds, another district

    layout = Layout(str(tmp_path / TEMPLATE))
    assert layout.tenants() == {"north": 1, "south": 2}
    assert set(layout.files()) == {"north", "south"}
    assert (first.run_id >> ID_BITS, second.run_id >> ID_BITS) == (1, 2)
    ids = {}
    for tenant, path in layout.files().items():
        with connect(path, read_only=True) as con:
            assert con.sql("select distinct tenant from lms.users").fetchall() == [(tenant,)]
            ids[tenant] = {row[0] for row in con.sql("select user_id from lms.users").fetchall()}
    assert ids["north"] and ids["south"]
    assert not ids["north"] & ids["south"]
    assert all(i >> ID_BITS == 1 for i in ids["north"])


def test_a_second_run_of_a_tenant_goes_on_in_its_file(tmp_path):
    _sync(tmp_path, "north")
    changed = with_cell(tiny_district(), "users", 0, "givenName", "Renamed")
    again = _sync(tmp_path, "north", changed, "feed-2.zip")
    assert again.outcome == "applied"
    assert again.run_id == (1 << ID_BITS) + 2
    assert Layout(str(tmp_path / TEMPLATE)).tenants() == {"north": 1}


def test_runs_lists_every_tenant_and_operations_find_a_run_by_its_id(tmp_path):
    _sync(tmp_path, "north")
    south = _sync(tmp_path, "south")
    template = str(tmp_path / TEMPLATE)

    listed = runs(template)
    assert sorted(listed["tenant"].to_list()) == ["north", "south"]
    assert runs(template, "south")["run_id"].to_list() == [south.run_id]
    assert warehouse_of_run(template, south.run_id).name == "south.duckdb"

    undone = undo_run(template, south.run_id)
    assert undone.outcome == "applied" and undone.tenant == "south"
    with connect(tmp_path / "wh" / "south.duckdb", read_only=True) as con:
        assert con.sql("select count(*) from lms.users").fetchall() == [(0,)]
    with connect(tmp_path / "wh" / "north.duckdb", read_only=True) as con:
        assert con.sql("select count(*) from lms.users").fetchall()[0][0] > 0


def test_no_runs_yet_and_an_unknown_run(tmp_path):
    template = str(tmp_path / TEMPLATE)
    assert runs(template).height == 0
    from rosterflow.warehouse.operations import OperationRefused

    with pytest.raises(OperationRefused, match="no run 42"):
        undo_run(template, 42)


@pytest.mark.parametrize(
    ("tenant", "name"),
    [("north", "north"), ("A B/../c", "A B%2F..%2Fc"), ("..", "%2E."), ("ä", "%C3%A4")],
)
def test_tenant_file_names_are_one_safe_component(tenant, name):
    assert tenant_file_name(tenant) == name
    assert "/" not in tenant_file_name(tenant)


def test_a_template_needs_the_tenant_field():
    with pytest.raises(LayoutError, match=re.escape("{tenant}")):
        Layout("wh/all.duckdb")


def _register(registry_template: str, tenant: str, results) -> None:
    results.put((tenant, Layout(registry_template).register(tenant)))


@pytest.mark.slow
def test_tenants_registered_at_once_get_distinct_numbers(tmp_path):
    template = str(tmp_path / TEMPLATE)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    tenants = [f"district-{i}" for i in range(8)] + ["district-0"]  # one registers twice
    workers = [context.Process(target=_register, args=(template, t, results)) for t in tenants]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    got = [results.get(timeout=5) for _ in tenants]
    numbers = {}
    for tenant, number in got:
        numbers.setdefault(tenant, set()).add(number)
    registered = Layout(template).tenants()
    # every process got the number the registry keeps for its tenant, and no two tenants share
    assert all(found == {registered[t]} for t, found in numbers.items())
    assert len(set(registered.values())) == len(registered) == 8
    # and each tenant is in the registry once: one that registered twice removed its own
    entries = [p.name for p in (tmp_path / "wh" / REGISTRY).iterdir() if p.name.isdigit()]
    assert sorted(entries) == [f"{n:08d}" for n in sorted(registered.values())]


def test_a_tenant_registered_by_another_process_a_moment_before_keeps_one_number(
    tmp_path, monkeypatch
):
    """Both processes saw no number for the tenant; the other linked 1 first, this one 2: it
    goes by 1, as the other does, and takes its own entry out of the registry."""
    layout = Layout(str(tmp_path / TEMPLATE))
    layout.make_registry()
    (layout.registry / f"{1:08d}").write_text("north", encoding="utf-8")
    looks = iter([{}])  # its first look is from before the other's link
    real = Layout.tenants
    monkeypatch.setattr(Layout, "tenants", lambda self: next(looks, None) or real(self))

    assert layout.register("north") == 1

    assert sorted(p.name for p in layout.registry.iterdir()) == [f"{1:08d}"]
    assert layout.register("south") == 2


def test_a_tenant_with_a_slash_or_a_nul_syncs_into_one_file_of_the_layout(tmp_path):
    feed = write_feed(tmp_path / "feed.zip", tiny_district())
    for tenant in ("north/../south", "north\x00"):
        synced = run_sync(feed, str(tmp_path / TEMPLATE), Settings(), tenant=tenant)
        assert synced.outcome == "applied"
    assert sorted(p.name for p in (tmp_path / "wh").glob("*.duckdb")) == [
        "north%00.duckdb",
        "north%2F..%2Fsouth.duckdb",
    ]
    assert set(Layout(str(tmp_path / TEMPLATE)).files()) == {"north/../south", "north\x00"}


def test_a_tenant_too_long_for_a_file_name_is_refused_before_anything_is_made(tmp_path):
    """The longest name the file system takes, less room for the seal's draft beside the file
    (`.<file>.seal-XXXXXXXX`): a tenant that fits syncs, its seal written; one byte more is
    refused, naming the tenant and the file, before any file is made or tenant registered."""
    (tmp_path / "wh").mkdir()
    fits = "y" * (os.pathconf(tmp_path / "wh", "PC_NAME_MAX") - BESIDE_FILE - len(".duckdb"))
    template = str(tmp_path / TEMPLATE)

    assert _sync(tmp_path, fits, name="fits.zip").outcome == "applied"
    assert (tmp_path / "wh" / f"{fits}.duckdb.seal").exists()
    with pytest.raises(TenantNameError, match=r"tenant 'y{40}'… \(\d+ characters\): its ") as e:
        _sync(tmp_path, fits + "y", name="long.zip")
    assert f"warehouse file {tmp_path / 'wh' / fits}y.duckdb cannot be made" in str(e.value)
    assert isinstance(e.value, FeedError)  # the feed's tenant: the inbox rejects its zip
    assert Layout(template).tenants() == {fits: 1}
    assert sorted(p.name for p in (tmp_path / "wh").iterdir()) == sorted(
        [".rosterflow-tenants", f"{fits}.duckdb", f"{fits}.duckdb.seal"]
    )


@pytest.mark.parametrize("field", ["{Tenant}", "{TENANT}", "{ tenant }"])
def test_a_tenant_field_in_other_letters_is_refused_not_taken_as_one_file(tmp_path, field):
    """`wh/{Tenant}.duckdb` named one file, literally, that every tenant synced into."""
    template = str(tmp_path / f"wh/{field}.duckdb")
    with pytest.raises(LayoutError) as refused:
        is_layout(template)
    assert str(refused.value) == (
        f"--warehouse {template}: names the field {field}; a per-tenant layout names {{tenant}}, "
        "in lowercase"
    )
    assert not is_layout(str(tmp_path / "{backup}/w.duckdb"))  # braces of another meaning


COMPOSED, DECOMPOSED = "Montr\u00e9al", "Montre\u0301al"  # one text, two Unicode forms


def _tenants_and_files(folder: Path) -> tuple[list[str], list[str]]:
    layout = Layout(str(folder / TEMPLATE))
    return list(layout.tenants()), sorted(p.name for p in (folder / "wh").glob("*.duckdb"))


@pytest.mark.parametrize(("first", "second"), [(COMPOSED, DECOMPOSED), (DECOMPOSED, COMPOSED)])
def test_a_tenant_in_another_unicode_form_is_refused_not_made_a_second_file(
    tmp_path, first, second
):
    """`Montréal` typed with a composed and a decomposed é became two tenants and two files,
    each with a copy of every record."""
    applied = _sync(tmp_path, first)
    before = _tenants_and_files(tmp_path)
    with pytest.raises(TenantSpellingError) as refused:
        _sync(tmp_path, second, name="again.zip")
    assert str(refused.value) == (
        f"tenant {second!r} is tenant {first!r} of the layout {tmp_path / TEMPLATE} in another "
        f"Unicode form (written {second!a}, and known as {first!a}): it is refused rather than "
        "synced as a second tenant with a copy of every record; give the tenant as it is known "
        "(the manifest's source.systemCode, or --tenant)"
    )
    assert isinstance(refused.value, FeedError)  # exit 2; the inbox files the zip
    assert (
        _tenants_and_files(tmp_path) == before == ([first], [tenant_file_name(first) + ".duckdb"])
    )
    again = _sync(tmp_path, first, name="again.zip")  # the tenant as it is known goes on
    assert again.outcome == "applied" and again.run_id >> ID_BITS == applied.run_id >> ID_BITS


def test_tenants_of_both_unicode_forms_registered_before_keep_their_files(tmp_path):
    """A layout where both forms were synced before the check existed: each goes on in its
    own file, rather than neither being synced again."""
    layout = Layout(str(tmp_path / TEMPLATE))
    assert (layout.register(COMPOSED), layout.register(DECOMPOSED)) == (1, 2)
    for tenant in (COMPOSED, DECOMPOSED):
        assert _sync(tmp_path, tenant).outcome == "applied"
    assert len(_tenants_and_files(tmp_path)[1]) == 2


def test_a_tenant_in_another_unicode_form_is_refused_in_one_file_too(tmp_path):
    """In one file, the second form synced every user, course and enrollment again, under a
    second tenant that reads the same."""
    warehouse = tmp_path / "one.duckdb"
    feed = write_feed(tmp_path / "feed.zip", tiny_district())
    assert run_sync(feed, str(warehouse), Settings(), tenant=COMPOSED).outcome == "applied"
    with pytest.raises(
        TenantSpellingError, match=rf"of the warehouse {re.escape(str(warehouse))} "
    ):
        run_sync(feed, str(warehouse), Settings(), tenant=DECOMPOSED)
    with connect(warehouse, read_only=True) as con:
        assert con.sql("select distinct tenant from audit.sync_runs").fetchall() == [(COMPOSED,)]
        assert con.sql("select distinct tenant from lms.users").fetchall() == [(COMPOSED,)]
    assert run_sync(feed, str(warehouse), Settings(), tenant=COMPOSED).outcome == "applied"
