"""Reading the warehouse from analysts' tools (the notebooks): one read-only query at a time,
and each query in a form that can be pasted into any DuckDB client. A per-tenant layout
(`wh/{tenant}.duckdb`) is read as one warehouse, through the catalog of all its tenant files
(`warehouse.catalog`). `ReadOnlyWarehouse` is the warehouse as a notebook holds it: where it
is (`ROSTERFLOW_WAREHOUSE`), its tenants, and the queries it showed. Nothing here draws: the
notebooks' marimo and Altair pieces live beside them (`notebooks/_shared.py`)."""

from __future__ import annotations

import os
import re
import shlex
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

from rosterflow.warehouse.catalog import NoTenantsYet, open_catalog
from rosterflow.warehouse.layout import is_layout
from rosterflow.warehouse.schema import WarehouseError, connect

# the variable that names the warehouse the notebooks read: a file, or a layout's template
WAREHOUSE_VARIABLE = "ROSTERFLOW_WAREHOUSE"
DEFAULT_WAREHOUSE = "rosterflow.duckdb"

TENANTS_SQL = """
-- the tenants that have at least one sync run, in order
select distinct tenant
from audit.sync_runs
order by tenant
"""


def read_query(warehouse: str | Path, sql: str, **params: object) -> pl.DataFrame:
    """The rows of one read-only query, with `$name` parameters bound from `params`.

    The warehouse is opened for this query only: DuckDB lets no process write a file that
    another holds open, so a notebook left open must not keep `rosterflow sync` out. With a
    layout, that is every tenant's file: the catalog is attached for this query and closed.
    """
    if is_layout(warehouse):
        con = open_catalog(str(warehouse))
    else:
        con = connect(warehouse, read_only=True)
    try:
        return con.sql(sql, params=params).pl()
    finally:
        con.close()


# statements that only read: select (with describe, show, summarize, from-first and values),
# explain and pragma (table_info, database_size, ...)
READING_STATEMENTS = ("SELECT", "EXPLAIN", "PRAGMA")


class QueryRefused(WarehouseError):
    """A statement `read_statement` does not run, or that failed: the message says why."""


def read_statement(warehouse: str | Path, sql: str) -> pl.DataFrame:
    """The rows of one statement that only reads (`READING_STATEMENTS`), as `read_query` runs
    it; any other statement, several, none, or one DuckDB refuses is a `QueryRefused`."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryRefused(sql_error(error)) from None
    if not statements:
        raise QueryRefused(
            "no SQL statement to run: give one, e.g. 'select * from audit.sync_runs'"
        )
    if len(statements) > 1:
        raise QueryRefused(f"give one SQL statement, not {len(statements)}")
    refusal = _not_reading(statements[0])
    if refusal is not None:
        raise QueryRefused(refusal)
    try:
        return read_query(warehouse, sql)
    except duckdb.Error as error:
        raise QueryRefused(sql_error(error)) from None


# what EXPLAIN puts before the statement it explains: `explain analyze`, `explain (analyze,
# format json)`, comments anywhere
_GAP = r"(?:\s|--[^\n]*|/\*.*?\*/)*"
_EXPLAIN = re.compile(
    rf"{_GAP}explain\b{_GAP}(?:analy[sz]e\b{_GAP})?(?:\([^)]*\){_GAP})?", re.IGNORECASE | re.DOTALL
)


def _not_reading(statement: duckdb.Statement) -> str | None:
    """Why `statement` is not one that only reads, or None when it is. EXPLAIN ANALYZE runs the
    statement it explains (`explain analyze copy ... to 'file'` writes the file), so an
    EXPLAIN is judged by that statement."""
    kind = statement.type.name
    if kind == "EXPLAIN":
        prefix = _EXPLAIN.match(statement.query)
        try:
            (explained,) = duckdb.extract_statements(statement.query[prefix.end() :])
        except (AttributeError, ValueError, duckdb.Error):  # no prefix, or not one statement
            return "explain statement: give explain, or explain analyze, then one select"
        refusal = _not_reading(explained)
        return f"explain of a {refusal}" if refusal else None
    if kind == "MULTI":  # what DuckDB makes of a PIVOT that finds its columns itself
        return (
            "multi statement (a pivot that finds its columns itself, or a statement around "
            "one): a query only reads the warehouse; a pivot that names them only reads: "
            "pivot ... on status in ('active', 'inactive') ..."
        )
    if kind not in READING_STATEMENTS:
        return (
            f"{kind.lower().replace('_', ' ')} statement: a query only reads the warehouse "
            "(select, describe, show, summarize, explain, pragma)"
        )
    return None


def sql_error(error: Exception) -> str:
    """DuckDB's message on one line, without the quoted SQL and caret it adds on a line of
    their own ("LINE 1: ...")."""
    lines = str(error).splitlines()
    marker = next((i for i, line in enumerate(lines) if re.match(r"LINE \d+:", line)), len(lines))
    kept = [line.strip() for line in lines[:marker] if line.strip()]
    return " ".join(kept) or type(error).__name__


def sql_literal(value: object) -> str:
    """`value` written as a DuckDB literal, for the copyable form of a query only."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    text = str(value).replace("'", "''")
    return f"'{text}'"


