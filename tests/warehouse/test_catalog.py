"""The catalog of a per-tenant layout: every tenant file attached read-only in one session, with
the schemas of a one-file warehouse over them all. Real syncs into real files; the same syncs
into a one-file warehouse give the answers the catalog must give."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.catalog import (
    CATALOG,
    CHANGES_VIEW,
    NoTenantsYet,
    catalog_sql,
    catalog_statements,
    main,
    open_catalog,
)
from rosterflow.warehouse.layout import ID_BITS, Layout
from rosterflow.warehouse.readonly import read_query
from rosterflow.warehouse.schema import LOCK_WAIT_ENV, WarehouseError, latest_version, migrate
from tests.feeds import tiny_district, with_cell

# lms tables and the id that must be unique across every tenant's file
IDS = {
    "domains": "domain_id",
    "users": "user_id",
    "courses": "course_id",
    "enrollments": "enrollment_id",
    "observers": "observer_id",
}

ENROLLED_USERS_SQL = """
-- every enrollment version with every version of its user that overlaps it, and the user's
-- school: joined on ids alone, across tenants
with

enrollments as (
    select * from history.enrollments
),

users as (
    select * from history.users
),

domains as (
    select * from lms.domains
),

final as (
    select
        enrollments.tenant,
        users.tenant as user_tenant,
        enrollments.external_id as enrollment,
        enrollments.role,
        enrollments.status,
        enrollments.valid_to is null as current_enrollment,
        users.external_id as user_external_id,
        users.given_name,
        users.valid_to is null as current_user_version,
        domains.name as school,
    from enrollments
    inner join users
        on users.user_id = enrollments.user_id
        and users.valid_from < coalesce(enrollments.valid_to, 'infinity'::timestamp)
        and coalesce(users.valid_to, 'infinity'::timestamp) > enrollments.valid_from
    left join domains on domains.domain_id = users.domain_id
)

select * from final
order by all
"""

CHANGES_SQL = """
-- what the runs of each tenant did
select runs.tenant, runs.outcome, changes.entity, changes.action, count(*) as changes
from audit.changes as changes
inner join audit.sync_runs as runs on runs.run_id = changes.run_id
group by all
order by all
"""

# holds a warehouse file open for writing, as a sync does, for argv[2] seconds
HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""

# opens a warehouse file for writing at once, without waiting, and says whether it could
WRITER = """
import sys, duckdb
try:
    duckdb.connect(sys.argv[1]).close()
    print("opened")
except duckdb.IOException as error:
    print("locked" if "lock" in str(error) else error)
"""


def _feeds() -> list[tuple[str, dict[str, pl.DataFrame]]]:
    """north and south: the same district, the same sourcedIds; a week later north's Sam
    Stone moves to South High and Kim Lee is renamed; east sends a feed that is rejected."""
    district = tiny_district()
    later = with_cell(
        with_cell(district, "users", 2, "orgSourcedIds", "s2"), "users", 3, "givenName", "Kimberly"
    )
    broken = with_cell(district, "users", 0, "role", "wizard")
    return [("north", district), ("south", district), ("north", later), ("east", broken)]


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The layout (under a folder whose name needs quoting in SQL) and a one-file warehouse,
    each given the same feeds in the same order."""
    folder = tmp_path_factory.mktemp("catalog") / "analysts' warehouse"
    template = str(folder / "wh" / "{tenant}.duckdb")
    one_file = folder / "one.duckdb"
    outcomes = []
    for number, (tenant, frames) in enumerate(_feeds(), 1):
        feed = write_feed(folder / f"feed-{number}.zip", frames)
        outcomes.append(
            [run_sync(feed, w, Settings(), tenant=tenant).outcome for w in (template, one_file)]
        )
    assert outcomes == [["applied"] * 2] * 3 + [["rejected"] * 2], outcomes
    return template, one_file


def _counts_per_file(template: str, names: list[str]) -> dict[str, int]:
    """The rows of each table or view `names`, counted in each tenant file on its own, summed."""
    totals = dict.fromkeys(names, 0)
    for path in Layout(template).files().values():
        with duckdb.connect(str(path), read_only=True) as con:
            for name in names:
                totals[name] += con.sql(f"select count(*) from {name}").fetchall()[0][0]
    return totals


@pytest.mark.slow
def test_the_catalog_sees_every_tenant_of_every_schema(synced):
    template, _ = synced
    with open_catalog(template) as con:
        views = [
            name
            for (name,) in con.sql(
                "select schema_name || '.' || view_name from duckdb_views() "
                "where database_name = $catalog and not internal order by all",
                params={"catalog": CATALOG},
            ).fetchall()
        ]
        counts = {name: con.sql(f"select count(*) from {name}").fetchall()[0][0] for name in views}
        tenants = {
            name: set(con.sql(f"select distinct tenant from {name}").pl()["tenant"])
            for name in ("lms.users", "history.users", "history.enrollments", "audit.sync_runs")
        }
    assert tenants == {
        "lms.users": {"north", "south"},
        "history.users": {"north", "south"},
        "history.enrollments": {"north", "south"},
        "audit.sync_runs": {"north", "south", "east"},  # east's run was rejected
    }
    # every table and view of a tenant file, in the schemas a one-file warehouse has
    assert {"lms.users", "history.users", "audit.changes", "oneroster.snapshots"} <= set(views)
    assert {name.split(".")[0] for name in views} == {"lms", "history", "audit", "oneroster"}
    assert counts == _counts_per_file(template, views)


