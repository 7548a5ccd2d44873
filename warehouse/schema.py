"""Open a warehouse and bring its schema up to date.

Migrations are the numbered `.sql` files in `warehouse/migrations/`, applied in order, each in
its own transaction, and recorded in `audit.schema_migrations`. A warehouse written by an older
rosterflow is migrated forward on open; one written by a newer rosterflow is refused rather than
misread. A new warehouse is built whole under another name and then given its own
(`_create`), so that it is there complete or not at all.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl

from rosterflow.schemas.environment import LOCK_WAIT_SECONDS as LOCK_WAIT
from rosterflow.schemas.environment import EnvironmentVariableError
from rosterflow.schemas.printable import encodes_as, printable
from rosterflow.warehouse.seal import tracking

T = TypeVar("T")


class WarehouseError(Exception):
    """The warehouse cannot be opened or used (exit 2)."""


# what a sync short of memory is told to do, in place of DuckDB's advice on tuning itself
OUT_OF_MEMORY_ADVICE = (
    "the machine gave the sync less memory than it needs (a sync holds the whole district in "
    "memory, a first load the most): run it where more memory is free"
)


def error_text(error: BaseException) -> str:
    """An error as a failed run records it and a message says it: its kind, then its text.
    DuckDB's out of memory goes on with advice on tuning DuckDB (its threads, a memory limit, a
    temporary directory) that no setting of rosterflow reaches: its first line is kept, and the
    advice is what to do instead, as it is for Python's own `MemoryError`."""
    text = str(error)
    if isinstance(error, duckdb.OutOfMemoryException | MemoryError):
        said = text.split("\n", 1)[0].strip()
        return f"{type(error).__name__}: {said + '; ' if said else ''}{OUT_OF_MEMORY_ADVICE}"
    return f"{type(error).__name__}: {text}"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for entry in (resources.files("rosterflow.warehouse") / "migrations").iterdir():
        match = re.fullmatch(r"(\d+)_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def latest_version() -> int:
    return migrations()[-1].version


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> object:
    """The single value a query returns (its result is read to the end, as DuckDB requires)."""
    return con.execute(query, params).fetchall()[0][0]


ID_FLOOR_SQL = "(select coalesce(max(base), 0) from audit.id_space)"


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = scalar(
        con,
        "select count(*) from information_schema.tables "
        "where table_schema = 'audit' and table_name = 'schema_migrations'",
    )
    if not exists:
        return 0
    return scalar(con, "select coalesce(max(version), 0) from audit.schema_migrations")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction around the block: committed when it ends, rolled back when anything
    escapes it (an error, an interrupt). A process killed inside it commits nothing: DuckDB
    discards a transaction that never committed. A Ctrl-C during the commit is held until the
    commit returns, then raised (`_committed`)."""
    with tracking(con):
        con.execute("begin transaction")
        try:
            yield con
            interrupt = _committed(con)
        except BaseException:
            with suppress(duckdb.Error):  # a failed commit has ended the transaction already
                con.execute("rollback")
            raise
    if interrupt is not None:
        interrupt()  # the run is committed, and known to be: now the interrupt ends the command


def _committed(con: duckdb.DuckDBPyConnection) -> Callable[[], None] | None:
    """COMMIT, with a Ctrl-C meanwhile held back; what raises that interrupt, if one came.
    DuckDB's Python client answers an interrupt during a statement with RuntimeError('Query
    interrupted') even when the commit has become durable: read as a failed commit, the run
    was said rolled back, and recorded again as failed, while lms held it whole. Only the
    main thread runs Python's signal handlers; a Ctrl-C a caller ignores stays ignored."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (
        None,  # a handler not set from Python, which cannot be put back
        signal.SIG_IGN,
    ):
        con.execute("commit")
        return None
    received: list[tuple] = []
    signal.signal(signal.SIGINT, lambda *signalled: received.append(signalled))
    try:
        con.execute("commit")
    finally:
        signal.signal(signal.SIGINT, previous)
    if not received:
        return None
    if previous == signal.SIG_DFL:  # the default action, ending the process, taken now
        return lambda: os.kill(os.getpid(), signal.SIGINT)
    return lambda: previous(*received[0])


