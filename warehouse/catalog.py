"""Every tenant of a per-tenant layout (`--warehouse 'wh/{tenant}.duckdb'`) in one DuckDB session.

The catalog ATTACHes each tenant's file READ_ONLY (as `tenant_<n>`, n its number in the
layout's registry) and gives the schemas a one-file warehouse has, `lms`, `audit`, `history`
and `oneroster`, one view per table and view of a tenant file: the union of that table over
every file. Ids and run ids of a layout are disjoint across its files (`warehouse.layout`), so
a join on ids across tenants means what it means in a one-file warehouse.

The views live in an in-memory database of their own (`rosterflow_catalog`, made the session's
default), so that running the statements in a session opened on some file never writes views
into that file, views that would name attachments gone once the session ends.

An attached file stays locked against a sync for as long as the session is open: analysts'
tools open the catalog for one query and close it again (`warehouse.readonly.read_query`).
A file held by another process (its tenant's sync) is waited for, the held files side by side;
held past the wait, it stops a query (`TenantFileHeld`: no answer leaves a tenant's rows out),
while the catalog's script attaches it all the same and names it (`catalog_script`).
"""

from __future__ import annotations

import resource
import sys
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import duckdb

from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.printable import one_line
from rosterflow.warehouse.layout import Layout, open_files_needed, while_each_locked
from rosterflow.warehouse.schema import UTC_SESSION, WarehouseError, version_refusal

CATALOG = "rosterflow_catalog"
SCHEMAS = ("lms", "audit", "history", "oneroster")


class NoTenantsYet(WarehouseError):
    """The layout has no tenant file: nothing has been synced under it."""


def _string(text: str) -> str:
    # ATTACH takes no parameters, and the statements must run as a script in the duckdb CLI
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_versions(con: duckdb.DuckDBPyConnection, files: dict[str, Path]) -> None:
    """Refuse a file whose schema is not this rosterflow's: the views are made from the first
    file's tables and would misread, or fail on, a file migrated to another version."""
    # a file without audit.schema_migrations has version 0; it cannot be named in the query
    with_migrations = {
        row[0]
        for row in con.execute(
            "select database_name from duckdb_tables() "
            "where schema_name = 'audit' and table_name = 'schema_migrations'"
        ).fetchall()
    }
    versions = dict.fromkeys(files, 0)
    present = [alias for alias in files if alias in with_migrations]
    if present:
        union = " union all ".join(
            f"select '{alias}', coalesce(max(version), 0) from {alias}.audit.schema_migrations"
            for alias in present
        )
        versions |= dict(con.execute(union).fetchall())
    for alias, version in versions.items():
        refusal = version_refusal(files[alias], version, "run a sync of its tenant to migrate it")
        if refusal is not None:
            raise WarehouseError(refusal)


def _relations(con: duckdb.DuckDBPyConnection, alias: str) -> list[tuple[str, str]]:
    """(schema, name) of every table and view of the attached file `alias`."""
    return con.execute(
        """
        select schema_name, table_name as name
        from duckdb_tables()
        where database_name = $alias and not internal and not temporary
            and list_contains($schemas, schema_name)
        union all
        select schema_name, view_name as name
        from duckdb_views()
        where database_name = $alias and not internal and not temporary
            and list_contains($schemas, schema_name)
        order by all
        """,
        {"alias": alias, "schemas": list(SCHEMAS)},
    ).fetchall()


class TenantFileHeld(WarehouseError):
    """A tenant's file is held by another process (its tenant's sync, say) past the lock wait:
    the catalog cannot read it now. A query is not answered without the tenant's rows; the
    catalog's script attaches the file all the same (`catalog_script`)."""

    def __init__(self, message: str, tenant: str, path: Path) -> None:
        super().__init__(message)
        self.tenant = tenant
        self.path = path

    def __reduce__(self):
        return type(self), (str(self), self.tenant, self.path)


@dataclass(frozen=True)
class _Statement:
    """One statement of the catalog, and a comment for the script beside it."""

    sql: str
    comment: str = ""


@dataclass(frozen=True)
class _Catalog:
    statements: list[_Statement]
    held: list[TenantFileHeld]  # the tenant files attached, but not read


