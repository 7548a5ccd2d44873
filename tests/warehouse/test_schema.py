import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import rosterflow.warehouse.schema as schema
from rosterflow.warehouse.schema import (
    Migration,
    WarehouseError,
    connect,
    latest_version,
    schema_version,
)
from tests.out_of_memory import duckdb_out_of_memory
from tests.unprivileged import without_override

# (taken when the module is collected, before tests/conftest.py copies new files in its place)
_building_under_another_name = schema._create


@pytest.fixture(autouse=True)
def real_creation(monkeypatch):
    """New warehouses built and migrated as a sync builds them, not copied."""
    monkeypatch.setattr(schema, "_create", _building_under_another_name)


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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_reader_is_told_to_upgrade_for_a_warehouse_from_a_newer_rosterflow(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute("insert into audit.schema_migrations values (999, 'future', now()::timestamp)")
    with pytest.raises(WarehouseError) as refused:
        connect(path, read_only=True)
    assert "schema version 999, written by a newer rosterflow" in str(refused.value)
    assert str(refused.value).endswith("upgrade rosterflow")
    assert "run a sync" not in str(refused.value)


@pytest.mark.parametrize("how", [{}, {"read_only": True}, {"existing": True}])
@pytest.mark.parametrize("name", ["users.csv", "roster.json", "w.duckdb"])
def test_a_file_that_is_no_duckdb_database_is_refused_and_left_as_it_was(tmp_path, how, name):
    """DuckDB 2.0 opens a `.csv` (or `.json`, `.parquet`) named as the database as one in
    memory: a sync into a feed's users.csv said `applied` and kept nothing."""
    other = tmp_path / name
    other.write_bytes(b"sourcedId,status\nu1,active\n")

    with pytest.raises(
        WarehouseError,
        match=r"cannot open the warehouse: the file is no DuckDB database \(not a rosterflow",
    ):
        connect(other, **how)

    assert other.read_bytes() == b"sourcedId,status\nu1,active\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # (no seal, no log)


@pytest.mark.parametrize("how", [{"read_only": True}, {"existing": True}])
def test_a_duckdb_file_that_is_no_warehouse_is_refused_and_left_as_it_was(tmp_path, how):
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("create table t (a integer)")
    before = _sha256(foreign)
    with pytest.raises(WarehouseError, match="not a rosterflow warehouse"):
        connect(foreign, **how)
    assert _sha256(foreign) == before
    with duckdb.connect(str(foreign), read_only=True) as con:
        assert con.sql("select table_name from information_schema.tables").fetchall() == [("t",)]


@pytest.mark.parametrize("how", [{"read_only": True}, {"existing": True}])
def test_a_missing_warehouse_is_not_created_for_a_reader_or_an_operation(tmp_path, how):
    path = tmp_path / "no" / "w.duckdb"
    with pytest.raises(WarehouseError, match="no such warehouse"):
        connect(path, **how)
    assert not path.parent.exists()


def test_an_operation_migrates_an_older_warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        schema.migrate(con, target=latest_version() - 1)
    with pytest.raises(WarehouseError, match=f"schema version {latest_version() - 1}, expected"):
        connect(path, read_only=True)
    with connect(path, existing=True) as con:
        assert schema_version(con) == latest_version()


OPEN_FOR_WRITING = """
import sys
import time
from rosterflow.warehouse.schema import WarehouseError, connect
try:
    connect(sys.argv[1]).close()
except WarehouseError as error:
    print(error)
    sys.exit(2)
"""


def test_a_warehouse_whose_folder_cannot_be_written_is_refused_when_opened_for_writing(tmp_path):
    """DuckDB opens the file of a read-only folder for writing all the same, and fails only
    at the first commit, unable to create its .wal: the open refuses it first, in a process
    bound by file permissions, while a reader still reads it."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "w.duckdb"
    connect(path).close()
    before = _sha256(path)
    folder.chmod(0o555)
    try:
        opened = subprocess.run(
            without_override([sys.executable, "-c", OPEN_FOR_WRITING, str(path)]),
            capture_output=True,
            text=True,
            timeout=60,
        )
        read = subprocess.run(
            without_override(
                [
                    sys.executable,
                    "-c",
                    f"from rosterflow.warehouse.schema import connect; "
                    f"print(connect({str(path)!r}, read_only=True).sql('select 42').fetchall())",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        folder.chmod(0o755)
    assert opened.returncode == 2, opened.stdout + opened.stderr
    assert opened.stdout.strip() == (
        f"{path}: cannot write the warehouse: its folder {folder} is not writable, and DuckDB "
        "writes its log w.duckdb.wal beside it (make the folder writable, or move the "
        "warehouse to one that is)"
    )
    assert read.returncode == 0 and read.stdout.strip() == "[(42,)]", read.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["w.duckdb"]
    assert _sha256(path) == before


@pytest.mark.parametrize("value", ["abc", "-1", "nan"])
def test_a_lock_wait_that_is_no_number_of_seconds_is_a_warehouse_error_naming_it(
    monkeypatch, value
):
    monkeypatch.setenv("ROSTERFLOW_LOCK_WAIT_SECONDS", value)
    with pytest.raises(schema.WarehouseError) as refused:
        schema.lock_wait_seconds()
    assert str(refused.value) == (
        f"ROSTERFLOW_LOCK_WAIT_SECONDS={value!r}: give a number of seconds, 0 or more (unset: 30)"
    )
    monkeypatch.setenv("ROSTERFLOW_LOCK_WAIT_SECONDS", "0.5")
    assert schema.lock_wait_seconds() == 0.5


HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.readline()
"""


def test_a_warehouse_held_past_the_wait_says_by_whom_and_for_how_long(tmp_path, monkeypatch):
    """DuckDB's own words named the interpreter's path and a flag of its command-line tool."""
    path = tmp_path / "w.duckdb"
    connect(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        monkeypatch.setenv("ROSTERFLOW_LOCK_WAIT_SECONDS", "0.2")
        with pytest.raises(schema.WarehouseError) as refused:
            connect(path)
    finally:
        holder.communicate("done\n", timeout=30)
    assert str(refused.value) == (
        f"{path}: cannot open the warehouse: it is locked by another process (PID "
        f"{holder.pid}), still after 0.2 s (ROSTERFLOW_LOCK_WAIT_SECONDS sets how long to "
        "wait); try again once that process is done"
    )


def test_duckdb_out_of_memory_is_told_what_to_do_not_how_to_tune_duckdb():
    """DuckDB's message goes on to `SET threads`, `SET memory_limit` and a temporary directory,
    none of which a rosterflow user can set: its first line stays, the rest is the advice."""
    error = duckdb_out_of_memory()
    assert "Possible solutions" in str(error)  # (what is left out)
    text = schema.error_text(error)
    assert text.startswith("OutOfMemoryException: Out of Memory Error: could not allocate")
    assert text.endswith(f"; {schema.OUT_OF_MEMORY_ADVICE}")
    assert "\n" not in text and "SET " not in text and "temp_directory" not in text


def test_pythons_memory_error_gets_the_same_advice():
    assert schema.error_text(MemoryError()) == f"MemoryError: {schema.OUT_OF_MEMORY_ADVICE}"
    assert schema.error_text(MemoryError("cannot allocate")) == (
        f"MemoryError: cannot allocate; {schema.OUT_OF_MEMORY_ADVICE}"
    )


def test_any_other_error_is_its_kind_and_its_whole_text():
    error = duckdb.CatalogException(
        "Catalog Error: Table with name x does not exist!\nDid you mean y?"
    )
    assert schema.error_text(error) == f"CatalogException: {error}"
    assert schema.error_text(ValueError("a\nb")) == "ValueError: a\nb"


# a process killed while its new warehouse is migrated: it dies entering migration `argv[2]`
DIES_WHILE_CREATING = """
import os, sys
from contextlib import contextmanager
import rosterflow.warehouse.schema as schema
from rosterflow.warehouse.layout import open_warehouse

begun = schema.transaction
entered = 0

@contextmanager
def dying(con):
    global entered
    entered += 1
    if entered == int(sys.argv[2]):
        os._exit(9)
    with begun(con) as inside:
        yield inside

schema.transaction = dying
with open_warehouse(sys.argv[1], tenant="south"):
    pass
"""


def _die_while_creating(warehouse: str, at_migration: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", DIES_WHILE_CREATING, warehouse, str(at_migration)],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("at_migration", [1, 5, latest_version()])
def test_a_process_killed_while_creating_a_warehouse_leaves_no_file(tmp_path, at_migration):
    """Built in place, the new file was left migrated to some version in between, and every
    reader refused it as no rosterflow warehouse until the next sync: now it is not there at
    all, and the next sync creates it whole."""
    path = tmp_path / "w.duckdb"
    died = _die_while_creating(str(path), at_migration)
    assert died.returncode == 9, died.stderr
    assert not path.exists()
    with pytest.raises(WarehouseError, match="no such warehouse"):
        connect(path, read_only=True)
    with connect(path) as con:
        assert schema_version(con) == latest_version()


def test_a_tenant_killed_while_its_file_is_created_leaves_the_layouts_readers_working(tmp_path):
    layout = str(tmp_path / "wh" / "{tenant}.duckdb")
    from rosterflow.warehouse.layout import open_warehouse
    from rosterflow.warehouse.readonly import read_query

    with open_warehouse(layout, tenant="north") as con:
        con.execute(
            "insert into lms.users (user_id, tenant, external_id) values (1, 'north', 'or--a')"
        )
    died = _die_while_creating(layout, 5)
    assert died.returncode == 9, died.stderr
    assert read_query(layout, "select tenant, external_id from lms.users").rows() == [
        ("north", "or--a")
    ]
    with open_warehouse(layout, tenant="south") as con:
        assert con.execute("select tenant from audit.id_space").fetchall() == [("south",)]


def test_the_building_a_killed_process_left_is_removed_by_the_next_creation(tmp_path):
    path = tmp_path / "w.duckdb"
    assert _die_while_creating(str(path), 5).returncode == 9
    (left,) = [
        entry
        for entry in tmp_path.iterdir()
        if entry.name.startswith(".w.duckdb.") and not entry.name.endswith(".wal")
    ]
    connect(tmp_path / "other.duckdb").close()  # another file's creation leaves it alone
    assert left.exists()
    connect(path).close()  # a building of moments ago may be a living process's: kept
    assert left.exists()
    path.unlink()
    long_ago = time.time() - schema.ABANDONED_SECONDS - 60
    os.utime(left, (long_ago, long_ago))
    connect(path).close()
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["other.duckdb", "w.duckdb"]


def test_a_file_another_process_made_meanwhile_is_kept_and_opened(tmp_path, monkeypatch):
    """Two first syncs into one new file: the one that links its building first keeps it,
    with whatever its run wrote; the other opens that file and throws its own building away."""
    path = tmp_path / "w.duckdb"
    real_migrate = schema.migrate

    def other_process_first(con, target=None):
        if not path.exists():
            monkeypatch.setattr(schema, "migrate", real_migrate)
            with connect(path) as other:
                other.execute(
                    "insert into lms.users (user_id, tenant, external_id) values (7, 't', 'or--x')"
                )
        return real_migrate(con, target)

    monkeypatch.setattr(schema, "migrate", other_process_first)
    with connect(path) as con:
        assert con.execute("select user_id from lms.users").fetchall() == [(7,)]
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["w.duckdb"]
