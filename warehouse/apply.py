"""Write a run to the warehouse in one transaction: lms, history, source records, audit.

Either everything of a run is written or nothing: a failure (or a killed process) before the
commit leaves the warehouse as it was, because DuckDB discards an uncommitted transaction.
Every statement works on a whole staged frame (set-based SQL over Arrow), never row by row.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import polars as pl

from rosterflow.schemas.changes import Plan
from rosterflow.schemas.issues import ISSUE_COLUMNS
from rosterflow.schemas.lms import ENTITIES, MANAGED_PREFIX, Entity
from rosterflow.schemas.runs import RunRecord, SyncResult
from rosterflow.warehouse.records import (
    RecordWrite,
    encode_records,
    prune_superseded,
    write_derived,
    write_records,
)
from rosterflow.warehouse.runs import insert_run
from rosterflow.warehouse.schema import (
    WarehouseError,
    error_text,
    insert_frame,
    staged,
    transaction,
)
from rosterflow.warehouse.seal import forget, note_summary, scanned_at
from rosterflow.warehouse.state import TableSummary, checksum_text, lms_checksum

# A test seam for the "killed in the middle of apply" test: when set, apply writes this file
# once lms has been changed inside the open transaction, then waits to be killed.
PAUSE_MARKER_ENV = "ROSTERFLOW_TEST_PAUSE_IN_APPLY"
# the lms rows an entity's changes replace, copied for the length of its writes
REPLACED = "rosterflow_replaced"


@dataclass
class RunWrites:
    """What an applied run writes besides its audit rows: the change set, the tenant's
    OneRoster records (per file), and the state derived for the next run to compare with."""

    plan: Plan
    records: dict[str, RecordWrite] = field(default_factory=dict)
    derived: dict[str, pl.DataFrame] = field(default_factory=dict)
    # the tenant's lms summary the plan started from (an incremental plan checked it): the
    # checksum after the run is then worked out from the rows the run wrote, not a full scan
    before: dict[str, TableSummary] | None = None
    # the derived state as stored when the run was planned, as far as the plan read it: a
    # frame of `derived` that is one of these, carried through, is kept as stored
    # (`write_derived`)
    stored_derived: dict[str, pl.DataFrame] = field(default_factory=dict)


def record_run(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    issues: pl.DataFrame,
    writes: RunWrites | None = None,
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> None:
    """Write the run in one transaction. The change set is applied to lms and history, and the
    records and derived state stored, only when the outcome is `applied` (a dry run or a held
    run records its change set in audit only). `also` writes more in the same transaction."""
    with transaction(con):
        checksum = None
        if writes is not None and run.outcome == "applied":
            summary = None if writes.before is None else dict(writes.before)
            # the run writes the tenant's lms rows: what the session knew of them no longer
            # holds, and what it works out from the rows written keeps the time of the scan
            # it was worked out from (`warehouse.seal`)
            scanned = scanned_at(con, run.tenant)
            forget(con, run.tenant)
            for name, entity_plan in writes.plan.entities.items():
                delta = _apply_entity(
                    con, ENTITIES[name], entity_plan.changes, run, summary is not None
                )
                if summary is not None:
                    summary[name] = _moved(summary[name], delta)
            _pause_for_kill_test()
            for name, write in writes.records.items():
                blob = encode_records(name, write)
                write_records(con, run.tenant, run.run_id, name, write, blob)
            if writes.records:
                prune_superseded(con, run.tenant)
            if summary is None:
                checksum = lms_checksum(con, run.tenant)
            else:
                checksum = checksum_text(summary)
                if scanned is not None:
                    note_summary(con, run.tenant, summary, scanned)
            write_derived(
                con,
                run.tenant,
                run.run_id,
                writes.derived,
                run.settings_key,
                checksum,
                writes.stored_derived,
            )
        if writes is not None and run.outcome in ("applied", "planned", "held"):
            _record_changes(con, run, writes.plan)
        if also is not None:
            also(con)
        insert_frame(
            con,
            "audit.issues",
            issues.select(pl.lit(run.run_id, pl.Int64).alias("run_id"), *ISSUE_COLUMNS),
        )
        if checksum is None and run.outcome == "applied":
            checksum = lms_checksum(con, run.tenant)
        insert_run(con, run, checksum)


def _moved(before: TableSummary, delta: tuple[int, int, int]) -> TableSummary:
    rows, hash_sum, active = delta
    return TableSummary(before.rows + rows, before.hash_sum + hash_sum, before.active + active)


def _record_changes(con: duckdb.DuckDBPyConnection, run: RunRecord, plan: Plan) -> None:
    """audit.changes of the run. An applied run's creates are stored as the id range they
    took (the view reads each created row from history); everything else row by row."""
    if run.outcome != "applied":
        insert_frame(con, "audit.changes_stored", plan.audit_rows(run.run_id))
        return
    created = plan.created_ids()
    # new ids are consecutive (plan_entity): a range says it all
    ranges = created.filter(pl.col("last_id") - pl.col("first_id") + 1 == pl.col("rows"))
    insert_frame(
        con,
        "audit.created",
        ranges.select(
            pl.lit(run.run_id, pl.Int64).alias("run_id"), "entity", "first_id", "last_id"
        ),
    )
    rows = plan.audit_rows(run.run_id, creates=ranges.height < created.height)
    rows = rows.filter(
        (pl.col("action") != "create") | ~pl.col("entity").is_in(ranges["entity"].implode())
    )
    insert_frame(con, "audit.changes_stored", rows)


def _apply_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    changes: pl.DataFrame,
    run: RunRecord,
    measure: bool,
) -> tuple[int, int, int]:
    """Write one entity's changes. With `measure`, returns how the tenant's managed rows moved:
    rows, sum of row hashes and active rows, added less removed (for the checksum after the
    run); else zeros."""
    if changes.height == 0:
        return 0, 0, 0
    table, key = entity.table, entity.id
    columns = ", ".join(entity.columns)
    # every row written is stamped with the run, but a row the change makes hand-made again
    # (an undo giving an adopted account back: `transforms.undo`) keeps the updated_run_id it
    # is given, that of the version it returns to. A sync makes no row hand-made: a hand-made
    # row it removes (its external ID was set to a managed one) was hand-made before, and is
    # stamped (the version this run ends says what it was)
    hand_made = changes.select((pl.col("origin") == "manual").any()).item()
    stamp = (
        "case when staged.origin = 'manual' and staged.{key} not in (select {key} from "
        "history.{table}_closed where closed_run_id = $run_id and origin = 'manual') "
        "then staged.updated_run_id else $run_id end"
        if hand_made
        else "$run_id"
    ).format(key=key, table=table)
    staged_columns = ", ".join(
        f"{stamp} as updated_run_id" if c == "updated_run_id" else f"staged.{c}"
        for c in entity.columns
    )
    params = {"run_id": run.run_id, "at": run.started_at}
    # a changed row is deleted and inserted again under its id, never updated in place:
    # DuckDB rewrites every column an UPDATE touches when it checkpoints, in every row group
    # holding one changed row (0.3 s for 4,000 of 428,000 users, against 0.01 s this way)
    actions = set(changes.get_column("action").unique())
    summed = "select count(*), coalesce(sum(hash(rows)), 0), count(*) filter (status = 'active')"
    # staged: the columns lms stores, and the action only where the statements must tell
    # rows apart (DuckDB converts every column staged: 2M rows on a first load at 200k)
    mixed = len(actions) > 1

    def other_than(action: str) -> str:
        return f" where staged.action <> '{action}'" if mixed and action in actions else ""

    with staged(con, "staged", changes.select(*entity.columns, *(["action"] if mixed else []))):
        removed = added = (0, 0, 0)
        if actions - {"create"}:
            replaced = f"{key} in (select {key} from staged{other_than('create')})"
            current, which = f"lms.{table}", f" where current_rows.{replaced}"
            if measure:
                # the rows this run replaces, read from lms once: a read of them by key
                # decodes every column of the whole table, and history and the summary both
                # want them (the copy's rows hash as the rows of lms: the same columns, of the
                # same types)
                con.execute(
                    f"create or replace temp table {REPLACED} as "
                    f"select * from lms.{table} where {replaced}"
                )
                current, which = REPLACED, ""
                # the managed rows only, as lms_summary counts them: an account made by hand
                # that the run adopts was never in the summary
                removed = con.execute(
                    f"{summed} from {REPLACED} as rows "
                    "where starts_with(rows.external_id, $managed)",
                    {"managed": MANAGED_PREFIX},
                ).fetchall()[0]
            # the versions this run ends: the rows as they are now, before they change. A
            # hand-made row the run adopts (or removes: its external ID was set to a managed
            # one) is kept too, with no valid_from, so that undoing the run can bring it back
            con.execute(
                f"insert into history.{table}_closed select current_rows.*, runs.started_at, $at, "
                f"runs.run_id, $run_id from {current} as current_rows "
                "left join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id "
                f"and current_rows.origin = 'sync'{which}",
                params,
            )
            if measure:
                con.execute(f"drop table {REPLACED}")
            con.execute(f"delete from lms.{table} where {replaced}")
        if actions - {"delete"}:
            kept = f"from staged{other_than('delete')}"
            con.execute(
                f"insert into lms.{table} ({columns}) select {staged_columns} {kept}",
                {"run_id": run.run_id},
            )
            if measure:
                stamped = "(rows.updated_run_id = $run_id or rows.origin = 'manual')"
                added = con.execute(
                    f"{summed} from lms.{table} as rows "
                    f"where {stamped if hand_made else 'rows.updated_run_id = $run_id'} "
                    f"and rows.{key} in (select {key} {kept}) "
                    "and starts_with(rows.external_id, $managed)",
                    {"run_id": run.run_id, "managed": MANAGED_PREFIX},
                ).fetchall()[0]
    return tuple(int(a) - int(r) for a, r in zip(added, removed, strict=True))


def _pause_for_kill_test() -> None:
    marker = os.environ.get(PAUSE_MARKER_ENV)
    if marker:
        Path(marker).write_text("lms written, transaction open\n")
        time.sleep(600)


def record_failed(
    con: duckdb.DuckDBPyConnection, run: RunRecord, issues: pl.DataFrame, error: Exception
) -> None:
    """A run that broke: its row (outcome `failed`, the error) and its issues, nothing else.
    A warehouse that cannot record even that (a full disk, a file it can no longer write) is
    unusable, a `WarehouseError` that says the run is not recorded.

    The run's transaction may still be open, aborted: its rollback can fail as what broke it
    did (DuckDB short of memory while it rolls back). It is rolled back first (or found ended),
    so that the failure has a transaction of its own to be recorded in."""
    message = error_text(error)
    with suppress(duckdb.Error):  # "no transaction is active": the run's ended as it should
        con.execute("rollback")
    try:
        record_run(con, replace(run, outcome="failed", message=message), issues)
    except duckdb.Error as unrecorded:
        raise WarehouseError(
            f"run {run.run_id} of tenant {run.tenant} failed ({message}), and recording it as "
            f"failed failed too ({error_text(unrecorded)}): both were rolled back, so the "
            "warehouse is as it was and the run is not in audit.sync_runs"
        ) from error


def record_or_fail(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    issues: pl.DataFrame,
    writes: RunWrites,
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> SyncResult:
    """`record_run`, and the run recorded as failed if that fails (then re-raised)."""
    try:
        record_run(con, run, issues, writes, also)
    except Exception as error:  # rolled back by record_run; the failure itself is recorded
        record_failed(con, run, issues, error)
        raise
    return SyncResult.of(run, writes.plan, issues)
