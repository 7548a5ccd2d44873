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