def copyable_sql(name: str, sql: str, **params: object) -> str:
    """The query as a prepared statement and the `execute` that runs it with `params`, to
    paste into the DuckDB CLI or any DuckDB client as it is."""
    bound = ", ".join(f"{key} := {sql_literal(value)}" for key, value in params.items())
    execute = f"execute {name}({bound});" if params else f"execute {name};"
    return f"prepare {name} as\n{textwrap.dedent(sql).strip()};\n\n{execute}"


def warehouse_label(warehouse: str | Path) -> str:
    """The warehouse as the notebooks name it (markdown): a file, or every file of a layout."""
    if is_layout(warehouse):
        return f"every tenant's file of the layout `{warehouse}`, attached read-only per query"
    return f"`{warehouse}`, opened read-only per query"


def duckdb_session(warehouse: str | Path) -> str:
    """The shell command that opens a DuckDB session in which `copyable_sql` runs as it is."""
    if is_layout(warehouse):
        return (
            f"python -m rosterflow.warehouse.catalog {shlex.quote(str(warehouse))} > catalog.sql"
            " && duckdb -init catalog.sql"
        )
    return f"duckdb -readonly {shlex.quote(str(warehouse))}"


def read_tenants(warehouse: str | Path) -> list[str]:
    """The tenants with at least one sync run, in order. A layout nobody synced into has none,
    as a one-file warehouse without runs; a warehouse that cannot be opened (missing, another
    schema version) raises `WarehouseError`."""
    try:
        return read_query(warehouse, TENANTS_SQL)["tenant"].to_list()
    except NoTenantsYet:
        return []


@dataclass
class ReadOnlyWarehouse:
    """The warehouse a notebook reads: a file or a per-tenant layout, opened read-only for each
    query, and the copyable form of each query the notebook last showed, by name (so that a
    test can run every one of them as an analyst would paste it)."""

    location: str
    shown_sql: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ReadOnlyWarehouse:
        """The warehouse `ROSTERFLOW_WAREHOUSE` names, by default `rosterflow.duckdb`."""
        return cls(environ.get(WAREHOUSE_VARIABLE, DEFAULT_WAREHOUSE))

    @property
    def label(self) -> str:
        return warehouse_label(self.location)

    @property
    def session(self) -> str:
        return duckdb_session(self.location)

    def query(self, sql: str, **params: object) -> pl.DataFrame:
        """The rows of one read-only query (`read_query`)."""
        return read_query(self.location, sql, **params)

    def tenants(self) -> list[str]:
        return read_tenants(self.location)

    def show(self, name: str, sql: str, **params: object) -> str:
        """The copyable form of the query (`copyable_sql`), remembered as shown under `name`."""
        self.shown_sql[name] = copyable_sql(name, sql, **params)
        return self.shown_sql[name]