def _build(con: duckdb.DuckDBPyConnection, template: str, *, held_attached: bool) -> _Catalog:
    """Run the catalog's statements in `con`; return them, in order. Files another process
    holds are waited for side by side (`while_each_locked`); one still held is a
    `TenantFileHeld`, or, with `held_attached`, is attached by the statements all the same
    (not in `con`, which cannot) and the views are made from the files read: the statements
    that name a held file are returned, not run."""
    layout = Layout(template)
    numbers = layout.tenants()
    tenant_files = layout.files()
    tenants = {f"tenant_{numbers[tenant]}": tenant for tenant in tenant_files}
    files = {f"tenant_{numbers[tenant]}": path.resolve() for tenant, path in tenant_files.items()}
    if not files:
        raise NoTenantsYet(f"{template}: no tenant has synced under this layout yet")
    _enough_open_files(len(files))
    run: list[_Statement] = []

    def execute(statement: str) -> None:
        con.execute(statement)
        run.append(_Statement(statement))

    execute(f"attach if not exists ':memory:' as {CATALOG}")
    execute(f"use {CATALOG}")
    attaches = {}
    for alias, path in files.items():
        # detach first: the script read again in one session attaches the files afresh
        execute(f"detach database if exists {alias}")
        attaches[alias] = f"attach {_string(str(path))} as {alias} (read_only)"
    _, locked = while_each_locked(
        {alias: (path, partial(con.execute, attaches[alias])) for alias, path in files.items()}
    )
    held = [
        TenantFileHeld(f"tenant {tenants[alias]!r}: {line}", tenants[alias], files[alias])
        for alias, line in locked.items()
    ]
    if held and not held_attached:
        raise held[0]
    if len(held) == len(files):
        raise WarehouseError(
            "every tenant file is held by another process, and the catalog is made from "
            "their tables: " + "; ".join(str(error) for error in held)
        )
    run.extend(_Statement(attaches[alias], f"tenant {_string(tenants[alias])}") for alias in files)
    readable = {alias: path for alias, path in files.items() if alias not in locked}
    _check_versions(con, readable)
    relations = _relations(con, next(iter(readable)))
    for schema in dict.fromkeys(schema for schema, _ in relations):
        execute(f"create schema if not exists {_identifier(schema)}")
    views = []
    for schema, name in relations:
        qualified = f"{_identifier(schema)}.{_identifier(name)}"
        # by name, not position: the files of one schema version have the same columns, but
        # in whatever order their migrations left them
        union = "\nunion all by name\n".join(
            f"select * from {alias}.{qualified}" for alias in files
        )
        views.append(f"create or replace view {qualified} as\n{union}")
    if ("audit", "changes") in relations:  # (after the views it reads: a view binds at once)
        views.append(CHANGES_VIEW)
    for view in views:
        if locked:  # (a view naming a file not attached here cannot be made here)
            run.append(_Statement(view))
        else:
            execute(view)
    return _Catalog(run, held)


# The catalog's audit.changes: each tenant file's view over the catalog's unions, not the union
# of the files' views. A file's view joins audit.created with the eight history views, each
# a join of its own, and DuckDB schedules the pipelines of a union of them all in time that
# grows with their square (`PipelineSchedule::DependsOn`): a minute at a hundred tenants, no
# answer at two hundred, for the query.md recipe and the sync_audit notebook alike. One join
# finds every tenant's creates (a run's ids are its own file's, and run ids are unique across
# a layout's files: the rows are those of the files' views, which a test holds them to).
_UNION = "\n    union all\n    "
CHANGES_VIEW = f"""create or replace view audit.changes as
with current_versions as (
    {
    _UNION.join(
        f"select '{entity.name}' as entity, {entity.id} as entity_id, external_id, "
        f"updated_run_id as opened_run_id from lms.{entity.table} where origin = 'sync'"
        for entity in ENTITIES.values()
    )
}
),
versions as (
    {
    _UNION.join(
        f"select '{entity.name}' as entity, {entity.id} as entity_id, external_id, "
        f"opened_run_id from history.{entity.table}_closed"
        for entity in ENTITIES.values()
    )
}
    union all
    -- the current versions history.* shows: those of a run the tenant recorded
    select * from current_versions
    where opened_run_id in (select run_id from audit.sync_runs)
),
creates as (
    select
        created.run_id,
        created.entity,
        versions.external_id,
        'create' as action,
        null::varchar as detail,
        versions.entity_id
    from audit.created as created
    inner join versions
        on versions.entity = created.entity
        and versions.opened_run_id = created.run_id
        and versions.entity_id between created.first_id and created.last_id
),
final as (
    select run_id, entity, external_id, action, detail, entity_id from audit.changes_stored
    union all
    select * from creates
)
select * from final"""


