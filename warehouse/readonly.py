"""Reading the warehouse from analysts' tools (the notebooks): one read-only query at a time,
and each query in a form that can be pasted into any DuckDB client. A per-tenant layout
(`wh/{tenant}.duckdb`) is read as one warehouse, through the catalog of all its tenant files
(`warehouse.catalog`)."""

from __future__ import annotations

import shlex
import textwrap
from datetime import date, datetime
from pathlib import Path

import polars as pl

from rosterflow.warehouse.catalog import open_catalog
from rosterflow.warehouse.layout import is_layout
from rosterflow.warehouse.schema import connect


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
