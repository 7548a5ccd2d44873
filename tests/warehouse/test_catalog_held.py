"""`rosterflow catalog` over a per-tenant layout while a tenant's file is held by another process
(that tenant's nightly sync): the script is written from the files it can read, still attaches
the held one, names it in a note, and names each file's tenant beside its ATTACH (a file's
name percent-encodes the tenant's). Real syncs into real files, a second process holding a
file open for writing, the real command."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.warehouse.catalog import catalog_script, catalog_sql, main
from rosterflow.warehouse.layout import Layout
from rosterflow.warehouse.schema import LOCK_WAIT_ENV, latest_version, migrate
from tests.holding import MONTREAL, TENANTS, held, synced_layout

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()

USERS_PER_TENANT = 5  # tiny_district's users

USERS_PER_TENANT_SQL = "select tenant, count(*) as users from lms.users group by all order by all"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three tenants synced into a layout, one run each."""
    return synced_layout(tmp_path_factory.mktemp("catalog-held"))


def _file_of(template: str, tenant: str) -> Path:
    return Layout(template).path_for(tenant).resolve()


def _attach_lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("attach '")]


def test_the_catalog_is_written_while_a_tenant_file_is_held(layout, monkeypatch):
    """`rosterflow catalog` exited 2 with north's lock, though it only prints SQL: while one
    district synced, no analyst could get the catalog of the others."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    north = _file_of(layout, "north")

    with held(north):
        printed = runner.invoke(app, ["catalog", "--warehouse", layout])

    assert printed.exit_code == 0, printed.output
    script = printed.stdout
    # the held file is attached all the same, and named in a note at the top
    attached = _attach_lines(script)
    assert len(attached) == len(TENANTS)
    assert any(f"attach '{north}' as tenant_1 (read_only);" in line for line in attached)
    (note,) = [line for line in script.splitlines() if line.startswith("-- note:")]
    assert note.startswith(f"-- note: tenant 'north': {north}: ")
    assert "locked by another process" in note
    # and on the terminal, where stdout goes to catalog.sql
    assert f"rosterflow: note: tenant 'north': {north}: " in printed.stderr
    # once the sync is done, the script gives every tenant, north's rows included
    with duckdb.connect() as con:
        con.execute(script)
        users = con.sql(USERS_PER_TENANT_SQL).fetchall()
    assert users == [(tenant, USERS_PER_TENANT) for tenant in sorted(TENANTS)]


def test_a_script_run_while_the_file_is_still_held_fails_on_its_attach(layout, monkeypatch):
    """The note's word: the held file's ATTACH fails while it is held; nothing answers without
    its rows."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    north = _file_of(layout, "north")
    with held(north):
        script = catalog_sql(layout)
        with duckdb.connect() as con, pytest.raises(duckdb.IOException, match="lock"):
            con.execute(script)


def test_the_module_prints_the_held_file_on_stderr(layout, monkeypatch, capsys):
    """`python -m rosterflow.warehouse.catalog ... > catalog.sql`: the note is seen on the
    terminal too, not only in the file written."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    montreal = _file_of(layout, MONTREAL)
    with held(montreal):
        assert main([layout]) == 0
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()
    assert line.startswith(f"note: tenant {MONTREAL!r}: {montreal}: ")
    assert f"tenant_3 (read_only);  -- tenant '{MONTREAL}'" in printed.out


def test_every_file_held_is_refused_naming_each(layout, monkeypatch):
    """With no file to read the tables from there is no catalog to write: exit 2, naming every
    held file with its tenant."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    files = [_file_of(layout, tenant) for tenant in TENANTS]
    with held(*files):
        printed = runner.invoke(app, ["catalog", "--warehouse", layout])
    assert printed.exit_code == 2, printed.output
    assert printed.stdout == ""
    for tenant, path in zip(TENANTS, files, strict=True):
        assert f"tenant {tenant!r}: {path}: " in printed.stderr


def test_each_attach_names_its_tenant(layout):
    """A file's name percent-encodes its tenant's (`Montr%C3%A9al%2FEst.duckdb`): the comment
    beside each ATTACH says whose it is, as the registry knows it."""
    attached = _attach_lines(catalog_sql(layout))
    numbers = Layout(layout).tenants()
    assert sorted(attached) == sorted(
        f"attach '{_file_of(layout, tenant)}' as tenant_{numbers[tenant]} (read_only);"
        f"  -- tenant '{tenant}'"
        for tenant in TENANTS
    )
    assert catalog_script(layout).held == ()


def _migrated_file(template: str, tenant: str) -> Path:
    """A registered tenant's file, made as a sync would (the schema, no runs)."""
    layout = Layout(template)
    layout.register(tenant)
    path = layout.path_for(tenant)
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        migrate(con, target=latest_version())
    return path


def test_a_tenant_named_with_a_line_break_stays_inside_its_comment(tmp_path):
    """The comment beside an ATTACH is the tenant's name: a line break in it (the registry keeps
    any character) ended the comment, and the rest of the name ran as SQL in the analyst's
    session."""
    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    _migrated_file(template, "north")
    _migrated_file(template, "o'hara\ncreate table pwned (a int);\r--")

    script = catalog_sql(template)

    assert "-- tenant 'o''hara\\ncreate table pwned (a int);\\r--'" in script
    with duckdb.connect() as con:
        con.execute(script)
        made = con.sql("select table_name from duckdb_tables() where table_name = 'pwned'")
        assert made.fetchall() == []
