"""Held runs: a run over a safety guard keeps its whole plan until a person decides.

`store_held` writes everything `record_run` would apply (the change rows of each entity, the
records and the derived state) into audit.held_plans, with the state the plan started from:
the tenant's lms checksum and the next free ids, and for a plan that adopts accounts made by
hand, or creates users, a checksum of those accounts too (the managed rows' checksum leaves
them out, and such a plan depends on them: the one candidate of a record must still be the
one, as it was, and a user it creates must have no account made by hand since to adopt, or
whose login it would take).
`load_held` reads it back. Approving applies exactly that plan, provided the tenant's lms is
still in that state (`flows.operations`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import polars as pl

from rosterflow.schemas.changes import EntityPlan, Plan
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.runs import RunRecord
from rosterflow.warehouse.apply import RunWrites, record_run
from rosterflow.warehouse.operations import OperationRefused
from rosterflow.warehouse.records import RecordWrite, parquet_blob, read_blob
from rosterflow.warehouse.state import (
    TableSummary,
    checksum_text,
    hand_made_users_checksum,
    lms_checksum,
)


@dataclass(frozen=True)
class HeldState:
    """What a held plan started from."""

    lms_checksum: str
    next_ids: dict[str, int]
    planning: str | None
    planning_note: str | None
    # of a plan that adopts or creates users: the tenant's users made by hand
    # (`hand_made_users_checksum`); None for any other plan, and for a plan held before it
    # was kept
    hand_made_checksum: str | None = None


class OutdatedHeldPlan(OperationRefused):
    """A held plan that predates lms tables this rosterflow syncs."""


class MissingHeldPlan(OperationRefused):
    """A held run whose plan is gone from audit.held_plans."""


def hold_run(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    issues: pl.DataFrame,
    writes: RunWrites,
    next_ids: dict[str, int],
) -> None:
    """Record a run held over a guard (its outcome `held`), with its whole plan kept for
    approval and the state it started from: lms's checksum and the next free ids."""
    before = writes.before
    state = HeldState(
        lms_checksum(con, run.tenant) if before is None else checksum_text(before),
        next_ids,
        run.planning,
        run.planning_note,
        hand_made_users_checksum(con, run.tenant) if meets_hand_made(writes.plan) else None,
    )
    record_run(
        con, run, issues, writes, also=lambda con_: store_held(con_, run.run_id, writes, state)
    )


def undecided_held_since(con: duckdb.DuckDBPyConnection, tenant: str, run_id: int) -> list[int]:
    """The tenant's held runs after `run_id` that no one approved or discarded yet."""
    rows = con.execute(
        """
        select run_id from audit.sync_runs
        where tenant = $tenant and run_id > $run and outcome = 'held'
            and run_id not in (select run_id from audit.decisions)
        order by run_id
        """,
        {"tenant": tenant, "run": run_id},
    ).fetchall()
    return [row[0] for row in rows]


def meets_hand_made(plan: Plan) -> bool:
    """Whether `plan` adopts an account (`adopt`s a user) or creates a user: an account made by
    hand after it was planned may be a second candidate, or one that a user it creates should
    have adopted (`[identity] adopt_by`), or whose login that user takes."""
    users = plan.entities.get("user")
    return users is not None and users.changes.get_column("action").is_in(["adopt", "create"]).any()


def store_held(
    con: duckdb.DuckDBPyConnection, run_id: int, writes: RunWrites, state: HeldState
) -> None:
    """Keep a held run's plan (inside the caller's transaction)."""
    rows: list[tuple[str, str, str | None, bytes | None]] = []
    for name, entity_plan in writes.plan.entities.items():
        detail = {"managed_active": entity_plan.managed_active}
        rows.append(("changes", name, json.dumps(detail), parquet_blob(entity_plan.changes)))
    for name, write in writes.records.items():
        detail = {
            "patch": write.patch,
            "fingerprint": write.fingerprint,
            "validated_under": write.validated_under,
            "removed": write.removed.to_list(),
        }
        rows.append(("records", name, json.dumps(detail), parquet_blob(write.rows)))
    for name, frame in writes.derived.items():
        rows.append(("derived", name, None, parquet_blob(frame)))
    before = (
        None
        if writes.before is None
        else {n: [s.rows, s.hash_sum, s.active] for n, s in writes.before.items()}
    )
    rows.append(
        (
            "state",
            "state",
            json.dumps(
                {
                    "lms_checksum": state.lms_checksum,
                    "next_ids": state.next_ids,
                    "planning": state.planning,
                    "planning_note": state.planning_note,
                    "hand_made_checksum": state.hand_made_checksum,
                    "tenant": writes.plan.tenant,
                    # sums of 64-bit hashes outgrow a JSON number in some readers: as text
                    "before": None
                    if before is None
                    else {n: [r, str(h), a] for n, (r, h, a) in before.items()},
                }
            ),
            None,
        )
    )
    for part, name, detail, blob in rows:  # a few dozen parts, each a whole frame
        con.execute(
            "insert into audit.held_plans values (?, ?, ?, ?, ?)",
            [run_id, part, name, detail, blob],
        )


def load_held(
    con: duckdb.DuckDBPyConnection, run_id: int, discard: str | None = None
) -> tuple[RunWrites, HeldState]:
    """The held run's plan and the state it started from. A plan this rosterflow cannot apply
    is refused, saying to sync again and that `discard` (the command that drops the run, with
    the warehouse named: `rosterflow discard RUN` reads the default one) drops it."""
    parts = con.execute(
        "select part, name, detail, records from audit.held_plans where run_id = ?", [run_id]
    ).fetchall()
    by_part: dict[str, dict[str, tuple[dict | None, bytes | None]]] = {}
    for part, name, detail, blob in parts:
        by_part.setdefault(part, {})[name] = (json.loads(detail) if detail else None, blob)
    drops = f"`{discard or f'rosterflow discard {run_id}'}` drops this run"
    if "state" not in by_part.get("state", {}):
        # its rows deleted from audit.held_plans (by hand, to free their space): a KeyError
        # traceback otherwise, where the run can still be discarded
        raise MissingHeldPlan(
            f"run {run_id} is held, but its plan is not in audit.held_plans (deleted by "
            f"hand?): it cannot be applied; sync the feed again ({drops})"
        )
    state, _ = by_part["state"]["state"]
    plan = Plan(state["tenant"])
    missing = [name for name in ENTITIES if name not in by_part.get("changes", {})]
    if missing:
        raise OutdatedHeldPlan(
            f"run {run_id} was held by an older rosterflow, whose plan has no "
            f"{', '.join(missing)} changes: it cannot be applied as planned; sync the feed again "
            f"({drops})"
        )
    for name, entity in ENTITIES.items():
        detail, blob = by_part["changes"][name]
        plan.entities[name] = EntityPlan(entity, read_blob(blob), detail["managed_active"])
    records = {
        name: RecordWrite(
            read_blob(blob),
            pl.Series("sourcedId", detail["removed"], pl.String),
            detail["patch"],
            detail["fingerprint"],
            detail["validated_under"],
        )
        for name, (detail, blob) in by_part.get("records", {}).items()
    }
    derived = {name: read_blob(blob) for name, (_, blob) in by_part.get("derived", {}).items()}
    before = (
        None
        if state["before"] is None
        else {n: TableSummary(r, int(h), a) for n, (r, h, a) in state["before"].items()}
    )
    held = HeldState(
        state["lms_checksum"],
        {n: int(i) for n, i in state["next_ids"].items()},
        state["planning"],
        state["planning_note"],
        state.get("hand_made_checksum"),
    )
    return RunWrites(plan, records, derived, before), held
