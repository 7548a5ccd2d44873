"""`rosterflow query SQL`: one read-only statement on the warehouse, its rows as a table or CSV;
exit 2 with one line for a missing warehouse or an SQL error."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district, write_feed
from tests.syncing import Warehouse

runner = CliRunner()


@pytest.fixture
def warehouse(tmp_path) -> str:
    synced = Warehouse(tmp_path, tenant="north")
    synced.sync(tiny_district())
    return str(synced.path)


def query(*arguments: str):
    return runner.invoke(app, ["query", *arguments])


def test_the_rows_print_as_a_table_with_their_count(warehouse, wide):
    done = query(
        "select external_id, family_name, status = 'active' as active, null as note "
        "from lms.users where role = 'student' order by external_id",
        "--warehouse",
        warehouse,
    )

    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].split() == ["external_id", "family_name", "active", "note"]
    assert [line.split() for line in lines[2:-1]] == [
        ["or--u-s1", "Stone", "true", "NULL"],
        ["or--u-s2", "Lee", "true", "NULL"],
    ]
    assert lines[-1] == "2 rows"


def test_csv_prints_every_row_and_values_as_written(warehouse):
    done = query(
        "select 'a,b' as text, '[bold]x' as markup, null as missing, [1, 2] as list "
        "union all select 'c', '[/]', 'here', []",
        "--warehouse",
        warehouse,
        "--csv",
    )

    assert done.exit_code == 0, done.output
    assert done.output == 'text,markup,missing,list\n"a,b",[bold]x,,"[1,2]"\nc,[/],here,[]\n'


def test_csv_writes_booleans_as_words_and_structs_and_nested_lists_as_json(warehouse):
    done = query(
        "select true as flag, {'grade': '09', 'codes': ['a', 'b']} as record, [[1], []] as nested "
        "union all select null, null, null",
        "--warehouse",
        warehouse,
        "--csv",
    )

    assert done.exit_code == 0, done.output
    assert done.output == (
        'flag,record,nested\ntrue,"{""grade"":""09"",""codes"":[""a"",""b""]}","[[1],[]]"\n,,\n'
    )


def test_a_long_result_shows_its_first_rows_and_says_so(warehouse, wide):
    done = query("select * from range(5) order by all", "--warehouse", warehouse, "--max-rows", "2")

    assert done.exit_code == 0, done.output
    assert [line.strip() for line in done.output.splitlines()[2:4]] == ["0", "1"]
    assert done.output.splitlines()[-1].startswith("5 rows (the first 2 shown")


def test_a_per_tenant_layout_is_queried_as_one_warehouse(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    feed = str(write_feed(tmp_path / "d.zip", tiny_district()))
    for tenant in ("north", "south"):
        synced = runner.invoke(
            app,
            ["sync", feed, "--warehouse", "wh/{tenant}.duckdb", "--tenant", tenant, "--no-prefect"],
        )
        assert synced.exit_code == 0, synced.output

    done = query(
        "select tenant, count(*) as users from lms.users group by tenant order by tenant",
        "--warehouse",
        "wh/{tenant}.duckdb",
        "--csv",
    )

    assert done.exit_code == 0, done.output
    assert done.output == "tenant,users\nnorth,5\nsouth,5\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("select * from lms.nobody", "Table with name nobody does not exist"),
        ("selec 1", 'syntax error at or near "selec"'),
        ("select 'x'::int", "Could not convert string 'x'"),
        ("select 1; select 2", "give one SQL statement, not 2"),
        ("  ", "no SQL statement to run"),
        ("delete from lms.users", "delete statement: a query only reads the warehouse"),
        ("create table lms.mine as select 1", "create statement: a query only reads"),
        ("attach 'other.duckdb'", "attach statement: a query only reads"),
    ],
)
def test_an_sql_error_or_a_statement_that_writes_exits_2_with_one_line(warehouse, sql, says):
    done = query(sql, "--warehouse", warehouse)

    assert done.exit_code == 2, done.output
    (line,) = done.output.strip().splitlines()
    assert line.startswith("rosterflow: ") and says in line, line
    with duckdb.connect(warehouse, read_only=True) as con:
        assert con.sql("select count(*) from lms.users").fetchall() == [(5,)]


def test_a_missing_warehouse_exits_2_with_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for warehouse in ([], ["--warehouse", "nowhere.duckdb"], ["--warehouse", "wh/{tenant}.duckdb"]):
        done = query("select 1", *warehouse)

        assert done.exit_code == 2, done.output
        (line,) = done.output.strip().splitlines()
        assert "no such warehouse" in line
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_a_newer_or_foreign_warehouse_exits_2_saying_what_to_do(tmp_path, warehouse):
    with duckdb.connect(warehouse) as con:
        con.execute("insert into audit.schema_migrations values (99, 'future', now())")
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("create table t (a integer)")
    before = foreign.read_bytes()

    for path, says in [
        (warehouse, "schema version 99, written by a newer rosterflow (this one knows up to "),
        (str(foreign), "not a rosterflow warehouse"),
    ]:
        done = query("select 1", "--warehouse", path)

        assert done.exit_code == 2, done.output
        (line,) = done.output.strip().splitlines()
        assert says in line and "run a sync" not in line, line
    assert line.endswith("name the file a sync wrote")
    assert foreign.read_bytes() == before


def test_a_table_shows_lists_structs_and_maps_as_duckdb_writes_them(warehouse, wide):
    """Not as Python would (`[{'a': 1, 'b': None}]`, `[True, False]`): NULL inside a list reads
    as SQL's NULL, as the top-level values do."""
    done = query(
        "select [{'a': 1, 'b': null}] as records, [true, false, null] as flags, "
        "{'grade': '09', 'codes': ['x']} as record, map {'k': [1, 2]} as lookup, "
        "[date '2026-09-01'] as days",
        "--warehouse",
        warehouse,
    )

    assert done.exit_code == 0, done.output
    row = done.output.splitlines()[2]
    for written in [
        "[{'a': 1, 'b': NULL}]",
        "[true, false, NULL]",
        "{'grade': 09, 'codes': [x]}",
        "{k=[1, 2]}",
        "[2026-09-01]",
    ]:
        assert written in row, row
    assert "None" not in row and "True" not in row and "datetime" not in row, row


