import pytest

import rosterflow.warehouse.schema as schema
from rosterflow.warehouse.schema import (
    Migration,
    WarehouseError,
    connect,
    latest_version,
    schema_version,
)


def test_new_warehouse_is_created_at_the_latest_version(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        assert schema_version(con) == latest_version()
        schemas = {
            row[0]
            for row in con.sql("select schema_name from information_schema.schemata").fetchall()
        }
        assert {"lms", "history", "audit", "oneroster"} <= schemas


def test_older_warehouse_is_migrated_and_keeps_its_rows(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute("insert into lms.users (user_id, tenant, external_id) values (1, 't', 'or--a')")
    upgrade = Migration(
        latest_version() + 1, "nickname", "alter table lms.users add column nickname varchar;"
    )
    monkeypatch.setattr(schema, "migrations", lambda: _with(upgrade))
    with connect(path) as con:
        assert schema_version(con) == upgrade.version
        assert con.sql("select external_id, nickname from lms.users").fetchall() == [
            ("or--a", None)
        ]


_original_migrations = schema.migrations


def _with(extra: Migration) -> list[Migration]:
    return [*_original_migrations(), extra]


def test_failed_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    connect(path).close()
    broken = Migration(latest_version() + 1, "broken", "alter table lms.nope add column x int;")
    monkeypatch.setattr(schema, "migrations", lambda: _with(broken))
    with pytest.raises(WarehouseError, match="rolled back"):
        connect(path)
    monkeypatch.undo()
    with connect(path) as con:
        assert schema_version(con) == latest_version()


def test_warehouse_from_a_newer_rosterflow_is_refused(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute("insert into audit.schema_migrations values (999, 'future', now()::timestamp)")
    with pytest.raises(WarehouseError, match="newer rosterflow"):
        connect(path)
