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
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from rosterflow.warehouse.layout import Layout
from rosterflow.warehouse.schema import WarehouseError, version_refusal, while_locked

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


def _build(con: duckdb.DuckDBPyConnection, template: str) -> list[str]:
    """Run the catalog's statements in `con`; return them, in order."""
    layout = Layout(template)
    numbers = layout.tenants()
    files = {f"tenant_{numbers[t]}": path.resolve() for t, path in layout.files().items()}
    if not files:
        raise NoTenantsYet(f"{template}: no tenant has synced under this layout yet")
    run: list[str] = []

    def execute(statement: str) -> None:
        con.execute(statement)
        run.append(statement)

    execute(f"attach if not exists ':memory:' as {CATALOG}")
    execute(f"use {CATALOG}")
    for alias, path in files.items():
        # detach first: the script read again in one session attaches the files afresh
        execute(f"detach database if exists {alias}")
        attach = f"attach {_string(str(path))} as {alias} (read_only)"
        while_locked(path, lambda attach=attach: execute(attach))
    _check_versions(con, files)
    relations = _relations(con, next(iter(files)))
    for schema in dict.fromkeys(schema for schema, _ in relations):
        execute(f"create schema if not exists {_identifier(schema)}")
    for schema, name in relations:
        qualified = f"{_identifier(schema)}.{_identifier(name)}"
        # by name, not position: the files of one schema version have the same columns, but
        # in whatever order their migrations left them
        union = "\nunion all by name\n".join(
            f"select * from {alias}.{qualified}" for alias in files
        )
        execute(f"create or replace view {qualified} as\n{union}")
    return run


def catalog_statements(template: str) -> list[str]:
    """The statements that give any DuckDB session every tenant file of the layout `template`:
    ATTACH each READ_ONLY, and a view per table over them all (see the module's docstring).
    The files are read now, for their tables and schema versions."""
    con = duckdb.connect()
    try:
        return _build(con, template)
    finally:
        con.close()


def catalog_sql(template: str) -> str:
    """The statements as a script, for `duckdb -init catalog.sql` or `.read catalog.sql`. It
    names the tenant files of the moment: write it again after a new tenant's first sync."""
    header = f"-- rosterflow catalog of every tenant of {template}, attached read-only\n"
    return header + "".join(f"{statement};\n" for statement in catalog_statements(template))


def open_catalog(template: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session holding the catalog of the layout `template`. It keeps
    every tenant file from syncs until it is closed."""
    con = duckdb.connect()
    try:
        _build(con, template)
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
        sys.stdout.write(catalog_sql(argv[0]))
    except WarehouseError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
