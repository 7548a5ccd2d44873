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
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
from duckdb.sqltypes import DuckDBPyType

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
    con = _open_read_only(warehouse)
    try:
        return con.sql(sql, params=params).pl()
    finally:
        con.close()


def _open_read_only(warehouse: str | Path) -> duckdb.DuckDBPyConnection:
    """The warehouse file opened read-only, or a layout's catalog of every tenant file."""
    if is_layout(warehouse):
        return open_catalog(str(warehouse))
    return connect(warehouse, read_only=True)


# statements that only read: select (with describe, show, summarize, from-first and values),
# explain and pragma (table_info, database_size, ...)
READING_STATEMENTS = ("SELECT", "EXPLAIN", "PRAGMA")


class QueryRefused(WarehouseError):
    """A statement `read_statement` does not run, or that failed: the message says why."""


def read_statement(warehouse: str | Path, sql: str, nested_as_text: bool = False) -> pl.DataFrame:
    """The rows of one statement that only reads (`READING_STATEMENTS`), opened as `read_query`
    opens the warehouse; any other statement, several, none, or one DuckDB refuses is a
    `QueryRefused`. Every column comes back as a Polars frame can hold and print it
    (`_as_polars_holds`): with `nested_as_text`, lists, structs and maps as DuckDB writes them
    (`[{'a': 1, 'b': NULL}]`), for a table; without it, as nested columns (JSON in a CSV)."""
    with statement_rows(warehouse, sql, nested_as_text) as rows:
        return pl.concat([rows.schema.to_frame(), *rows.batches])


@dataclass(frozen=True)
class StatementRows:
    """A statement's result as it is read: its columns, and its rows a batch at a time."""

    schema: pl.Schema
    batches: Iterator[pl.DataFrame]


@contextmanager
def statement_rows(
    warehouse: str | Path, sql: str, nested_as_text: bool = False
) -> Iterator[StatementRows]:
    """`read_statement`'s rows, read as they are taken from `StatementRows.batches` while the
    block lasts: a query of every enrollment at a million students (6M rows) is printed or
    written as CSV without holding them all. DuckDB's refusal, raised as the rows are read,
    is a `QueryRefused` too."""
    _refuse_unless_reading(sql)
    try:
        con = _open_read_only(warehouse)
    except duckdb.Error as error:
        raise QueryRefused(sql_error(error)) from None
    try:
        try:
            rows = _as_polars_holds(con.sql(without_trailer(sql)), nested_as_text).pl(lazy=True)
            schema = rows.collect_schema()
        except duckdb.Error as error:
            raise QueryRefused(sql_error(error)) from None
        yield StatementRows(schema, _refused_as_queries(rows.collect_batches()))
    finally:
        close_when_free(con)


def close_when_free(con: duckdb.DuckDBPyConnection, tries: int = 100) -> None:
    """Close `con`, interrupting the call another thread still makes on it: a reader that
    stops taking a query's batches (`| head -1`: a closed pipe) leaves Polars' thread fetching
    the next one from DuckDB, which refuses to close a busy connection (a traceback where the
    command ends quietly). Given up after `tries` (a read-only connection the process leaves
    open loses nothing)."""
    for _ in range(tries):
        try:
            con.close()
            return
        except duckdb.ResourceInUseException:
            con.interrupt()
            time.sleep(0.01)  # (for the interrupted call to return)


