import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_series_equal

from rosterflow.warehouse.readonly import (
    QueryRefused,
    ReadOnlyWarehouse,
    close_when_free,
    copyable_sql,
    duckdb_session,
    read_query,
    read_statement,
    read_tenants,
    sql_literal,
    statement_rows,
)
from rosterflow.warehouse.schema import WarehouseError, connect
from tests.holding import TENANTS, synced_layout


def test_literals_survive_quotes_and_types():
    values = [None, True, 7, 2.5, "O'Brien", date(2027, 1, 2), datetime(2027, 1, 2, 3, 4, 5)]
    literals = ", ".join(sql_literal(v) for v in values)
    row = duckdb.sql(f"select {literals}").fetchall()[0]
    assert list(row) == values


def test_copyable_sql_runs_as_it_is_and_matches_the_bound_query(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute(
            "insert into lms.users (user_id, tenant, external_id) values (1, 'a''b', 'or--x')"
        )
    sql = "select external_id from lms.users where tenant = $tenant"
    bound = read_query(path, sql, tenant="a'b")
    with duckdb.connect(str(path), read_only=True) as con:
        statements = copyable_sql("users_of", sql, tenant="a'b").split(";")
        con.execute(statements[0])
        pasted = con.execute(statements[1]).fetchall()
    assert bound["external_id"].to_list() == [row[0] for row in pasted] == ["or--x"]


def test_a_notebook_reads_the_warehouse_its_variable_names_and_keeps_what_it_showed(tmp_path):
    assert ReadOnlyWarehouse.from_environment({}).location == "rosterflow.duckdb"
    path = tmp_path / "w.duckdb"
    connect(path).close()
    warehouse = ReadOnlyWarehouse.from_environment({"ROSTERFLOW_WAREHOUSE": str(path)})
    assert warehouse.tenants() == [] and warehouse.query("select 1 as one")["one"].to_list() == [1]
    shown = warehouse.show("one", "select $one as one", one=1)
    assert warehouse.shown_sql == {"one": shown} and shown.endswith("execute one(one := 1);")


def test_tenants_of_a_layout_nobody_synced_into_and_of_no_warehouse(tmp_path):
    assert read_tenants(str(tmp_path / "wh" / "{tenant}.duckdb")) == []
    with pytest.raises(WarehouseError):
        read_tenants(tmp_path / "nowhere.duckdb")


@pytest.mark.parametrize(
    "explain",
    ["explain analyze", "/* a */ EXPLAIN -- b\n ANALYSE", "explain (analyze, format json)"],
)
def test_an_explain_analyze_that_would_write_is_refused_and_writes_nothing(tmp_path, explain):
    """EXPLAIN ANALYZE runs the statement it explains: `copy ... to` would write the file."""
    path = tmp_path / "w.duckdb"
    connect(path).close()
    written = tmp_path / "written.csv"
    with pytest.raises(QueryRefused, match="explain of a copy statement"):
        read_statement(path, f"{explain} copy (select 1) to '{written}'")
    assert not written.exists()
    assert read_statement(path, f"{explain} select 1").height == 1
    assert read_statement(path, "explain select count(*) from lms.users").height == 1


def test_a_pivot_that_finds_its_columns_is_refused_with_the_one_that_reads(tmp_path):
    path = tmp_path / "w.duckdb"
    connect(path).close()
    with pytest.raises(QueryRefused, match=r"pivot \.\.\. on status in"):
        read_statement(path, "pivot lms.users on status using count(*)")
    named = "pivot lms.users on status in ('active', 'inactive') using count(*) group by tenant"
    assert read_statement(path, named).columns == ["tenant", "active", "inactive"]


@pytest.mark.parametrize(
    ("nested_as_text", "expected"),
    [
        # a table's: every nested value as DuckDB writes it
        (True, ("1 day", "[1 day]", "[{'a': 1, 'b': NULL}]", "x\\x01", "1")),
        # a CSV's: nested values stay nested, but for one holding what Polars cannot (JSON)
        (False, ("1 day", '["1 day"]', [{"a": 1, "b": None}], "x\\x01", "1")),
    ],
)
def test_a_statement_s_values_come_back_as_polars_holds_them(tmp_path, nested_as_text, expected):
    """Polars cannot take an INTERVAL (`finished_at - started_at`) or a UNION, and took a blob
    as bytes: the query ended in a traceback, or printed b'x\\x01'."""
    path = tmp_path / "w.duckdb"
    connect(path).close()

    rows = read_statement(
        path,
        "select interval 1 day as took, [interval 1 day] as days, "
        "[{'a': 1, 'b': null}] as records, 'x\\x01'::blob as bytes, union_value(n := 1) as either",
        nested_as_text,
    )

    assert rows.columns == ["took", "days", "records", "bytes", "either"]
    assert rows.row(0) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "select [1] as l, 'a--b;' as s; -- done",
        "select [1] as l, 'a--b;' as s /* ; */ ;",
        "-- a note\nselect [1] as l, 'a--b;' as s -- and another",
    ],
)
def test_a_statement_s_semicolon_and_comments_after_it_are_no_syntax_error(tmp_path, sql):
    """A result with a list is turned into text as a subquery of the statement: the `;` the
    demo's own hints end with was a syntax error there."""
    path = tmp_path / "w.duckdb"
    connect(path).close()

    assert read_statement(path, sql, nested_as_text=True).row(0) == ("[1]", "a--b;")
    assert read_statement(path, sql).row(0) == ([1], "a--b;")


