from datetime import date, datetime

import duckdb

from rosterflow.warehouse.readonly import copyable_sql, read_query, sql_literal
from rosterflow.warehouse.schema import connect


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
