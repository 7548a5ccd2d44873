"""What the operator commands read and write besides a run: runs, decisions, and the rows a run
changed with their versions before it.

`audit.decisions` records each decision about a run: `approved` (a held run applied, by a new
run), `discarded` (a held run dropped) and `undone` (an applied run reverted, by a new run).
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from rosterflow.schemas.lms import ENTITIES, MANAGED_PREFIX, Entity
from rosterflow.schemas.reads import Answer, ExistingIds, ManagedRowsPointingAt, Read
from rosterflow.warehouse.runs import utc_now
from rosterflow.warehouse.schema import staged


class OperationRefused(Exception):
    """The command cannot do what was asked without harm (exit 1); the message says why and
    what to do instead."""


@dataclass(frozen=True)
class RunInfo:
    run_id: int
    tenant: str
    feed_name: str | None
    feed_sha256: str | None
    started_at: datetime
    outcome: str
    message: str | None
    content_sha256: str | None
    settings_key: str | None
    planning: str | None
    planning_note: str | None
    decision: str | None  # approved | discarded | undone (the latest decision about the run)
    decided_run_id: int | None  # the run that applied or undid it


def run_info(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    where: str = "this warehouse",
    listing: str = "`rosterflow runs`",
) -> RunInfo:
    """The run and the latest decision about it; refused when `where` (the file, as the
    refusal names it) has no such run, pointing to `listing` (the command that lists the
    runs there, with its `--warehouse`)."""
    rows = con.execute(
        """
        with decided as (
            select decision, result_run_id from audit.decisions
            where run_id = $run order by decided_at desc limit 1
        )
        select
            runs.run_id, runs.tenant, runs.feed_name, runs.feed_sha256, runs.started_at,
            runs.outcome, runs.message, runs.content_sha256, runs.settings_key, runs.planning,
            runs.planning_note, decided.decision, decided.result_run_id,
        from audit.sync_runs as runs
        left join decided on true
        where runs.run_id = $run
        """,
        {"run": run_id},
    ).fetchall()
    if not rows:
        raise OperationRefused(f"there is no run {run_id} in {where} ({listing})")
    return RunInfo(*rows[0])


def applied_since(con: duckdb.DuckDBPyConnection, tenant: str, run_id: int) -> list[int]:
    """The tenant's applied runs after `run_id`."""
    rows = con.execute(
        "select run_id from audit.sync_runs where tenant = ? and run_id > ? "
        "and outcome = 'applied' order by run_id",
        [tenant, run_id],
    ).fetchall()
    return [r[0] for r in rows]


def record_decision(
    con: duckdb.DuckDBPyConnection, run_id: int, decision: str, result_run_id: int | None
) -> None:
    con.execute(
        "insert into audit.decisions values (?, ?, ?, ?, ?)",
        [run_id, decision, utc_now(), _operator(), result_run_id],
    )


def _operator() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such user in a container's passwd
        return None


