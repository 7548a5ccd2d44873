"""Open a warehouse and bring its schema up to date.

Migrations are the numbered `.sql` files in `warehouse/migrations/`, applied in order, each in
its own transaction, and recorded in `audit.schema_migrations`. A warehouse written by an older
rosterflow is migrated forward on open; one written by a newer rosterflow is refused rather than
misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb


class WarehouseError(Exception):
    """The warehouse cannot be opened or used (exit 2)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for entry in (resources.files("warehouse") / "migrations").iterdir():
        match = re.fullmatch(r"(\d+)_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def latest_version() -> int:
    return migrations()[-1].version


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> object:
    """The single value a query returns (its result is read to the end, as DuckDB requires)."""
    return con.execute(query, params).fetchall()[0][0]


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = scalar(
        con,
        "select count(*) from information_schema.tables "
        "where table_schema = 'audit' and table_name = 'schema_migrations'",
    )
    if not exists:
        return 0
    return scalar(con, "select coalesce(max(version), 0) from audit.schema_migrations")


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> int:
    """Apply every migration above the warehouse's version (up to `target`); return the version."""
    current = schema_version(con)
    newest = latest_version()
    if current > newest:
        raise WarehouseError(
            f"this warehouse has schema version {current}, written by a newer rosterflow "
            f"(this one knows up to {newest}); upgrade rosterflow"
        )
    for migration in migrations():
        if migration.version <= current or (target is not None and migration.version > target):
            continue
        con.execute("begin transaction")
        try:
            con.execute("create schema if not exists audit")
            con.execute(
                "create table if not exists audit.schema_migrations "
                "(version integer not null, name varchar, applied_at timestamp not null)"
            )
            con.execute(migration.sql)
            con.execute(
                "insert into audit.schema_migrations values (?, ?, now()::timestamp)",
                [migration.version, migration.name],
            )
            con.execute("commit")
        except duckdb.Error as error:
            con.execute("rollback")
            raise WarehouseError(
                f"migrating the warehouse to version {migration.version} ({migration.name}) "
                f"failed and was rolled back: {error}"
            ) from error
        current = migration.version
    return current


def connect(path: str | Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse at `path`, created and migrated as needed."""
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(f"{path}: no such warehouse")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as error:
        raise WarehouseError(f"{path}: cannot open the warehouse ({error})") from None
    if read_only:
        version = schema_version(con)
        if version != latest_version():
            con.close()
            raise WarehouseError(
                f"{path}: schema version {version}, expected {latest_version()}; run a sync to migrate it"
            )
        return con
    try:
        migrate(con)
    except BaseException:
        con.close()
        raise
    # no query relies on the physical order of rows; without it DuckDB inserts in parallel
    con.execute("set preserve_insertion_order = false")
    return con