def _refused_as_queries(batches: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    try:
        yield from batches
    except (duckdb.Error, OSError) as error:
        # a value that fails its cast, say, fails as it is read: Polars hands DuckDB's error
        # on as an OSError when a batch after the first meets it (the consumer's own errors,
        # a closed pipe, never pass through here)
        raise QueryRefused(sql_error(error)) from None


def _refuse_unless_reading(sql: str) -> None:
    """A `QueryRefused` unless `sql` is one statement that only reads, with no parameter."""
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
    if statements[0].named_parameters:
        # (a recipe of the query how-to pasted as it is: DuckDB's own words name no way out)
        raise QueryRefused(unbound_parameters(statements[0].named_parameters))


def without_trailer(sql: str) -> str:
    """One statement's SQL without the `;` and comments after it (`select [1]; -- done`): a
    relation turned into text (`_as_polars_holds`) is read as a subquery, where they are a
    syntax error. DuckDB's tokens say which is which: a `;` in a string or a comment stays."""
    cut = len(sql)
    for position, kind in reversed(duckdb.tokenize(sql)):  # the statement's few tokens
        if kind == duckdb.token_type.comment or (
            kind == duckdb.token_type.operator and sql[position] == ";"
        ):
            cut = position
        else:
            break
    return sql[:cut]


def unbound_parameters(names: set[str]) -> str:
    """Why a statement naming parameters (`$tenant`, `?`) is not run: nothing binds them."""
    named = sorted(f"${name}" if not name.isdigit() else "?" for name in names)
    listed = ", ".join(dict.fromkeys(named))  # (`?` once, however many)
    return (
        f"the statement has parameters ({listed}), and a query binds none: write each value "
        "into the SQL (tenant = 'north', not tenant = $tenant), or run it from Python with "
        "con.sql(sql, params={...})"
    )


# the DuckDB types (`DuckDBPyType.id`) whose values a Polars frame holds as DuckDB gives them;
# of the others, Polars cannot take an INTERVAL (`finished_at - started_at`) or a UNION at all,
# and would take a BLOB, BIT or BIGNUM as bytes (printed b'\x05', refused by a CSV) and a TIME
# WITH TIME ZONE without its zone
POLARS_SCALAR_TYPES = frozenset(
    {
        "null",
        "boolean",
        "tinyint",
        "smallint",
        "integer",
        "bigint",
        "hugeint",
        "utinyint",
        "usmallint",
        "uinteger",
        "ubigint",
        "uhugeint",
        "float",
        "double",
        "decimal",
        "varchar",
        "date",
        "time",
        "timestamp",
        "timestamp_s",
        "timestamp_ms",
        "timestamp_ns",
        "timestamp with time zone",
        "uuid",
        "enum",
    }
)
NESTED_TYPES = frozenset({"list", "array", "struct", "map"})
# of those, the types some of whose values a frame cannot hold, and the condition (on `{}`, a
# column) that a value meets when it can: DuckDB's infinite and BC dates and times, and those
# past year 9999, fail in Polars or Python (a panic of Polars, or 2262-04-11, 1969-12-31 for
# an infinite TIMESTAMP_NS or _S), TIME 24:00:00 comes back NULL, and a HUGEINT or UHUGEINT
# comes as a DECIMAL(38), so a wider value loses a digit or reads as negative
_WIDEST_DECIMAL = "9" * 38
_MOMENTS = "between timestamp '0001-01-01' and timestamp '9999-12-31 23:59:59.999999'"
HELD_WHEN = {
    "date": "{} between date '0001-01-01' and date '9999-12-31'",
    "time": "{} < time '24:00:00'",
    "timestamp": f"{{}} {_MOMENTS}",
    "timestamp_s": f"{{}} {_MOMENTS}",
    "timestamp_ms": f"{{}} {_MOMENTS}",
    "timestamp_ns": "isfinite({})",
    "timestamp with time zone": (
        "{} between timestamptz '0001-01-01 00:00:00+00' "
        "and timestamptz '9999-12-31 23:59:59.999999+00'"
    ),
    "hugeint": f"{{}} between -{_WIDEST_DECIMAL} and {_WIDEST_DECIMAL}",
    "uhugeint": f"{{}} <= {_WIDEST_DECIMAL}",
}


def polars_holds(duckdb_type: DuckDBPyType) -> bool:
    """Whether a Polars frame holds values of `duckdb_type` as DuckDB gives them: a scalar of
    `POLARS_SCALAR_TYPES`, or a list, array, struct or map of such (an array's children
    include its size, which is no type)."""
    if duckdb_type.id in NESTED_TYPES:
        return all(
            polars_holds(child)
            for _, child in duckdb_type.children
            if isinstance(child, DuckDBPyType)
        )
    return duckdb_type.id in POLARS_SCALAR_TYPES


def _holds_a_guarded_type(duckdb_type: DuckDBPyType) -> bool:
    """Whether `duckdb_type` is a list, array, struct or map with a `HELD_WHEN` type inside:
    its values are not guarded one by one, and go as JSON, as DuckDB writes them, instead."""
    if duckdb_type.id not in NESTED_TYPES:
        return False
    return any(
        child.id in HELD_WHEN or _holds_a_guarded_type(child)
        for _, child in duckdb_type.children
        if isinstance(child, DuckDBPyType)
    )


def _as_polars_holds(
    relation: duckdb.DuckDBPyRelation, nested_as_text: bool
) -> duckdb.DuckDBPyRelation:
    """`relation` with each column Polars would not hold as DuckDB gives it turned into text in
    DuckDB: a scalar as DuckDB writes it (`1 day`, `x\\x01`), a nested value as JSON
    (`["1 day"]`), or with `nested_as_text` every nested value as DuckDB writes it; a scalar
    of a type only some of whose values a frame holds is guarded (`_refused_unless_held`).
    Columns are taken by position: a result may have two of one name (`select 1 as a, 2 as
    a`)."""
    columns, converted = [], False
    for position, (name, duckdb_type) in enumerate(
        zip(relation.columns, relation.types, strict=True), start=1
    ):  # one expression per column, never per row
        nested = duckdb_type.id in NESTED_TYPES
        if (
            nested
            and not nested_as_text
            and (not polars_holds(duckdb_type) or _holds_a_guarded_type(duckdb_type))
        ):
            expression = f"to_json(#{position})"
        elif (nested and nested_as_text) or not polars_holds(duckdb_type):
            expression = f"cast(#{position} as varchar)"
        elif duckdb_type.id in HELD_WHEN:
            expression = _refused_unless_held(position, name, duckdb_type.id)
        else:
            expression = f"#{position}"
        converted = converted or expression != f"#{position}"
        quoted = name.replace('"', '""')
        columns.append(f'{expression} as "{quoted}"')
    if not converted:
        return relation  # (the statement's own result, untouched)
    return relation.project(", ".join(columns))


def _refused_unless_held(position: int, name: str, type_id: str) -> str:
    """The column at `position` as it is, where a value a frame cannot hold (`HELD_WHEN`) ends
    the statement, as a failing cast does, with DuckDB's error naming the column and the value
    as DuckDB writes it, and the cast to text that shows it. A column of one type cannot take
    the text of some of its values, and which hold such a value is known only once read."""
    column = f"#{position}"
    quoted = '"' + name.replace('"', '""') + '"'
    before = f"column {quoted} holds "
    after = (
        f", which a query's rows cannot hold as a {type_id}: "
        f"select it as text, cast({quoted} as varchar)"
    )
    said = f"{sql_literal(before)} || cast({column} as varchar) || {sql_literal(after)}"
    held = HELD_WHEN[type_id].format(column)
    return f"case when not ({held}) then error({said}) else {column} end"


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
    """The shell command that opens a DuckDB CLI session in which `copyable_sql` runs as it is.

    The DuckDB CLI is not installed with rosterflow (only the `duckdb` Python package is): where
    the command is shown, say so, and point to the Python form (docs/how-to/query.md). A
    layout's catalog is written by `rosterflow catalog`, the command the docs give, which works
    wherever rosterflow is installed, whichever `python` comes first on the PATH."""
    if is_layout(warehouse):
        return (
            f"rosterflow catalog --warehouse {shlex.quote(str(warehouse))} > catalog.sql"
            " && duckdb -init catalog.sql"
        )
    # a file named with a leading dash (`-x.duckdb`) would be read by duckdb as an option
    file = str(warehouse)
    return f"duckdb -readonly {shlex.quote(f'./{file}' if file.startswith('-') else file)}"


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
    # what a query does with a warehouse it cannot open (a tenant file of a layout held by
    # another process past the lock wait, say) before the error is raised: a notebook stops
    # the cell there with a word of help rather than a traceback (`notebooks/_shared.py`)
    when_unreadable: Callable[[WarehouseError], None] | None = None

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
        """The rows of one read-only query (`read_query`); a warehouse that cannot be opened is
        handed to `when_unreadable` first."""
        try:
            return read_query(self.location, sql, **params)
        except WarehouseError as error:
            if self.when_unreadable is not None:
                self.when_unreadable(error)
            raise

    def tenants(self) -> list[str]:
        return read_tenants(self.location)

    def show(self, name: str, sql: str, **params: object) -> str:
        """The copyable form of the query (`copyable_sql`), remembered as shown under `name`."""
        self.shown_sql[name] = copyable_sql(name, sql, **params)
        return self.shown_sql[name]
