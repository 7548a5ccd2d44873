"""Held runs against a real DuckDB file: `hold_run` records the run as held with its whole plan
kept, and nothing else; `load_held` gives back exactly what was kept."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.lms import ENTITIES
from rosterflow.warehouse.apply import RunWrites
from rosterflow.warehouse.held import HeldState, OutdatedHeldPlan, hold_run, load_held
from rosterflow.warehouse.records import RecordWrite
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import (
    TableSummary,
    checksum_text,
    hand_made_users_checksum,
    lms_checksum,
    next_ids,
)
from tests.recorded import WARNING, apply_first_run, first_run_writes, run_record
from tests.states import TENANT

HELD = "this feed would remove 3 of the tenant's 10 active managed users (30%)"
# a sum of 64-bit hashes: more than a JSON number holds exactly in many readers
HUGE = 2**64 * 3 + 12345


def writes_to_hold() -> RunWrites:
    """The first run's writes, with a patch among the record writes."""
    writes = first_run_writes()
    users = writes.records["users"]
    patch = RecordWrite(
        users.rows.head(2), pl.Series("sourcedId", ["u-gone"]), True, None, "older settings"
    )
    return replace(writes, records={"users": patch, "orgs": writes.records["orgs"]})


def lms_and_stored(con) -> dict[str, pl.DataFrame]:
    """Every lms and history table, and the stored records and derived state, in a stable
    order."""
    tables = [f"lms.{e.table}" for e in ENTITIES.values()]
    tables += [f"history.{e.table}_closed" for e in ENTITIES.values()]
    tables += ["oneroster.snapshots", "oneroster.snapshot_patches", "oneroster.derived"]
    return {table: con.sql(f"select * from {table} order by all").pl() for table in tables}


def test_a_held_run_is_recorded_held_with_its_changes_and_issues(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        writes = writes_to_hold()
        run = run_record(con, "held", message=HELD, planning="full", planning_note="first run")
        hold_run(con, run, WARNING, writes, next_ids(con))
        assert con.execute(
            "select run_id, tenant, outcome, message, planning, lms_checksum from audit.sync_runs"
        ).fetchall() == [(run.run_id, TENANT, "held", HELD, "full", None)]
        changes = con.sql(
            "select run_id, entity, external_id, action, detail, entity_id from audit.changes"
        ).pl()
        assert_frame_equal(
            changes, writes.plan.audit_rows(run.run_id), check_row_order=False, check_dtypes=False
        )
        assert_frame_equal(
            con.sql("select * exclude (run_id) from audit.issues").pl(),
            WARNING,
            check_dtypes=False,
        )


def test_holding_a_run_changes_nothing_of_lms_or_the_stored_records(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        apply_first_run(con)
        before, checksum = lms_and_stored(con), lms_checksum(con, TENANT)
        hold_run(con, run_record(con, "held", message=HELD), WARNING, writes_to_hold(), {})
        after = lms_and_stored(con)
        for table, rows in before.items():
            assert_frame_equal(after[table], rows, check_row_order=True)
        assert lms_checksum(con, TENANT) == checksum


def test_load_held_gives_back_exactly_the_writes_and_state_kept(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        apply_first_run(con)
        writes = writes_to_hold()
        free = next_ids(con)
        run = run_record(
            con, "held", message=HELD, planning="incremental", planning_note="3 of 29 changed"
        )
        hold_run(con, run, WARNING, writes, free)
        loaded, state = load_held(con, run.run_id)
        # (the plan creates users: the accounts made by hand are kept with it, `meets_hand_made`)
        assert state == HeldState(
            lms_checksum(con, TENANT),
            free,
            "incremental",
            "3 of 29 changed",
            hand_made_users_checksum(con, TENANT),
        )
        assert loaded.plan.tenant == TENANT
        assert list(loaded.plan.entities) == list(ENTITIES)
        for name, kept in writes.plan.entities.items():
            assert_frame_equal(loaded.plan.entities[name].changes, kept.changes)
            assert loaded.plan.entities[name].managed_active == kept.managed_active
        assert set(loaded.records) == {"users", "orgs"}
        for name, kept in writes.records.items():
            got = loaded.records[name]
            assert_frame_equal(got.rows, kept.rows)
            assert_frame_equal(got.removed.to_frame(), kept.removed.to_frame())
            assert (got.patch, got.fingerprint, got.validated_under) == (
                kept.patch,
                kept.fingerprint,
                kept.validated_under,
            )
        assert set(loaded.derived) == set(writes.derived)
        for name, frame in writes.derived.items():
            assert_frame_equal(loaded.derived[name], frame)
        assert loaded.before is None


def test_the_lms_summary_a_plan_started_from_is_kept_to_the_last_digit(tmp_path):
    summary = {name: TableSummary(2, HUGE + i, 1) for i, name in enumerate(ENTITIES)}
    with connect(tmp_path / "w.duckdb") as con:
        writes = replace(writes_to_hold(), before=summary)
        run = run_record(con, "held", message=HELD)
        hold_run(con, run, WARNING, writes, next_ids(con))
        loaded, state = load_held(con, run.run_id)
    assert loaded.before == summary
    # the checksum of the summary given, not of lms now (which is empty)
    assert state.lms_checksum == checksum_text(summary)


def test_a_plan_held_by_an_older_rosterflow_without_an_entity_is_refused(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        run = run_record(con, "held", message=HELD)
        hold_run(con, run, WARNING, writes_to_hold(), next_ids(con))
        # the plan of a rosterflow before resources were synced
        con.execute(
            "delete from audit.held_plans where run_id = ? and part = 'changes' "
            "and name in ('resource', 'class_resource', 'course_resource')",
            [run.run_id],
        )
        with pytest.raises(OutdatedHeldPlan) as refused:
            load_held(con, run.run_id)
    assert str(refused.value) == (
        f"run {run.run_id} was held by an older rosterflow, whose plan has no resource, "
        "class_resource, course_resource changes: it cannot be applied as planned; sync the "
        f"feed again (`rosterflow discard {run.run_id}` drops this run)"
    )