def test_a_duration_bytes_or_a_union_print_as_duckdb_writes_them_not_a_traceback(warehouse, wide):
    """`finished_at - started_at` is an INTERVAL, which Polars cannot hold (the query ended in
    a traceback); bytes were printed b'x\\x01' and stopped a CSV."""
    sql = (
        "select interval 90 minute as took, [interval 1 day] as days, 'x\\x01'::blob as bytes, "
        "union_value(n := 1) as either, '10:00:00+01'::timetz as at, [1, 2] as list"
    )

    table = query(sql, "--warehouse", warehouse)
    as_csv = query(sql, "--warehouse", warehouse, "--csv")
    runs = query(
        "select run_id, finished_at - started_at as took from audit.sync_runs",
        "--warehouse",
        warehouse,
    )

    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[2].split() == [
        "01:30:00",
        "[1",
        "day]",
        "x\\x01",
        "1",
        "10:00:00+01",
        "[1,",
        "2]",
    ]
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.output == (
        'took,days,bytes,either,at,list\n01:30:00,"[""1 day""]",x\\x01,1,10:00:00+01,"[1,2]"\n'
    )
    assert runs.exit_code == 0, runs.output
    assert runs.output.splitlines()[-1] == "1 row"


@pytest.mark.parametrize(
    "arguments",
    [
        ["-- users per role\nselect role, count(*) as n from lms.users group by all order by 1"],
        ["--csv", "--users per role\nselect role, count(*) as n from lms.users group by all"],
        ["-- users per role\nselect role, count(*) as n from lms.users group by all", "--csv"],
    ],
)
def test_sql_that_begins_with_a_comment_is_the_query_not_an_unknown_option(warehouse, arguments):
    """click took `-- users per role ...` for an option ("No such option: -- users per
    role\\x0aselect ..."), unless the user knew to put `--` before it."""
    done = query(*arguments, "--warehouse", warehouse)

    assert done.exit_code == 0, done.output
    assert "No such option" not in done.output
    assert "student" in done.output and "teacher" in done.output, done.output