def drop_held(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
    con.execute("delete from audit.held_plans where run_id = ?", [run_id])


def last_undo(con: duckdb.DuckDBPyConnection, tenant: str) -> tuple[int, int] | None:
    """The tenant's latest undo: (the undoing run, the run it undid)."""
    rows = con.execute(
        "select decisions.result_run_id, decisions.run_id from audit.decisions as decisions "
        "join audit.sync_runs as runs on runs.run_id = decisions.result_run_id "
        "where decisions.decision = 'undone' and runs.tenant = ? "
        "order by decisions.result_run_id desc limit 1",
        [tenant],
    ).fetchall()
    return rows[0] if rows else None


# --- undo ---------------------------------------------------------------------------------------


def touched_rows(con: duckdb.DuckDBPyConnection, run_id: int) -> pl.DataFrame:
    """entity, entity_id, external_id, action of every row the run changed, and whether the
    run gave the row back to the hand that made it (`to_hand`: the undo of an adoption)."""
    return (
        con.sql(
            "select entity, entity_id, external_id, action, coalesce("
            "json_extract_string(detail, '$.origin.to') = 'manual', false) as to_hand "
            "from audit.changes where run_id = ?",
            params=[run_id],
        )
        .pl()
        .cast({"entity": pl.String, "entity_id": pl.Int64, "external_id": pl.String})
    )


def gave_back_to_hand(con: duckdb.DuckDBPyConnection, run_id: int) -> bool:
    """Whether the run gave a row back to the hand that made it (the undo of an adoption), as
    `touched_rows` tells it, without reading every change of the run."""
    return con.execute(
        "select exists (select 1 from audit.changes where run_id = ? "
        "and json_extract_string(detail, '$.origin.to') = 'manual')",
        [run_id],
    ).fetchall()[0][0]


# the rows run $run changed (`rosterflow_touched`) that a later applied run of $tenant changed
# again, by id or by external ID: run_id, and the entity and entity_id of the row run $run
# changed (a row the later run deleted and made again under another id is still that row)
_CHANGED_AGAIN = """
    with later as (
        select changes.run_id, changes.entity, changes.entity_id, changes.external_id
        from audit.changes as changes
        join audit.sync_runs as runs on runs.run_id = changes.run_id
        where runs.tenant = $tenant and runs.outcome = 'applied' and runs.run_id > $run
    ),
    -- a row changed again by id, and one by external ID: two equality joins (hashed),
    -- where one join on either (an `or`) compared every later change with every row
    -- touched, which an undo of a first load of a large district waited on
    same_id as (
        select later.run_id, touched.entity, touched.entity_id
        from later
        join rosterflow_touched as touched
            on touched.entity = later.entity and touched.entity_id = later.entity_id
    ),
    same_external_id as (
        select later.run_id, touched.entity, touched.entity_id
        from later
        join rosterflow_touched as touched
            on touched.entity = later.entity and touched.external_id = later.external_id
    ),
    changed_again as (select * from same_id union all select * from same_external_id)
"""


def later_changes(
    con: duckdb.DuckDBPyConnection, tenant: str, run_id: int, touched: pl.DataFrame
) -> pl.DataFrame:
    """Per later applied run of the tenant: how many of the rows `run_id` changed (same id, or
    same external ID) it changed again. Columns: run_id, rows."""
    with staged(con, "rosterflow_touched", touched):
        return con.sql(
            _CHANGED_AGAIN
            + """,
            final as (
                select run_id, count(distinct (entity, entity_id)) as rows
                from changed_again
                group by run_id
            )
            select * from final order by run_id
            """,
            params={"tenant": tenant, "run": run_id},
        ).pl()


def rows_changed_again(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    run_id: int,
    touched: pl.DataFrame,
    later_runs: Sequence[int],
) -> int:
    """How many of the rows `run_id` changed any of `later_runs` changed again, each row
    counted once however many of them changed it (the per-run counts of `later_changes` add
    up to more when two later runs changed one row)."""
    with staged(con, "rosterflow_touched", touched):
        return con.execute(
            _CHANGED_AGAIN
            + """,
            final as (
                select count(distinct (entity, entity_id)) as rows
                from changed_again
                where list_contains($later_runs, run_id)
            )
            select * from final
            """,
            {"tenant": tenant, "run": run_id, "later_runs": list(later_runs)},
        ).fetchall()[0][0]


def undos_after(con: duckdb.DuckDBPyConnection, run_id: int) -> list[tuple[int, int]]:
    """(the run undone, the run that undid it) of every undo of a run after `run_id`."""
    return con.execute(
        "select run_id, result_run_id from audit.decisions "
        "where decision = 'undone' and run_id > ? order by run_id",
        [run_id],
    ).fetchall()


@dataclass(frozen=True)
class UndoInputs:
    """What undoing one entity of a run starts from (see transforms.undo.undo_changes)."""

    touched: pl.DataFrame  # entity_id
    before: pl.DataFrame  # the versions the run ended
    current: pl.DataFrame  # the lms rows now with those ids
    taken: pl.Series  # external IDs of the versions before that other rows hold now
    # rows (of any tenant) that hold the id of a row the run deleted: entity_id, tenant,
    # external_id. Ids are never given again by a sync, so each is a row made by hand
    holders: pl.DataFrame


def undo_inputs(
    con: duckdb.DuckDBPyConnection, tenant: str, run_id: int, entity: Entity, touched: pl.DataFrame
) -> UndoInputs:
    columns = ", ".join(entity.columns)
    ids = touched.filter(pl.col("entity") == entity.name).select("entity_id")
    deleted = touched.filter(
        (pl.col("entity") == entity.name) & (pl.col("action") == "delete")
    ).select("entity_id")
    before = (
        con.sql(
            f"select {columns} from history.{entity.table}_closed "
            "where tenant = ? and closed_run_id = ?",
            params=[tenant, run_id],
        )
        .pl()
        .cast(entity.schema)
    )
    con.register("rosterflow_ids", ids)
    con.register("rosterflow_deleted", deleted)
    con.register("rosterflow_before", before.select(entity.id, "external_id"))
    try:
        current = (
            con.sql(
                f"select {columns} from lms.{entity.table} "
                f"where tenant = ? and {entity.id} in (select entity_id from rosterflow_ids)",
                params=[tenant],
            )
            .pl()
            .cast(entity.schema)
        )
        taken = (
            con.sql(
                f"select rows.external_id from lms.{entity.table} as rows "
                "join rosterflow_before as before on before.external_id = rows.external_id "
                f"where rows.tenant = ? and starts_with(rows.external_id, ?) "
                f"and rows.{entity.id} <> before.{entity.id}",
                params=[tenant, MANAGED_PREFIX],
            )
            .pl()
            .get_column("external_id")
            .cast(pl.String)
        )
        holders = (
            con.sql(
                f"select {entity.id} as entity_id, tenant, external_id from lms.{entity.table} "
                f"where {entity.id} in (select entity_id from rosterflow_deleted) "
                f"order by {entity.id}"
            )
            .pl()
            .cast({"entity_id": pl.Int64, "tenant": pl.String, "external_id": pl.String})
        )
    finally:
        for view in ("rosterflow_ids", "rosterflow_deleted", "rosterflow_before"):
            con.unregister(view)
    return UndoInputs(ids, before, current, taken, holders)


def managed_pointing_at(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    entity: Entity,
    deleted: Mapping[str, pl.Series],
    planned: pl.Series,
) -> pl.DataFrame:
    """The tenant's managed rows of `entity` (lms columns) that point, through any of its
    references, at a row of `deleted` (per entity referenced, the ids of the rows an undo
    deletes), but those `planned` (ids of the rows the undo itself changes): what is left
    pointing at nothing unless the undo deletes it too. One query, none when nothing it
    refers to is deleted (most undos delete nothing such rows point at)."""
    pointed = {
        ref: target
        for ref, target in entity.references.items()
        if target in deleted and deleted[target].len()
    }
    if not pointed:
        return pl.DataFrame(schema=entity.schema)
    columns = ", ".join(entity.columns)
    views = {target: f"rosterflow_deleted_{target}s" for target in dict.fromkeys(pointed.values())}
    condition = " or ".join(
        f"{ref} in (select id from {views[target]})" for ref, target in pointed.items()
    )
    with ExitStack() as stack:
        for target, view in views.items():
            stack.enter_context(staged(con, view, deleted[target].cast(pl.Int64).to_frame("id")))
        stack.enter_context(
            staged(con, "rosterflow_planned", planned.cast(pl.Int64).to_frame("id"))
        )
        return (
            con.sql(
                f"select {columns} from lms.{entity.table} "
                "where tenant = $tenant and starts_with(external_id, $managed) "
                f"and ({condition}) "
                f"and {entity.id} not in (select id from rosterflow_planned) "
                f"order by {entity.id}",
                params={"tenant": tenant, "managed": MANAGED_PREFIX},
            )
            .pl()
            .cast(entity.schema)
        )


def existing_ids(con: duckdb.DuckDBPyConnection, entity: Entity, ids: pl.Series) -> pl.Series:
    """Those of `ids` that a row of lms.<entity> holds now (of any tenant: ids are unique
    across tenants). No id, no scan."""
    if ids.len() == 0:
        return pl.Series("id", [], pl.Int64)
    with staged(con, "rosterflow_referenced", ids.cast(pl.Int64).to_frame("id")):
        return (
            con.sql(
                f"select {entity.id} as id from lms.{entity.table} "
                f"where {entity.id} in (select id from rosterflow_referenced)"
            )
            .pl()
            .get_column("id")
            .cast(pl.Int64)
        )


def answer_undo_read(con: duckdb.DuckDBPyConnection, tenant: str, read: Read) -> Answer:
    """The answer to a read an undo asks while it makes its plan exact
    (`transforms.undo.made_exact`), from the tenant's lms rows now."""
    match read:
        case ExistingIds(entity, ids):
            return existing_ids(con, ENTITIES[entity], ids)
        case ManagedRowsPointingAt(entity, deleted, planned):
            return managed_pointing_at(con, tenant, ENTITIES[entity], deleted, planned)
    raise TypeError(f"not a read of an undo: {read!r}")


# --- listing ------------------------------------------------------------------------------------


# more runs than any warehouse holds, and a BIGINT: DuckDB's LIMIT takes nothing larger
NO_LIMIT = 2**62


def list_runs(
    con: duckdb.DuckDBPyConnection, tenant: str | None = None, limit: int | None = None
) -> pl.DataFrame:
    """The runs, newest first: run_id, tenant, started_at, outcome, decision (what became of a
    held or undone run, and by which run; a held run no one decided on that a later applied
    run of its tenant overtook, which can no longer be approved, is `overtaken by run N`),
    feed_name, changes, planning, message. `tenant`
    is matched as written, else as one text in another Unicode form (`Montréal` with its `é`
    as one character or as `e` and a combining accent, as a Mac's keyboard gives it): both
    print alike, and "no runs of tenant Montréal" beside a tenant Montréal with runs reads
    as nonsense. A warehouse holding both forms (synced before syncs refused the second)
    lists the form asked for."""
    return con.sql(
        """
        with asked as (
            select
                $tenant is null
                or exists (select 1 from audit.sync_runs where tenant = $tenant) as exactly
        ),
        changes as (
            select run_id, count(*) as changes from audit.changes_stored group by run_id
            union all
            select run_id, sum(last_id - first_id + 1) as changes from audit.created
            group by run_id
        ),
        change_counts as (
            select run_id, sum(changes)::bigint as changes from changes group by run_id
        ),
        decisions as (
            select run_id, decision || coalesce(' by run ' || result_run_id, '') as decision,
                decided_at
            from audit.decisions
            union all
            -- a held run no one decided on, and a later run applied to its tenant: its plan no
            -- longer fits (`approve` refuses it), which its row must not hide behind `held`
            select held.run_id, 'overtaken by run ' || min(later.run_id), min(later.started_at)
            from audit.sync_runs as held
            join audit.sync_runs as later
                on later.tenant = held.tenant
                and later.run_id > held.run_id
                and later.outcome = 'applied'
            where held.outcome = 'held'
                and held.run_id not in (select run_id from audit.decisions)
            group by held.run_id
        ),
        decided as (
            select run_id, string_agg(decision, '; ' order by decided_at) as decision,
            from decisions
            group by run_id
        ),
        final as (
            select
                runs.run_id,
                runs.tenant,
                runs.started_at,
                runs.outcome,
                decided.decision,
                runs.feed_name,
                coalesce(change_counts.changes, 0) as changes,
                runs.planning,
                runs.message,
            from audit.sync_runs as runs
            left join change_counts on change_counts.run_id = runs.run_id
            left join decided on decided.run_id = runs.run_id
            cross join asked
            where $tenant is null
                or runs.tenant = $tenant
                or (not asked.exactly and nfc_normalize(runs.tenant) = nfc_normalize($tenant))
            order by runs.run_id desc
            limit $limit
        )
        select * from final
        """,
        # (a limit past what a BIGINT holds, `--limit 99999999999999999999999`, is no limit)
        params={"tenant": tenant, "limit": min(NO_LIMIT if limit is None else limit, NO_LIMIT)},
    ).pl()


def tenants_with_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tenants with at least one run, in order."""
    rows = con.execute("select distinct tenant from audit.sync_runs order by tenant").fetchall()
    return [tenant for (tenant,) in rows]
