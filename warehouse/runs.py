"""The runs in `audit`: their ids, what an earlier run recorded, and the recall of a feed the
tenant's last applied run already had."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import duckdb
import polars as pl

from rosterflow.schemas.changes import in_entity_order
from rosterflow.schemas.issues import ISSUE_SCHEMA, sort_issues
from rosterflow.schemas.lines import (
    ORDER_OR_PLAN_RULES,
    PLAN_RULES,
    PLAN_STATE_RULES,
    LineSummary,
    frame_sizes,
    frame_summaries,
    moved_lines,
    summary,
)
from rosterflow.schemas.runs import RunRecord, SyncResult
from rosterflow.warehouse.records import LINE_MARKS, LINE_SUMMARIES, read_blob, write_derived
from rosterflow.warehouse.schema import ID_FLOOR_SQL, scalar, transaction
from rosterflow.warehouse.state import lms_checksum


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def next_run_id(con: duckdb.DuckDBPyConnection) -> int:
    return scalar(
        con, f"select greatest(coalesce(max(run_id), 0), {ID_FLOOR_SQL}) + 1 from audit.sync_runs"
    )


def latest_start(con: duckdb.DuckDBPyConnection, tenant: str) -> datetime | None:
    """When the tenant's latest applied run started (UTC without a zone), if it has one: the
    runs that write lms and history (a dry, rejected, held or failed run writes neither)."""
    return scalar(
        con,
        "select max(started_at) from audit.sync_runs where tenant = ? and outcome = 'applied'",
        [tenant],
    )


A_MOMENT = timedelta(microseconds=1)  # (audit's timestamps hold microseconds)


def after_latest_run(con: duckdb.DuckDBPyConnection, tenant: str, started: datetime) -> datetime:
    """`started` (UTC without a zone), or just after the tenant's latest applied run when that
    started later: history's versions run from one applied run's start to the next's, in the
    order the runs were applied, whatever the clock says. A clock behind the one that started
    that run (a pool's worker on another machine, a clock set back) started a run before it,
    and history had versions ending before they began (the roster history notebook took the
    older for the latest, its valid_to set: a student shown deleted)."""
    latest = latest_start(con, tenant)
    # strictly after: the same start would leave the version it opened ending where it began,
    # and a row's versions in no one order by valid_from
    return started if latest is None else max(started, latest + A_MOMENT)


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


def applied_run_of_feed(
    con: duckdb.DuckDBPyConnection, feed_sha256: str, tenant: str | None = None
) -> tuple[int, str] | None:
    """`run_id, tenant` of the last applied run of a feed with these bytes (of `tenant`'s
    runs, if given), if any."""
    found = con.execute(
        "select run_id, tenant from audit.sync_runs "
        "where feed_sha256 = $sha256 and outcome = 'applied' "
        "and ($tenant::varchar is null or tenant = $tenant) order by run_id desc limit 1",
        {"sha256": feed_sha256, "tenant": tenant},
    ).fetchall()
    return found[0] if found else None


def recall(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    lines: Mapping[str, pl.Series] | None = None,
) -> SyncResult | None:
    """The result at once when nothing can change: the tenant's last applied run had these very
    contents and settings, and lms still holds exactly what that run left (a hand edit since
    changes its checksum, and then the full run reverts it). The run is recorded as it ends,
    with that run's issues (the same bytes raise the same issues), but for those of what that
    run changed in lms (`PLAN_RULES`: the same records again change nothing). With the feed's
    `lines` (`Feed.lines`), the same holds for the same lines in another order
    (`schemas.lines`): that run's issues are recorded on the lines they moved to. None
    otherwise."""
    last = _last_applied(con, run.tenant)
    if last is None:
        return None
    last_run, contents, settings_key, checksum = last
    if checksum is None or settings_key != run.settings_key:
        return None
    if contents == run.content_sha256:
        # the same bytes raise the same issues, but for those of what that run changed
        issues = run_issues(con, last_run).filter(~pl.col("rule").is_in(PLAN_RULES))
        moved = None
        note = f"the same contents as run {last_run}, lms untouched since"
    elif lines is not None and (found := _moved(con, run.tenant, settings_key, last, lines)):
        issues, moved = found
        # (a line's hash is of its text: line ends and a byte-order mark do not count)
        note = (
            f"the same records as run {last_run}, line for line in another order or other "
            "line ends, lms untouched since"
        )
    else:
        return None
    if lms_checksum(con, run.tenant) != checksum:
        return None
    unchanged = replace(
        run,
        message=f"the same feed as run {last_run}, and lms as it left it: nothing to change",
        planning="recalled",
        planning_note=note,
    )
    with transaction(con):
        con.register("rosterflow_recalled_issues", issues)
        con.execute(
            f"insert into audit.issues select $run_id, {', '.join(ISSUE_SCHEMA)} "
            "from rosterflow_recalled_issues",
            {"run_id": run.run_id},
        )
        con.unregister("rosterflow_recalled_issues")
        if moved is not None and run.outcome == "applied":
            # the next run finds the lines where they are now
            write_derived(con, run.tenant, run.run_id, moved, run.settings_key, checksum)
        insert_run(con, unchanged, checksum if run.outcome == "applied" else None)
    return SyncResult.of(unchanged, None, issues)


def issues_by_lines(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    settings_key: str,
    lines: Mapping[str, pl.Series] | None,
) -> pl.DataFrame | None:
    """The issues of a feed of these `lines` (`Feed.lines`) when they are the lines of the
    tenant's last applied run in another order (or the same), validated under the same
    settings: that run's issues on the lines they moved to (`schemas.lines`), but the
    warnings only a sync's plan raises (`PLAN_STATE_RULES`). None otherwise, and then the feed
    is to be validated."""
    last = _last_applied(con, tenant)
    if lines is None or last is None or last[2] != settings_key:
        return None
    found = _moved(con, tenant, settings_key, last, lines)
    if found is None:
        return None
    return found[0].filter(~pl.col("rule").is_in(PLAN_STATE_RULES))


def _last_applied(
    con: duckdb.DuckDBPyConnection, tenant: str
) -> tuple[int, str | None, str | None, str | None] | None:
    """`run_id, content_sha256, settings_key, lms_checksum` of the tenant's last applied run."""
    found = con.execute(
        "select run_id, content_sha256, settings_key, lms_checksum from audit.sync_runs "
        "where tenant = ? and outcome = 'applied' order by run_id desc limit 1",
        [tenant],
    ).fetchall()
    return found[0] if found else None


class StoredLines(NamedTuple):
    """What the tenant's last applied run kept of its files' lines (`schemas.lines`)."""

    summaries: dict[str, LineSummary]  # per file name
    sizes: dict[str, int]  # per file name, as far as the run kept them
    settings_key: str | None = None  # the run's (`audit.sync_runs.settings_key`)


def stored_lines(
    con: duckdb.DuckDBPyConnection, tenant: str, settings_key: str | None = None
) -> StoredLines:
    """The line summaries and sizes of the files of the tenant's last applied run, as the run
    that stored them left them, under whichever settings (or only under those of
    `settings_key`); none when no run can stand on them."""
    last = _last_applied(con, tenant)
    if last is None or (settings_key is not None and last[2] != settings_key):
        return StoredLines({}, {})
    state = _line_state(con, tenant, last[1])
    if state is None:
        return StoredLines({}, {})
    return StoredLines(frame_summaries(state[0]), frame_sizes(state[0]), last[2])


def _line_state(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    contents: str | None,
    settings_key: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """The stored line summaries and marks, when a run (under these settings, if given) stored
    them for these `contents` (the tenant's last applied run's) and no undo came after it."""
    found = con.execute(
        """
        with undos as (
            select max(decisions.result_run_id) as run_id
            from audit.decisions as decisions
            join audit.sync_runs as runs on runs.run_id = decisions.result_run_id
            where decisions.decision = 'undone' and runs.tenant = $tenant
        ),

        final as (
            select derived.name, derived.records
            from oneroster.derived as derived
            join audit.sync_runs as runs on runs.run_id = derived.run_id
            where derived.tenant = $tenant
                and derived.superseded_run_id is null
                and derived.name in ($summaries, $marks)
                and ($settings_key::varchar is null or derived.settings_key = $settings_key)
                and runs.content_sha256 = $contents
                and derived.run_id > coalesce((select run_id from undos), 0)
        )

        select * from final
        """,
        {
            "tenant": tenant,
            "contents": contents,
            "summaries": LINE_SUMMARIES,
            "marks": LINE_MARKS,
            "settings_key": settings_key,
        },
    ).fetchall()
    state = {name: read_blob(blob) for name, blob in found}
    if set(state) != {LINE_SUMMARIES, LINE_MARKS} or state[LINE_SUMMARIES].height == 0:
        return None
    return state[LINE_SUMMARIES], state[LINE_MARKS]


def _moved(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    settings_key: str,
    last: tuple[int, str | None, str | None, str | None],
    lines: Mapping[str, pl.Series],
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]] | None:
    """The `last` applied run's issues on the lines they moved to, and the line state to
    store, when `lines` are the lines of that run's files in another order, and neither its
    issues nor its course hierarchy depend on their order (`schemas.lines`); None otherwise."""
    last_run, contents = last[0], last[1]
    state = _line_state(con, tenant, contents, settings_key)
    if state is None:
        return None
    summaries, marks = state
    stored = frame_summaries(summaries)
    if set(stored) != set(lines) or any(lines[f].len() != stored[f].lines for f in stored):
        return None
    if any(summary(lines[f]) != stored[f] for f in stored):
        return None
    issues = run_issues(con, last_run)
    if issues.filter(pl.col("rule").is_in(ORDER_OR_PLAN_RULES)).height:
        return None
    moved_marks = []
    for (file,), file_marks in marks.partition_by("file", as_dict=True).items():
        moved = moved_lines(lines[file], file_marks)
        if moved is None:
            return None
        moved_marks.append(moved.select("file", "line", "hash", "ordered", "new_line"))
    moved = pl.concat([marks.clear().with_columns(new_line=pl.lit(0, pl.Int64)), *moved_marks])
    issues = issues.join(moved.select("file", "line", "new_line"), on=["file", "line"], how="left")
    if issues.filter(pl.col("line").is_not_null() & pl.col("new_line").is_null()).height:
        return None  # an issue on a line the last run did not keep (it would not be found)
    issues = sort_issues(
        issues.with_columns(pl.coalesce("new_line", "line").alias("line")).select(*ISSUE_SCHEMA)
    )
    kept = moved.select("file", pl.col("new_line").alias("line"), "hash", "ordered")
    return issues, {LINE_SUMMARIES: summaries, LINE_MARKS: kept.sort("file", "line")}


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