def test_ids_are_unique_across_tenants_and_name_the_tenant(synced):
    template, _ = synced
    numbers = Layout(template).tenants()
    for table, id_column in IDS.items():
        ids = read_query(template, f"select tenant, {id_column} as id from lms.{table}")
        assert ids.height > 0, table
        assert ids["id"].n_unique() == ids.height, table
        tenant_numbers = ids.with_columns(number=pl.col("id") // (1 << ID_BITS))
        assert all(
            numbers[t] == n for t, n in tenant_numbers.select("tenant", "number").iter_rows()
        ), table
    runs = read_query(template, "select tenant, run_id from audit.sync_runs")
    assert runs["run_id"].n_unique() == runs.height == 4
    assert all(run_id >> ID_BITS == numbers[t] for t, run_id in runs.iter_rows())


def test_a_history_join_on_ids_gives_what_a_one_file_warehouse_gives(synced):
    template, one_file = synced
    across = read_query(template, ENROLLED_USERS_SQL)
    assert_frame_equal(across, read_query(one_file, ENROLLED_USERS_SQL))
    # a join on ids never pairs rows of two tenants, though both have the same sourcedIds
    assert (across["tenant"] == across["user_tenant"]).all()
    moved = across.filter(pl.col("tenant") == "north", pl.col("user_external_id") == "or--u-s1")
    assert set(moved["school"]) == {"North High", "South High"}
    renamed = across.filter(
        pl.col("user_external_id") == "or--u-s2", pl.col("current_user_version")
    )
    assert dict(renamed.select("tenant", "given_name").unique().iter_rows()) == {
        "north": "Kimberly",
        "south": "Kim",
    }
    assert_frame_equal(read_query(template, CHANGES_SQL), read_query(one_file, CHANGES_SQL))


def test_the_catalogs_audit_changes_are_the_files_own_row_for_row(synced):
    """The catalog's audit.changes is its own view over the catalog's tables (the union of
    the files' views took time that grew with the square of the tenants): its rows are those
    of each file's audit.changes, every column, every entity a sync creates."""
    template, _ = synced
    own = []
    for path in Layout(template).files().values():
        with duckdb.connect(str(path), read_only=True) as con:
            own.append(con.sql("select * from audit.changes").pl())
    expected = pl.concat(own).sort(pl.all())
    assert set(expected.get_column("entity")) >= {"domain", "user", "course", "enrollment"}
    assert_frame_equal(read_query(template, "select * from audit.changes").sort(pl.all()), expected)


def test_the_catalogs_audit_changes_read_in_one_file_are_its_own(school_changes_warehouse):
    """The same query over one file's own tables, a history of moves, returns, an adoption, a
    deleted school and section and an undone run: the rows of the file's audit.changes."""
    query = CHANGES_VIEW.split(" as\n", 1)[1]
    with duckdb.connect(str(school_changes_warehouse), read_only=True) as con:
        own = con.sql("select * from audit.changes").pl().sort(pl.all())
        assert_frame_equal(con.sql(query).pl().sort(pl.all()), own)
    assert own.height > 0 and own.get_column("action").n_unique() > 3


def test_the_script_gives_a_plain_session_the_same_catalog(synced, tmp_path):
    template, _ = synced
    script = catalog_sql(template)
    with duckdb.connect() as con:
        con.execute(script)
        assert_frame_equal(
            con.sql(ENROLLED_USERS_SQL).pl(), read_query(template, ENROLLED_USERS_SQL)
        )
        con.execute(script)  # read again in the same session (`.read catalog.sql`)
        assert_frame_equal(con.sql(CHANGES_SQL).pl(), read_query(template, CHANGES_SQL))
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("delete from tenant_1.lms.users")
    # a session opened on a file of its own gets the views without the file keeping them
    mine = tmp_path / "mine.duckdb"
    with duckdb.connect(str(mine)) as con:
        con.execute(script)
        assert con.sql("select count(*) from audit.sync_runs").fetchall() == [(4,)]
    with duckdb.connect(str(mine)) as con:
        assert con.sql("select count(*) from duckdb_views() where not internal").fetchall() == [
            (0,)
        ]


def test_the_statements_attach_every_file_read_only_by_absolute_path(synced):
    template, _ = synced
    statements = catalog_statements(template)
    attached = [s for s in statements if s.startswith("attach '")]
    numbers = Layout(template).tenants()
    assert len(attached) == 3
    for tenant, path in Layout(template).files().items():
        quoted = str(path.resolve()).replace("'", "''")
        assert f"attach '{quoted}' as tenant_{numbers[tenant]} (read_only)" in attached


def test_the_script_from_the_command_line(synced, capsys):
    template, _ = synced
    assert main([template]) == 0
    assert capsys.readouterr().out == catalog_sql(template)
    assert main([]) == 2


def _start(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, text=True
    )


def _north(template: str) -> Path:
    return Layout(template).files()["north"]


@contextlib.contextmanager
def _north_held(template: str, seconds: float) -> Iterator[None]:
    """North's file held by another process, writing, for `seconds`."""
    holder = _start(HOLDER, _north(template), seconds)
    try:
        assert holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.wait(30)
    assert holder.returncode == 0


def test_a_query_waits_while_a_sync_holds_a_tenant_file(synced, monkeypatch):
    template, _ = synced
    monkeypatch.setenv(LOCK_WAIT_ENV, "20")
    with _north_held(template, 1.0):
        started = time.monotonic()
        runs = read_query(
            template,
            "select tenant, count(*) as runs from audit.sync_runs group by all order by all",
        )
        waited = time.monotonic() - started
    assert waited > 0.5
    assert dict(runs.iter_rows()) == {"east": 1, "north": 2, "south": 1}


def test_a_file_held_longer_than_the_wait_is_named(synced, monkeypatch):
    template, _ = synced
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    with (
        _north_held(template, 1.0),
        pytest.raises(WarehouseError, match="lock") as refused,
    ):
        read_query(template, "select 1")
    assert str(_north(template).resolve()) in str(refused.value)


def test_a_sync_can_open_a_file_once_the_query_is_over(synced):
    """The catalog holds every tenant file while it is open; read_query closes it."""
    template, _ = synced

    def write_now() -> str:
        writer = _start(WRITER, _north(template))
        out, _ = writer.communicate(timeout=30)
        return out.strip()

    with open_catalog(template):
        assert write_now() == "locked"
    assert read_query(template, "select count(*) as n from lms.users")["n"].item() == 10
    assert write_now() == "opened"


def _tenant_file(template: str, tenant: str, version: int) -> Path:
    """A registered tenant's file at schema `version`: migrated as far as a rosterflow of that
    version goes, or marked as migrated further by a newer one."""
    layout = Layout(template)
    path = layout.path_for(tenant)
    layout.register(tenant)
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        migrate(con, target=min(version, latest_version()))
        con.execute(
            "insert into audit.schema_migrations select range, 'future', now() from range(?, ?)",
            [latest_version() + 1, version + 1],
        )
    return path


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            latest_version() - 1,
            f"schema version {latest_version() - 1}, expected {latest_version()}; run a sync",
        ),
        (latest_version() + 1, "written by a newer rosterflow"),
    ],
)
def test_a_file_of_another_schema_version_is_refused_by_name(tmp_path, version, message):
    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    _tenant_file(template, "current", latest_version())
    other = _tenant_file(template, "other", version)
    with pytest.raises(WarehouseError, match=message) as refused:
        open_catalog(template)
    assert str(other.resolve()) in str(refused.value)
    with pytest.raises(WarehouseError, match=message):
        read_query(template, "select 1")