def _enough_open_files(files: int) -> None:
    """Raise this process's limit of open files (`ulimit -n`, the soft limit) to what holding
    every tenant file open takes, a file and its WAL each, as far as the hard limit allows: a
    layout of 250 tenants outgrew the 256 a macOS shell allows. Beyond the hard limit, the
    attach names the limit (`layout.while_each_locked`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = open_files_needed(files)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    with suppress(ValueError, OSError):  # (a limit the system will not give: the attach says so)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def catalog_statements(template: str) -> list[str]:
    """The statements that give any DuckDB session every tenant file of the layout `template`:
    ATTACH each READ_ONLY, and a view per table over them all (see the module's docstring).
    The files are read now, for their tables and schema versions; a file another process
    holds is attached all the same (`catalog_script`)."""
    con = duckdb.connect()
    try:
        return [statement.sql for statement in _build(con, template, held_attached=True).statements]
    finally:
        con.close()


@dataclass(frozen=True)
class CatalogScript:
    """The catalog as a script (`catalog_script`), and a line per tenant file it attaches
    without having read it (held by another process), for a person to see beside it."""

    sql: str
    held: tuple[str, ...] = ()


def catalog_script(template: str) -> CatalogScript:
    """The statements as a script, for `duckdb -init catalog.sql` or `.read catalog.sql`, each
    ATTACH with the tenant it holds in a comment (a file's name percent-encodes the tenant's).
    It names the tenant files of the moment: write it again after a new tenant's first sync.

    A tenant file another process holds past the lock wait (the tenant's nightly sync) is
    attached all the same, as it will be readable once that process is done, and named in
    the script's note and in `held`: the views are made from the tables of the files read,
    and the held file's schema version is not checked. Only when every file is held is the
    script refused (a WarehouseError): there are no tables to make the views from."""
    con = duckdb.connect()
    try:
        built = _build(con, template, held_attached=True)
    finally:
        con.close()
    held = tuple(
        f"{error}; the catalog attaches it all the same, unread (its schema version not "
        "checked): its ATTACH fails while that process holds it"
        for error in built.held
    )
    # a `--` comment is one line: a line break in a tenant's name (any character) would end
    # it and make the rest of the name a statement of the script (`one_line` escapes it)
    header = [f"-- rosterflow catalog of every tenant of {one_line(template)}, attached read-only"]
    header += [f"-- note: {one_line(line)}" for line in held]
    lines = [
        f"{statement.sql};" + (f"  -- {one_line(statement.comment)}" if statement.comment else "")
        for statement in built.statements
    ]
    return CatalogScript("\n".join([*header, *lines]) + "\n", held)


def catalog_sql(template: str) -> str:
    """The statements as a script (`catalog_script`)."""
    return catalog_script(template).sql


def open_catalog(template: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session holding the catalog of the layout `template`. It keeps
    every tenant file from syncs until it is closed. A file another process holds past the
    lock wait is a `TenantFileHeld` naming its tenant and file: what is read through the
    catalog is never answered without a tenant's rows. Its time zone is UTC, as the files'
    sessions' is (`schema.UTC_SESSION`)."""
    con = duckdb.connect()
    try:
        con.execute(UTC_SESSION)
        _build(con, template, held_attached=False)
    except BaseException:
        con.close()
        raise
    return con


def main(argv: list[str]) -> int:
    """`python -m rosterflow.warehouse.catalog 'wh/{tenant}.duckdb' > catalog.sql`"""
    if len(argv) != 1:
        print(
            "usage: python -m rosterflow.warehouse.catalog 'WAREHOUSE/{tenant}.duckdb'",
            file=sys.stderr,
        )
        return 2
    try:
        script = catalog_script(argv[0])
    except WarehouseError as error:
        print(error, file=sys.stderr)
        return 2
    sys.stdout.write(script.sql)
    for line in script.held:
        print(f"note: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