def test_a_statement_s_rows_are_read_a_batch_at_a_time(tmp_path):
    path = tmp_path / "w.duckdb"
    connect(path).close()

    with statement_rows(path, "select range as n from range(300000) order by n") as rows:
        assert rows.schema == pl.Schema({"n": pl.Int64})
        batches = list(rows.batches)
    assert len(batches) > 1
    assert_series_equal(pl.concat(batches)["n"], pl.Series("n", range(300_000), pl.Int64))


@pytest.mark.slow  # three syncs and a `rosterflow` process: near 2 s on 2 cores, more when busy
def test_a_layout_s_duckdb_session_writes_its_catalog_with_the_rosterflow_command(tmp_path):
    """Installed as a tool (`pipx`, `uv tool`), rosterflow puts its command on the PATH and no
    `python` that imports it: the session the notebooks show wrote its catalog with `python -m
    rosterflow.warehouse.catalog`, which failed there. `rosterflow catalog` writes it, and the
    DuckDB CLI (not installed with rosterflow) is the one other program the command needs."""
    template = synced_layout(tmp_path)
    only_rosterflow = tmp_path / "bin"
    only_rosterflow.mkdir()
    (only_rosterflow / "rosterflow").symlink_to(Path(sys.executable).parent / "rosterflow")
    catalog_step, cli_step = duckdb_session(template).split(" && ")
    assert cli_step == "duckdb -init catalog.sql"

    written = subprocess.run(
        ["/bin/sh", "-c", catalog_step],
        cwd=tmp_path,
        env={"PATH": str(only_rosterflow), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert written.returncode == 0, written.stderr
    with duckdb.connect() as con:
        con.execute((tmp_path / "catalog.sql").read_text(encoding="utf-8"))
        tenants = con.sql("select distinct tenant from audit.sync_runs order by all").fetchall()
    assert [tenant for (tenant,) in tenants] == sorted(TENANTS)


def test_a_warehouse_file_s_duckdb_session_opens_it_read_only(tmp_path):
    path = tmp_path / "Montréal's warehouse.duckdb"
    assert (
        duckdb_session(path) == f"duckdb -readonly '{tmp_path}/Montréal'\"'\"'s warehouse.duckdb'"
    )


def test_a_connection_busy_in_another_thread_is_interrupted_and_closed() -> None:
    """A reader that stops taking a query's batches (`rosterflow query ... --csv | head -1`)
    leaves Polars' thread fetching the next batch: closing the connection then raised DuckDB's
    ResourceInUseException, a traceback where the command ends quietly."""
    con = duckdb.connect()
    ended: list[str] = []

    def fetch() -> None:
        try:
            con.execute("select count(*) from range(100000000000) t(i) where i % 7 = 3").fetchall()
            ended.append("finished")
        except duckdb.Error as error:
            ended.append(type(error).__name__)

    fetching = threading.Thread(target=fetch)
    fetching.start()
    time.sleep(0.2)  # (the count runs for minutes: the connection is busy)
    with pytest.raises(duckdb.ResourceInUseException):
        con.close()

    close_when_free(con)
    fetching.join(timeout=30)

    assert ended == ["InterruptException"]
    with pytest.raises(duckdb.ConnectionException):
        con.execute("select 1")