def test_a_layout_nobody_synced_into_yet(tmp_path):
    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    with pytest.raises(NoTenantsYet, match="no tenant has synced under this layout yet"):
        open_catalog(template)
    Layout(template).register("north")  # registered, but its first sync never made the file
    with pytest.raises(WarehouseError, match="no tenant has synced"):
        read_query(template, "select 1")


def test_a_tenant_file_that_is_no_warehouse_is_refused_by_name(tmp_path):
    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    _tenant_file(template, "current", latest_version())
    layout = Layout(template)
    layout.register("other")
    foreign = layout.path_for("other")
    with duckdb.connect(str(foreign)) as con:
        con.execute("create table t (a integer)")
    with pytest.raises(WarehouseError, match="not a rosterflow warehouse") as refused:
        open_catalog(template)
    assert str(foreign.resolve()) in str(refused.value)


# the catalog of the layout argv[1] read in a process whose limit of open files is argv[2]
# (soft) and argv[3] (hard)
UNDER_A_LIMIT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[2]), int(sys.argv[3])))
from rosterflow.warehouse.readonly import read_query
from rosterflow.warehouse.schema import WarehouseError
try:
    print(read_query(sys.argv[1], "select count(*) from audit.id_space").item())
except WarehouseError as error:
    print(error)
"""


@pytest.mark.slow
def test_a_layout_of_more_tenants_than_the_open_files_allowed_is_read_or_the_limit_named(
    tmp_path,
):
    from rosterflow.warehouse.layout import open_warehouse

    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    for number in range(40):
        with open_warehouse(template, tenant=f"district-{number}"):
            pass

    def read_under(soft: int, hard: int) -> str:
        return subprocess.run(
            [sys.executable, "-c", UNDER_A_LIMIT, template, str(soft), str(hard)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    # a soft limit below what 40 files take is raised as far as the hard one allows
    assert read_under(32, 4096) == "40"
    refused = read_under(32, 32)
    assert refused.startswith(
        "cannot open the 40 tenant files of the layout at once: this process may have 32 files "
        "open (ulimit -n), and stopped at "
    ), refused
    assert refused.endswith(
        "raise the limit above the number of tenants, e.g. `ulimit -n 4096` in the shell that runs rosterflow"
    )
