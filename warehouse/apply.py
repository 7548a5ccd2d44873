"""Write a run to the warehouse in one transaction: lms, history, source records, audit.

Either everything of a run is written or nothing: a failure (or a killed process) before the
commit leaves the warehouse as it was, because DuckDB discards an uncommitted transaction.
Every statement works on a whole staged frame (set-based SQL over Arrow), never row by row.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from schemas.issues import ISSUE_COLUMNS
from transforms.plan import Plan
from transforms.source_state import SourceWrite
from warehouse.entities import ENTITIES, Entity
from warehouse.schema import scalar
from warehouse.state import lms_checksum

# A test seam for the "killed in the middle of apply" test: when set, apply writes this file
# once lms has been changed inside the open transaction, then waits to be killed.
PAUSE_MARKER_ENV = "ROSTERFLOW_TEST_PAUSE_IN_APPLY"


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    tenant: str
    feed_name: str | None
    feed_sha256: str | None
    started_at: datetime
    outcome: str  # applied | planned | rejected | failed
    message: str | None = None
    content_sha256: str | None = None
    settings_key: str | None = None


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def next_run_id(con: duckdb.DuckDBPyConnection) -> int:
    return scalar(con, "select coalesce(max(run_id), 0) + 1 from audit.sync_runs")


def record_run(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    issues: pl.DataFrame,
    plan: Plan | None = None,
    source: Mapping[str, SourceWrite] | None = None,
) -> None:
    """Write the run in one transaction. `plan` is applied to lms and history only when the
    outcome is `applied` (a dry run records it in audit.changes only); `source` brings the
    tenant's OneRoster records up to date for the files given."""
    con.execute("begin transaction")
    try:
        if plan is not None and run.outcome == "applied":
            for name, entity_plan in plan.entities.items():
                _apply_entity(con, ENTITIES[name], entity_plan.changes, run)
            _pause_for_kill_test()
            for name, write in (source or {}).items():
                _write_source(con, run, name, write)
        if plan is not None and run.outcome in ("applied", "planned"):
            _insert(con, "audit.changes", plan.audit_rows(run.run_id))
        _insert(
            con,
            "audit.issues",
            issues.select(pl.lit(run.run_id, pl.Int64).alias("run_id"), *ISSUE_COLUMNS),
        )
        checksum = lms_checksum(con, run.tenant) if run.outcome == "applied" else None
        _insert_run(con, run, checksum)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def record_unchanged(
    con: duckdb.DuckDBPyConnection, run: RunRecord, previous_run_id: int, checksum: str
) -> None:
    """A run of the very feed the tenant's last applied run had, with lms as that run left it:
    no change to make. Its issues are that run's (the same bytes raise the same issues)."""
    con.execute("begin transaction")
    try:
        con.execute(
            "insert into audit.issues select $run_id, file, line, field, value, rule, severity, "
            "message from audit.issues where run_id = $previous",
            {"run_id": run.run_id, "previous": previous_run_id},
        )
        _insert_run(con, run, checksum)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _insert_run(con: duckdb.DuckDBPyConnection, run: RunRecord, checksum: str | None) -> None:
    from importlib.metadata import version

    con.execute(
        "insert into audit.sync_runs (run_id, tenant, feed_name, feed_sha256, started_at, "
        "finished_at, outcome, message, rosterflow_version, content_sha256, settings_key, "
        "lms_checksum) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.run_id,
            run.tenant,
            run.feed_name,
            run.feed_sha256,
            run.started_at,
            utc_now(),
            run.outcome,
            run.message,
            version("rosterflow"),
            run.content_sha256,
            run.settings_key,
            checksum,
        ],
    )


@contextmanager
def _staged(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> Iterator[None]:
    """`frame` visible to SQL as `name` (over Arrow, no copy) for the duration of the block."""
    con.register(name, frame)
    try:
        yield
    finally:
        with suppress(duckdb.Error):  # an aborted transaction refuses even this; rollback follows
            con.unregister(name)


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame) -> None:
    if rows.height == 0:
        return
    columns = ", ".join(f'"{c}"' for c in rows.columns)
    with _staged(con, "staged_rows", rows):
        con.execute(f"insert into {table} ({columns}) select {columns} from staged_rows")


def _apply_entity(
    con: duckdb.DuckDBPyConnection, entity: Entity, changes: pl.DataFrame, run: RunRecord
) -> None:
    if changes.height == 0:
        return
    table, key = entity.table, entity.id
    columns = ", ".join(entity.columns)
    staged_columns = ", ".join(
        "$run_id as updated_run_id" if c == "updated_run_id" else f"staged.{c}"
        for c in entity.columns
    )
    owned = [c for c in entity.columns if c not in (key, "tenant", "external_id", "updated_run_id")]
    assignments = ", ".join(f"{c} = staged.{c}" for c in owned)
    params = {"run_id": run.run_id, "at": run.started_at}
    # each statement scans the whole staged frame: skip those with no rows to write (a first
    # sync of a state is millions of creates and nothing else)
    actions = set(changes.get_column("action").unique())
    with _staged(con, "staged", changes):
        if actions - {"create"}:
            # the versions this run ends: the rows as they are now, before they change
            con.execute(
                f"insert into history.{table}_closed select current_rows.*, runs.started_at, $at, "
                f"current_rows.updated_run_id, $run_id from lms.{table} as current_rows "
                "join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id "
                f"where current_rows.origin = 'sync' and current_rows.{key} in "
                f"(select {key} from staged where action <> 'create')",
                params,
            )
        if "delete" in actions:
            con.execute(
                f"delete from lms.{table} where {key} in "
                f"(select {key} from staged where action = 'delete')"
            )
        if actions - {"create", "delete"}:
            con.execute(
                f"update lms.{table} set {assignments}, updated_run_id = $run_id from staged "
                f"where lms.{table}.{key} = staged.{key} "
                "and staged.action not in ('create', 'delete')",
                {"run_id": run.run_id},
            )
        if "create" in actions:
            con.execute(
                f"insert into lms.{table} ({columns}) select {staged_columns} from staged "
                "where staged.action = 'create'",
                {"run_id": run.run_id},
            )


def _write_source(
    con: duckdb.DuckDBPyConnection, run: RunRecord, name: str, write: SourceWrite
) -> None:
    """Replace the tenant's snapshot of one file's records."""
    buffer = io.BytesIO()
    write.rows.write_parquet(buffer, compression="zstd", compression_level=1, statistics=False)
    key = {"tenant": run.tenant, "file": name}
    con.execute("delete from oneroster.snapshots where tenant = $tenant and file = $file", key)
    con.execute(
        "insert into oneroster.snapshots values ($tenant, $file, $run_id, $count, $fingerprint, $records)",
        key
        | {
            "run_id": run.run_id,
            "count": write.rows.height,
            "fingerprint": write.fingerprint,
            "records": buffer.getvalue(),
        },
    )


def _pause_for_kill_test() -> None:
    marker = os.environ.get(PAUSE_MARKER_ENV)
    if marker:
        Path(marker).write_text("lms written, transaction open\n")
        time.sleep(600)