@contextmanager
def staged(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> Iterator[None]:
    """`frame` visible to SQL as `name` (over Arrow, no copy) for the duration of the block."""
    con.register(name, frame)
    try:
        yield
    finally:
        with suppress(duckdb.Error):  # an aborted transaction refuses even this; rollback follows
            con.unregister(name)


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame) -> None:
    """Insert `rows` into `table`, column by name."""
    if rows.height == 0:
        return
    columns = ", ".join(f'"{c}"' for c in rows.columns)
    with staged(con, "staged_rows", rows):
        con.execute(f"insert into {table} ({columns}) select {columns} from staged_rows")


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> int:
    """Apply every migration above the warehouse's version (up to `target`); return the version."""
    current = schema_version(con)
    newest = latest_version()
    if current > newest:
        raise WarehouseError(
            f"this warehouse has schema version {current}, written by a newer rosterflow "
            f"(this one knows up to {newest}); upgrade rosterflow"
        )
    for migration in migrations():
        if migration.version <= current or (target is not None and migration.version > target):
            continue
        try:
            with transaction(con):
                con.execute("create schema if not exists audit")
                con.execute(
                    "create table if not exists audit.schema_migrations "
                    "(version integer not null, name varchar, applied_at timestamp not null)"
                )
                con.execute(migration.sql)
                con.execute(
                    "insert into audit.schema_migrations values (?, ?, now() at time zone 'UTC')",
                    [migration.version, migration.name],
                )
        except duckdb.Error as error:
            raise WarehouseError(
                f"migrating the warehouse to version {migration.version} ({migration.name}) "
                f"failed and was rolled back: {error}"
            ) from error
        current = migration.version
    if target is None and _drifted(con):
        with transaction(con):
            repair_drift(con)
    return current


# the gradebook's tables and their keys, as migration 7 declares them
GRADEBOOK_KEYS = {"line_items": ("line_item_id",), "scores": ("line_item_id", "user_id")}

# what a warehouse lacks of versions 5 and 7 when a build applied them before they were finished
# (005 gained lms.users.login, 007 the gradebook's primary keys, after builds had applied them):
# every sync then failed on `login`, and the gradebook took a second row of a key, which its
# export sent twice. One look at DuckDB's catalog on each open for writing, a few milliseconds.
DRIFT_SQL = """
select
    (
        select count(*) from duckdb_columns()
        where database_name = current_database() and schema_name = 'lms'
            and table_name = 'users' and column_name = 'login'
    ) = 0 as without_login,
    (
        select coalesce(list(table_name), []) from duckdb_constraints()
        where database_name = current_database() and schema_name = 'lms'
            and constraint_type = 'PRIMARY KEY'
    ) as keyed
"""


def _drifted(con: duckdb.DuckDBPyConnection) -> bool:
    without_login, keyed = con.execute(DRIFT_SQL).fetchone()
    return without_login or not set(GRADEBOOK_KEYS) <= set(keyed)


