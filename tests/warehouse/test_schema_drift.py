"""Warehouses whose version 5 or 7 an earlier build applied before the migration gained part of
it (lms.users.login; the gradebook's primary keys) are repaired when a command opens them for
writing (`schema.repair_drift`), and an applied migration never changes again. The earlier builds' migrations are in tests/warehouse/drifted/,
as `git show f7ce245:warehouse/migrations/005_grade_level.sql` and
`git show 5c434be:warehouse/migrations/007_gradebook.sql` print them."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

import rosterflow.warehouse.schema as schema
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.warehouse.schema import WarehouseError, connect, latest_version, schema_version
from tests.feeds import tiny_district, write_feed

DRIFTED = Path(__file__).parent / "drifted"


def _written_by_an_earlier_build(path: Path, version: int, drifted: str) -> None:
    """A warehouse at `version`, whose migration of that version was the earlier build's."""
    con = duckdb.connect(str(path))
    try:
        schema.migrate(con, target=version - 1)
        with schema.transaction(con):
            con.execute((DRIFTED / drifted).read_text(encoding="utf-8"))
            con.execute(
                "insert into audit.schema_migrations values (?, 'earlier build', now()::timestamp)",
                [version],
            )
    finally:
        con.close()


def _shape(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"describe {table}").fetchall()


SHAPED = ["lms.users", "history.users_closed", "history.users", "lms.line_items", "lms.scores"]


def _fresh_shapes(tmp_path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    try:
        schema.migrate(con)
        return {table: _shape(con, table) for table in SHAPED}
    finally:
        con.close()


def test_a_version_5_without_login_gets_it_keeping_every_row_and_then_syncs(tmp_path):
    path = tmp_path / "w.duckdb"
    _written_by_an_earlier_build(path, 5, "005_grade_level_f7ce245.sql")
    con = duckdb.connect(str(path))
    con.execute(
        "insert into lms.users (user_id, tenant, external_id, role, grade_level, status, origin) "
        "values (1, 't', 'or--u1', 'student', '05', 'active', 'sync'), "
        "(2, 't', null, 'teacher', null, 'active', 'manual')"
    )
    con.execute(
        "insert into history.users_closed (user_id, tenant, external_id, grade_level, status, "
        "origin, valid_from, closed_run_id) values "
        "(1, 't', 'or--u1', '04', 'active', 'sync', timestamp '2026-09-01', 3)"
    )
    con.close()

    with connect(path) as con:
        assert schema_version(con) == latest_version()
        assert {table: _shape(con, table) for table in SHAPED} == _fresh_shapes(tmp_path)
        assert con.execute(
            "select user_id, external_id, grade_level, login, status, origin from lms.users "
            "order by user_id"
        ).fetchall() == [
            (1, "or--u1", "05", None, "active", "sync"),
            (2, None, None, None, "active", "manual"),
        ]
        assert con.execute(
            "select user_id, grade_level, login, valid_from, closed_run_id "
            "from history.users_closed"
        ).fetchall() == [(1, "04", None, datetime(2026, 9, 1), 3)]
        # a hand-made row the platform inserts still takes the defaults
        con.execute("insert into lms.users (user_id, tenant) values (3, 't')")
        assert con.execute("select status, origin from lms.users where user_id = 3").fetchall() == [
            ("active", "manual")
        ]
        con.execute("delete from lms.users where user_id in (1, 3)")

    synced = run_sync(write_feed(tmp_path / "d.zip", tiny_district()), path, Settings())
    assert synced.outcome == "applied", synced
    with connect(path, read_only=True) as con:
        assert con.execute(
            "select count(*) from lms.users where origin = 'sync' and login is null"
        ).fetchall() == [(0,)]


def test_a_version_7_without_the_gradebooks_keys_gets_them(tmp_path):
    path = tmp_path / "w.duckdb"
    _written_by_an_earlier_build(path, 7, "007_gradebook_5c434be.sql")
    con = duckdb.connect(str(path))
    con.execute(
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible) values (1, 't', 5, 'Quiz', date '2026-10-01', 10)"
    )
    con.execute("insert into lms.scores (line_item_id, user_id, score) values (1, 9, 7.5)")
    con.close()

    with connect(path) as con:
        assert {table: _shape(con, table) for table in SHAPED} == _fresh_shapes(tmp_path)
        # the upsert docs/how-to/grades.md gives the platform
        con.execute(
            "insert into lms.scores (line_item_id, user_id, score) values (1, 9, 9) "
            "on conflict do update set score = excluded.score"
        )
        assert con.execute("select score from lms.scores").fetchall() == [(9,)]
        with pytest.raises(duckdb.ConstraintException):
            con.execute(
                "insert into lms.line_items (line_item_id, tenant, title) values (1, 't', 'x')"
            )


def test_a_gradebook_key_held_twice_refuses_the_repair_naming_it_until_one_row_is_left(tmp_path):
    path = tmp_path / "w.duckdb"
    _written_by_an_earlier_build(path, 7, "007_gradebook_5c434be.sql")
    con = duckdb.connect(str(path))
    con.execute(
        "insert into lms.scores (line_item_id, user_id, score) values "
        "(5001, 2792, 7), (5001, 2792, 8), (5001, 2793, 6)"
    )
    con.close()

    with pytest.raises(WarehouseError) as refused:
        connect(path)
    assert str(refused.value) == (
        "repairing the warehouse's gradebook was refused and rolled back: lms.scores holds 1 "
        "(line_item_id, user_id) in more than one row, (5001, 2792) in 2 rows; a build that "
        "applied migration 7 before it was finished gave the table no primary key, and the "
        "gradebook keeps one row per key: delete the extra rows the platform wrote, then run "
        "the command again"
    )
    con = duckdb.connect(str(path))
    assert schema_version(con) == latest_version()  # (the migrations are committed)
    assert schema._drifted(con)  # the repair rolled back whole, line_items' key with it
    con.execute("delete from lms.scores where score = 7")
    con.close()
    with connect(path) as con:
        assert schema_version(con) == latest_version()
        assert con.execute("select count(*) from lms.scores").fetchall() == [(2,)]


# the digest of every migration's statements, comments and spacing aside: a migration is never
# changed once a build has applied it (5 and 7 were, and `repair_drift` mends what that did;
# 10's view, rewritten alike, is replaced by 11's). A change to the schema is a new migration; a
# comment may be corrected.
APPLIED = {
    1: "528720c1a8bb",
    2: "5eadddde2d84",
    3: "eb7861540d92",
    4: "2eaee8d766b7",
    5: "0bc1ed07db4e",
    6: "b4cb0f9772d2",
    7: "4e75591e64bd",
    8: "896d6f8c8bc7",
    9: "5a750f6364ab",
    10: "a032135a05f1",
    11: "0b74029b2f55",
}


def statements_digest(sql: str) -> str:
    statements = re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", sql)).strip()
    return hashlib.sha256(statements.encode()).hexdigest()[:12]


def test_no_applied_migration_changes():
    changed = {
        migration.version: statements_digest(migration.sql)
        for migration in schema.migrations()
        if APPLIED.get(migration.version) != statements_digest(migration.sql)
    }
    assert changed == {}, (
        "a migration's statements differ from those builds applied: warehouses at that "
        "version keep what they had; write the change as a new migration (a new migration's "
        "digest goes into APPLIED)"
    )
