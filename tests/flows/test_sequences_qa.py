"""Commands in sequence on one warehouse: resyncs that carry the derived state through as they
read it (`write_derived` keeps its blob, stamped with the run), an undo of such a run, a held
run approved, a recall. After every command the warehouse is exact: no managed row points at
nothing, the lms checksum a run worked out from its own writes is the one a scan finds, the
tenant keeps one live derived row per name, each from an applied run; and every resync leaves
what a `--full` run on a copy of the warehouse leaves (issues, plan, lms, history, audit, the
stored records and the derived state)."""

from __future__ import annotations

import itertools

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.flows.operations import approve_run, undo_run
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.records import stored_records
from rosterflow.warehouse.state import lms_checksum
from tests.feeds import tiny_district, with_cell, with_resources
from tests.flows.test_pipeline_incremental import TENANT, synced_as_in_full
from tests.flows.test_undo_force_exact import dangling
from tests.syncing import Warehouse


def assert_exact(w: Warehouse) -> None:
    assert dangling(w) == {}
    with duckdb.connect(str(w.path), read_only=True) as con:
        # a plain connection has no seal to vouch for the summary: this is a scan
        scanned = lms_checksum(con, TENANT)
        recorded = con.execute(
            "select lms_checksum from audit.sync_runs where tenant = ? and outcome = 'applied' "
            "order by run_id desc limit 1",
            [TENANT],
        ).fetchall()
        assert recorded == [(scanned,)]
        live = con.execute(
            "select name, count(*), bool_and(runs.outcome = 'applied') "
            "from oneroster.derived as derived join audit.sync_runs as runs using (run_id) "
            "where derived.tenant = ? and derived.superseded_run_id is null group by name",
            [TENANT],
        ).fetchall()
        assert all(count == 1 and applied for _, count, applied in live), live


def lms_and_records(w: Warehouse) -> dict[str, pl.DataFrame]:
    """The tenant's lms rows (but the run that wrote each: an undo writes the row it brings
    back) and stored records (their fields), in a stable order."""
    found = {f"lms.{e.table}": w.table(e.table).drop("updated_run_id") for e in ENTITIES.values()}
    with duckdb.connect(str(w.path), read_only=True) as con:
        records = stored_records(con, TENANT)
    for name in SYNCED_FILES:
        found[f"records.{name}"] = records[name].drop("run_id", "line").sort("sourcedId")
    return found


def derived_blobs(w: Warehouse, *names: str) -> dict[str, bytes]:
    rows = w.query("select name, records from oneroster.derived where tenant = ?", [TENANT])
    return {name: bytes(blob) for name, blob in rows.rows() if name in names}


def last_run(w: Warehouse) -> dict:
    return w.query("select * from audit.sync_runs order by run_id desc limit 1").row(0, named=True)


@pytest.mark.slow  # (over 2 s of 2 cores; test_derived_writes checks the kept frame alone)
def test_resyncs_undos_and_approvals_in_sequence_leave_what_runs_in_full_leave(tmp_path):
    w = Warehouse(tmp_path)
    oracle = tmp_path / "oracle.duckdb"
    feeds = itertools.count(1)

    def resync(frames) -> dict:
        feed = write_feed(tmp_path / f"seq-{next(feeds)}.zip", frames)
        synced_as_in_full(w.path, oracle, feed)
        assert_exact(w)
        return last_run(w)

    district = with_resources(tiny_district())
    w.sync(district)
    assert_exact(w)

    # a resource retitled: the grade levels and the desired courses are carried through
    retitled = with_cell(district, "resources", 0, "title", "Algebra I (third edition)")
    carried = resync(retitled)
    assert carried["planning"] == "incremental", carried["planning_note"]
    before = lms_and_records(w)
    kept_blobs = derived_blobs(w, "grade_levels", "desired_courses")
    again = with_cell(retitled, "resources", 1, "title", "Virtual Lab II")
    carried_again = resync(again)
    assert carried_again["planning"] == "incremental", carried_again["planning_note"]
    assert derived_blobs(w, "grade_levels", "desired_courses") == kept_blobs
    stamped = w.query("select distinct run_id from oneroster.derived").rows()
    assert stamped == [(carried_again["run_id"],)]

    # its undo brings back the state before it, and the next resync is planned in full
    undo_run(w.path, carried_again["run_id"])
    assert_exact(w)
    assert derived_blobs(w, "grade_levels", "desired_courses") == {}
    after_undo = lms_and_records(w)
    for what, rows in before.items():
        assert_frame_equal(after_undo[what], rows, check_dtypes=False)
    assert resync(again)["planning"] == "full"

    # a teacher change (the course hierarchy), then the same feed again: recalled
    swapped = with_cell(again, "enrollments", 4, "userSourcedId", "u-t1")
    assert resync(swapped)["planning"] == "incremental"
    recalled = w.sync(swapped)
    assert recalled.planning == "recalled", recalled.planning_note
    assert_exact(w)

    # a held run approved, then a resync standing on the approval
    emptied = swapped | {"enrollments": swapped["enrollments"].head(3)}
    held = w.sync(emptied)
    assert held.outcome == "held"
    approve_run(w.path, held.run_id)
    assert_exact(w)
    renamed = with_cell(emptied, "users", 0, "givenName", "Renamed")
    assert resync(renamed)["planning"] == "incremental"