def repair_drift(con: duckdb.DuckDBPyConnection) -> None:
    """Give a warehouse of the newest version what a build's unfinished version 5 or 7 left
    out: lms.users' login (the tables rebuilt, `migrations/repairs/users_login.sql`), and the
    gradebook's primary keys. Not a migration: a warehouse that has them, nearly every one, is
    not migrated again for it (readers refuse a file of an older version until a sync migrates
    it, the catalog of a layout any tenant's file). A key held by more than one row is a
    WarehouseError naming the rows: the platform's gradebook keeps one row per key, and which
    of them is the score is the platform's to say."""
    without_login, keyed = con.execute(DRIFT_SQL).fetchone()
    if without_login:
        con.execute(_repair_sql("users_login"))
    for table, key in GRADEBOOK_KEYS.items():
        if table in keyed:
            continue
        columns = ", ".join(key)
        held_twice = con.execute(
            f"select {columns}, count(*) from lms.{table} group by all having count(*) > 1 "
            "order by all"
        ).fetchall()
        if held_twice:
            examples = "; ".join(
                f"({', '.join(map(str, row[:-1]))}) in {row[-1]} rows" for row in held_twice[:3]
            )
            raise WarehouseError(
                f"repairing the warehouse's gradebook was refused and rolled back: lms.{table} "
                f"holds {len(held_twice)} ({columns}) in more than one row, {examples}; a build "
                "that applied migration 7 before it was finished gave the table no primary key, "
                "and the gradebook keeps one row per key: delete the extra rows the platform "
                "wrote, then run the command again"
            )
        con.execute(f"alter table lms.{table} add primary key ({columns})")


def _repair_sql(name: str) -> str:
    folder = resources.files("rosterflow.warehouse") / "migrations" / "repairs"
    return (folder / f"{name}.sql").read_text(encoding="utf-8")


LOCK_WAIT_ENV = LOCK_WAIT.name
LOCK_WAIT_SECONDS = LOCK_WAIT.default


def lock_wait_seconds() -> float:
    """`ROSTERFLOW_LOCK_WAIT_SECONDS`, else 30; a WarehouseError (exit 2) naming the variable
    when it is not a number of seconds."""
    try:
        return LOCK_WAIT.value()
    except EnvironmentVariableError as error:
        raise WarehouseError(str(error)) from None


def while_busy(
    attempt: Callable[[], T],
    busy: Callable[[Exception], bool],
    gave_up: Callable[[Exception, float], Exception],
) -> T:
    """`attempt()`, again while it fails with an error `busy` says is another process's hold,
    with backoff, for up to `lock_wait_seconds()` (`ROSTERFLOW_LOCK_WAIT_SECONDS`, default 30);
    then the error `gave_up` makes of the last one and the seconds waited is raised. Any other
    error is raised as it is."""
    waited = lock_wait_seconds()
    deadline = time.monotonic() + waited
    pause = 0.05
    while True:
        try:
            return attempt()
        except Exception as error:
            if not busy(error):
                raise
            if time.monotonic() + pause > deadline:
                raise gave_up(error, waited) from None
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def while_locked(path: Path, attempt: Callable[[], T]) -> T:
    """`attempt()`, again while another process holds `path` (`while_busy`): DuckDB admits one
    writing process, or readers, at a time, and an analyst's query or another tenant's run
    over shared storage is over in seconds."""
    try:
        return while_busy(
            attempt,
            is_lock,
            lambda error, waited: WarehouseError(locked_line(path, str(error), waited)),
        )
    except duckdb.Error as error:
        raise WarehouseError(f"{path}: cannot open the warehouse ({error})") from None


def is_lock(error: BaseException) -> bool:
    """Whether `error` is DuckDB's refusal of a file another process holds."""
    return isinstance(error, duckdb.IOException) and "lock" in str(error)


def locked_line(path: Path, error: str, waited: float) -> str:
    """The line for a warehouse another process held all the time this one waited: which
    process, and how long it waited (DuckDB's own words name the interpreter's path and a flag
    of its command-line tool, neither of any use here)."""
    holder = re.search(r"\(PID (\d+)\)", error)
    by = f" (PID {holder[1]})" if holder else ""
    return (
        f"{path}: cannot open the warehouse: it is locked by another process{by}, still after "
        f"{waited:g} s (ROSTERFLOW_LOCK_WAIT_SECONDS sets how long to wait); try again once "
        "that process is done"
    )


# what a warehouse's session is set to: its timestamps are UTC without a zone
UTC_SESSION = "set TimeZone = 'UTC'"