def test_an_option_s_value_is_never_taken_for_a_commented_query(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    done = query("select 1", "--warehouse", "-- not here.duckdb")

    assert done.exit_code == 2, done.output
    (line,) = done.output.strip().splitlines()
    assert (
        line == "rosterflow: --warehouse -- not here.duckdb: no such warehouse (a sync creates it)"
    )


def test_a_reader_that_stops_reading_ends_a_csv_query_quietly(warehouse):
    """`rosterflow query ... --csv | head -1`: Polars reports the closed pipe without the errno
    click looks for, and the command ended in a traceback; now as a table's does (rich's
    and click's way), exit 1 without a word."""
    import subprocess
    import sys

    command = [
        sys.executable,
        "-c",
        "from rosterflow.flows.cli import main; main()",
        "query",
        "select * from range(100000)",  # (more than a pipe holds: the writer meets the close)
        "--warehouse",
        warehouse,
        "--csv",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        first = process.stdout.readline()
        process.stdout.close()  # (as `head -1` does, once it has its line)
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=60)

    assert first == b"range\n"
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert code == 1


def test_a_statement_with_parameters_says_how_to_give_their_values(warehouse):
    """A recipe of the query how-to pasted as it is met DuckDB's "Values were not provided
    for the following parameters: tenant", which names no way to give them."""
    done = query(
        "select count(*) from lms.users where tenant = $tenant and status = $status",
        "--warehouse",
        warehouse,
    )

    assert done.exit_code == 2, done.output
    (line,) = done.output.strip().splitlines()
    assert line.startswith(
        "rosterflow: the statement has parameters ($status, $tenant), and a query binds none: "
        "write each value into the SQL (tenant = 'north', not tenant = $tenant)"
    ), line


def test_a_result_of_many_batches_is_counted_whole_and_shown_from_its_first_rows(warehouse, wide):
    # 300,000 rows come from DuckDB in batches: the table keeps the first, the count is all
    done = query(
        "select range as n from range(300000) order by n",
        "--warehouse",
        warehouse,
        "--max-rows",
        "3",
    )

    assert done.exit_code == 0, done.output
    assert [line.strip() for line in done.output.splitlines()[2:5]] == ["0", "1", "2"]
    assert done.output.splitlines()[-1].startswith("300,000 rows (the first 3 shown")


def test_a_csv_of_many_batches_has_one_header_and_every_row_in_order(warehouse):
    done = query(
        "select range as n from range(300000) order by n", "--warehouse", warehouse, "--csv"
    )

    assert done.exit_code == 0
    lines = done.output.splitlines()
    assert lines[0] == "n" and len(lines) == 300_001
    assert lines[1:] == [str(n) for n in range(300_000)]


@pytest.mark.parametrize("as_csv", [[], ["--csv"]])
def test_a_result_without_rows_prints_its_columns(warehouse, wide, as_csv):
    done = query(
        "select external_id, status from lms.users where false", "--warehouse", warehouse, *as_csv
    )

    assert done.exit_code == 0, done.output
    if as_csv:
        assert done.output == "external_id,status\n"
    else:
        assert done.output.splitlines()[0].split() == ["external_id", "status"]
        assert done.output.splitlines()[-1] == "0 rows"


def test_a_value_that_fails_as_the_rows_are_read_exits_2_with_one_line(warehouse):
    # the cast fails on a row DuckDB reaches while the result is read, not when it is planned
    done = query(
        "select case when range < 250000 then '1' else 'x' end::int as n from range(300000)",
        "--warehouse",
        warehouse,
    )

    assert done.exit_code == 2, done.output
    (line,) = done.output.strip().splitlines()
    assert line.startswith("rosterflow: ") and "Could not convert string 'x'" in line, line
