"""The runs in `audit`: their ids, what an earlier run recorded, and the recall of a feed the
tenant's last applied run already had."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import duckdb
import polars as pl

from rosterflow.schemas.changes import in_entity_order
from rosterflow.schemas.issues import ISSUE_SCHEMA
from rosterflow.schemas.runs import RunRecord, SyncResult
from rosterflow.warehouse.schema import ID_FLOOR_SQL, scalar, transaction
from rosterflow.warehouse.state import lms_checksum


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def next_run_id(con: duckdb.DuckDBPyConnection) -> int:
    return scalar(
        con, f"select greatest(coalesce(max(run_id), 0), {ID_FLOOR_SQL}) + 1 from audit.sync_runs"
    )


def run_issues(con: duckdb.DuckDBPyConnection, run_id: int) -> pl.DataFrame:
    """The issues recorded for a run."""
    return (
        con.sql(
            f"select {', '.join(ISSUE_SCHEMA)} from audit.issues where run_id = ?",
            params=[run_id],
        )
        .pl()
        .cast(ISSUE_SCHEMA)
    )


def recorded_result(con: duckdb.DuckDBPyConnection, run_id: int) -> SyncResult:
    """A recorded run as its sync returned it: outcome, changes per entity and action, issues."""
    run_id, tenant, feed_name, outcome, message, planning, planning_note = con.execute(
        "select run_id, tenant, feed_name, outcome, message, planning, planning_note "
        "from audit.sync_runs where run_id = ?",
        [run_id],
    ).fetchall()[0]
    summary = in_entity_order(
        con.sql(
            "select entity, action, count(*)::uinteger as count from audit.changes "
            "where run_id = ? group by entity, action",
            params=[run_id],
        ).pl()
    )
    issues = run_issues(con, run_id)
    return SyncResult(
        run_id, tenant, feed_name or "", outcome, message, summary, issues, planning, planning_note
    )


def recorded_attempt(con: duckdb.DuckDBPyConnection, attempt: str) -> SyncResult | None:
    """The run an earlier try of this attempt recorded (a Prefect flow run retried after its
    run committed, say), unless it failed: a committed run is never applied a second time."""
    found = con.execute(
        "select run_id from audit.sync_runs where attempt_key = ? and outcome <> 'failed' "
        "order by run_id desc limit 1",
        [attempt],
    ).fetchall()
    return recorded_result(con, found[0][0]) if found else None


def applied_run_of_feed(con: duckdb.DuckDBPyConnection, feed_sha256: str) -> tuple[int, str] | None:
    """`run_id, tenant` of the last applied run of a feed with these bytes, if any."""
    found = con.execute(
        "select run_id, tenant from audit.sync_runs "
        "where feed_sha256 = ? and outcome = 'applied' order by run_id desc limit 1",
        [feed_sha256],
    ).fetchall()
    return found[0] if found else None


def recall(con: duckdb.DuckDBPyConnection, run: RunRecord) -> SyncResult | None:
    """The result at once when nothing can change: the tenant's last applied run had these very
    contents and settings, and lms still holds exactly what that run left (a hand edit since
    changes its checksum, and then the full run reverts it). The run is recorded as it ends,
    with that run's issues (the same bytes raise the same issues). None otherwise."""
    last = con.execute(
        "select run_id, content_sha256, settings_key, lms_checksum from audit.sync_runs "
        "where tenant = ? and outcome = 'applied' order by run_id desc limit 1",
        [run.tenant],
    ).fetchall()
    if not last:
        return None
    last_run, contents, settings_key, checksum = last[0]
    if checksum is None or (contents, settings_key) != (run.content_sha256, run.settings_key):
        return None
    if lms_checksum(con, run.tenant) != checksum:
        return None
    unchanged = replace(
        run,
        message=f"the same feed as run {last_run}, and lms as it left it: nothing to change",
        planning="recalled",
        planning_note=f"the same contents as run {last_run}, lms untouched since",
    )
    with transaction(con):
        con.execute(
            "insert into audit.issues select $run_id, file, line, field, value, rule, severity, "
            "message from audit.issues where run_id = $previous",
            {"run_id": run.run_id, "previous": last_run},
        )
        insert_run(con, unchanged, checksum if run.outcome == "applied" else None)
    return SyncResult.of(unchanged, None, run_issues(con, last_run))


def insert_run(con: duckdb.DuckDBPyConnection, run: RunRecord, checksum: str | None) -> None:
    """The run's row in audit.sync_runs, finished now."""
    from importlib.metadata import version

    con.execute(
        "insert into audit.sync_runs (run_id, tenant, feed_name, feed_sha256, started_at, "
        "finished_at, outcome, message, rosterflow_version, content_sha256, settings_key, "
        "lms_checksum, planning, planning_note, attempt_key) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            run.planning,
            run.planning_note,
            run.attempt_key,
        ],
    )