def open_file(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect`, waiting while another process holds the file. DuckDB's own progress
    bar stays off: it would print into the CLI's output (and a flow's log) for any statement
    over 2 s, a first load's insert or a migration at a million students. The session's time
    zone is UTC, as audit's and history's times are: in the machine's own, `now()` and
    `current_date` in a query (`started_at > now() - interval 1 hour`) were off by its offset."""
    check_encodable(path)
    con = while_locked(path, lambda: _connect_database(path, read_only))
    con.execute("set enable_progress_bar = false")
    con.execute(UTC_SESSION)
    return con


def check_encodable(path: Path) -> None:
    """Refuse a name with a byte that is not UTF-8. DuckDB answers such a path with
    `std::bad_cast`, which a sync reported as a failure of whatever step it was in, exit 1."""
    if not encodes_as(str(path)):
        raise WarehouseError(
            f"{printable(path)}: a name with a byte that is not UTF-8, which DuckDB cannot open; "
            "rename the folder or the file"
        )


# DuckDB's words for an existing file it cannot open as a database: one of bytes that are no
# database, and, read-only, one it would read as data (a `.csv`) into a database in memory
_NOT_A_DATABASE = ("not a valid DuckDB database file", "in-memory database in read-only mode")


def _connect_database(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect`, refusing an existing file that is no DuckDB database: DuckDB 2.0 opens
    one named `.csv`, `.json` or `.parquet` (a feed's `users.csv` named as the warehouse) as a
    database in memory, so a sync into it said `applied` and kept nothing, and wrote a seal
    beside it. Told from the connection, never by reading the file: closing a descriptor of
    the file releases the lock DuckDB holds on it in this process (`warehouse.seal`)."""
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as error:
        if path.is_file() and any(said in str(error) for said in _NOT_A_DATABASE):
            raise WarehouseError(_no_database(path)) from None
        raise
    if str(path) != ":memory:" and _in_memory(con):
        con.close()
        raise WarehouseError(_no_database(path))
    return con


def _in_memory(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchall()
    return not found or found[0][0] is None


def _no_database(path: Path) -> str:
    return (
        f"{printable(path)}: cannot open the warehouse: the file is no DuckDB database "
        "(not a rosterflow warehouse); name the file a sync wrote, or a new one"
    )


def version_refusal(
    path: str | Path, version: int, older: str = "run a sync to migrate it"
) -> str | None:
    """Why a file of schema `version` is not read as a warehouse of this rosterflow (None: it
    is): not a rosterflow warehouse at all (no migration recorded), one written by a newer
    rosterflow, or one of an older schema, which `older` says how to migrate."""
    newest = latest_version()
    if version == newest:
        return None
    if version == 0:
        return (
            f"{path}: not a rosterflow warehouse (it has no audit.schema_migrations); name "
            "the file a sync wrote"
        )
    if version > newest:
        return (
            f"{path}: schema version {version}, written by a newer rosterflow (this one knows "
            f"up to {newest}); upgrade rosterflow"
        )
    return f"{path}: schema version {version}, expected {newest}; {older}"


def check_writable_folder(path: Path) -> None:
    """Refuse a warehouse whose folder this process cannot write: DuckDB opens the file all the
    same, and fails only when a first transaction commits, as it cannot create its write-ahead
    log (`<file>.wal`) beside the file, after the run was planned and without a way to record
    that it failed."""
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WarehouseError(
            f"{path}: cannot write the warehouse: its folder {os.path.abspath(folder)} is not "
            f"writable, and DuckDB writes its log {path.name}.wal beside it (make the folder "
            "writable, or move the warehouse to one that is)"
        )


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    id_space: tuple[str, int] | None = None,
    existing: bool = False,
) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse at `path`, created and migrated as needed. `id_space`:
    the tenant and the start of the file's id range, for a file of a per-tenant layout
    (`warehouse.layout`); recorded when the file is new.

    `read_only` opens it read-only, and changes nothing: a file that is no rosterflow
    warehouse, or of another schema version, is refused (`version_refusal`). `existing` opens
    for writing only a rosterflow warehouse there already (migrated if it is older), for an
    operation on what a sync wrote: nothing is created. Opened for writing, a warehouse whose
    folder cannot be written is refused (`check_writable_folder`)."""
    path = Path(path)
    if (read_only or existing) and not path.exists():
        raise WarehouseError(f"{path}: no such warehouse (a sync creates it)")
    if read_only:
        con = open_file(path, read_only=True)
        refusal = version_refusal(path, schema_version(con))
        if refusal is not None:
            con.close()
            raise WarehouseError(refusal)
        return con
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WarehouseError(f"{path}: cannot create its folder ({error})") from None
    if str(path) != ":memory:":
        check_writable_folder(path)
        if not path.exists():
            _create(path, id_space)
    con = open_file(path, read_only=False)
    try:
        if existing and schema_version(con) == 0:
            raise WarehouseError(version_refusal(path, 0))
        migrate(con)
        if id_space is not None:
            con.execute(
                "insert into audit.id_space select ?, ? "
                "where not exists (select 1 from audit.id_space)",
                list(id_space),
            )
    except BaseException:
        con.close()
        raise
    # no query relies on the physical order of rows; without it DuckDB inserts in parallel
    con.execute("set preserve_insertion_order = false")
    return con


# a new warehouse while it is built: hidden, beside the file it becomes, and no file's name
CREATING = ".{name}.creating-{token}"
# a building older than this, which no process holds, was left by a process that died
ABANDONED_SECONDS = 600


def _create(path: Path, id_space: tuple[str, int] | None) -> None:
    """A new warehouse at `path`, migrated (and given its id space) under another name, then
    linked to `path` whole. Built in place, a first sync stopped before its first commit (kill
    -9, Ctrl-C, a full disk) left a file migrated to some version in between, or not at all,
    which every command reading a tenant's file refused as no rosterflow warehouse until that
    tenant synced again. Another process that makes the file meanwhile (two tenants' first
    syncs into one new file) keeps its own: the link refuses to replace it, and this one's
    building is thrown away."""
    check_encodable(path)  # (named as given, not as the building)
    _sweep_abandoned(path)
    building = path.with_name(CREATING.format(name=path.name, token=secrets.token_hex(6)))
    try:
        con = open_file(building, read_only=False)
        try:
            migrate(con)
            if id_space is not None:
                con.execute("insert into audit.id_space values (?, ?)", list(id_space))
        finally:
            con.close()  # a checkpoint: the building is whole without its WAL
        with suppress(FileExistsError):  # the other process's file is the warehouse now
            _link_whole(building, path)
    except OSError as error:
        raise WarehouseError(f"{printable(path)}: cannot create the warehouse ({error})") from None
    finally:
        _remove_building(building)


def _link_whole(building: Path, path: Path) -> None:
    """`building` given the name `path`, which must not exist: a hard link, which never
    replaces a file (a rename would replace another process's new warehouse under its run).
    Where the file system makes no hard links, the name is given by a rename if it is free."""
    try:
        os.link(building, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (some network shares, FAT)
        if path.exists():
            raise FileExistsError(path) from None
        os.rename(building, path)


def _remove_building(building: Path) -> None:
    for leftover in (building, building.with_name(building.name + ".wal")):
        with suppress(FileNotFoundError):
            leftover.unlink()


def _sweep_abandoned(path: Path) -> None:
    """Remove the buildings of `path` that processes which died left beside it: older than
    ABANDONED_SECONDS and held by no process (a living one holds its building's lock)."""
    prefix = CREATING.format(name=path.name, token="")
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    cutoff = time.time() - ABANDONED_SECONDS
    for entry in entries:  # (names, not rows: once per new warehouse file)
        if not entry.name.startswith(prefix) or entry.name.endswith(".wal"):
            continue
        try:
            if entry.stat().st_mtime > cutoff:
                continue
        except OSError:  # gone meanwhile: DuckDB would make a new database of the name
            continue
        try:
            duckdb.connect(str(entry)).close()
        except duckdb.Error:  # held: a process is building it still, or it is no database
            continue
        _remove_building(entry)
