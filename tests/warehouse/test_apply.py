"""Writing a run: a run that fails is recorded as failed, unless the warehouse cannot record
even that, and then nothing says it was; each row written is stamped with its run."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from rosterflow.warehouse import apply
from rosterflow.warehouse.schema import OUT_OF_MEMORY_ADVICE, WarehouseError
from tests.feeds import tiny_district, with_cell
from tests.syncing import Warehouse


def test_a_run_the_warehouse_cannot_record_as_failed_is_an_unusable_warehouse(
    tmp_path, monkeypatch
):
    warehouse = Warehouse(tmp_path, tenant="north")
    assert warehouse.sync(tiny_district()).outcome == "applied"
    recorded = apply.record_run

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    def record_run(con, run, issues, writes=None, also=None):
        if run.outcome == "failed":  # as when the disk stays full, or the .wal cannot be made
            raise duckdb.IOException('Cannot open file "w.duckdb.wal": Permission denied')
        recorded(con, run, issues, writes, also)

    monkeypatch.setattr(apply, "_pause_for_kill_test", disk_full)
    monkeypatch.setattr(apply, "record_run", record_run)
    changed = with_cell(tiny_district(), "users", 0, "familyName", "Byron")

    with pytest.raises(WarehouseError) as unusable:
        warehouse.sync(changed)

    message = str(unusable.value)
    assert message.startswith("run 2 of tenant north failed (OSError: [Errno 28] No space")
    assert "recording it as failed failed too (IOException: " in message
    assert message.endswith("the run is not in audit.sync_runs")
    assert isinstance(unusable.value.__cause__, OSError)
    monkeypatch.undo()
    assert warehouse.query("select run_id, outcome from audit.sync_runs").rows() == [(1, "applied")]


def test_a_run_whose_rollback_failed_too_is_still_recorded_as_failed(tmp_path, monkeypatch):
    """DuckDB short of memory can fail the run's rollback as it failed its writes, leaving the
    transaction open and aborted: the failure is recorded all the same, in one of its own,
    with what to do instead of DuckDB's advice on tuning itself."""
    warehouse = Warehouse(tmp_path, tenant="north")
    assert warehouse.sync(tiny_district()).outcome == "applied"
    recorded = apply.record_run

    def record_run(con, run, issues, writes=None, also=None):
        if run.outcome == "failed":
            return recorded(con, run, issues, writes, also)
        con.execute("begin transaction")
        with pytest.raises(duckdb.ConversionException):
            con.execute("select 'not a number'::integer")  # the transaction is aborted now
        raise duckdb.OutOfMemoryException(
            "Out of Memory Error: failed to allocate data of size 16.0 KiB\n\nPossible "
            "solutions:\n* Reducing the number of threads (SET threads=X)"
        )

    monkeypatch.setattr(apply, "record_run", record_run)
    changed = with_cell(tiny_district(), "users", 0, "familyName", "Byron")

    with pytest.raises(duckdb.OutOfMemoryException):
        warehouse.sync(changed)

    monkeypatch.undo()
    runs = warehouse.query("select run_id, outcome, message from audit.sync_runs order by run_id")
    assert runs.rows() == [
        (1, "applied", None),
        (
            2,
            "failed",
            "OutOfMemoryException: Out of Memory Error: failed to allocate data of size 16.0 KiB; "
            + OUT_OF_MEMORY_ADVICE,
        ),
    ]
    assert warehouse.query("select count(*) from lms.users where family_name = 'Byron'").rows() == [
        (0,)
    ]


def test_a_hand_made_row_a_sync_removes_is_stamped_with_the_run(tmp_path):
    # the rows a change makes hand-made keep the updated_run_id it gives them (an undo of an
    # adoption: tests/flows/test_pipeline_adoption.py); a sync makes none, and a hand-made row
    # it removes (its external ID set to a managed one by hand) is stamped as any it writes
    warehouse = Warehouse(tmp_path)
    unguarded = {"safety": {"max_removal_share": 1, "max_school_removal_share": 1}}
    warehouse.sync(tiny_district(), settings=unguarded)
    warehouse.execute("update lms.users set origin = 'manual' where external_id = 'or--u-s2'")
    district = tiny_district()
    gone = district | {"users": district["users"].filter(pl.col("sourcedId") != "u-s2")}
    gone["enrollments"] = district["enrollments"].filter(pl.col("userSourcedId") != "u-s2")

    removed = warehouse.sync(gone, settings=unguarded)

    assert ("user", "or--u-s2", "inactivate") in warehouse.actions(removed.run_id)
    row = warehouse.row("users", "or--u-s2")
    assert (row["origin"], row["status"], row["updated_run_id"]) == (
        "manual",
        "inactive",
        removed.run_id,
    )


def test_the_rows_a_run_replaces_are_closed_in_history_as_they_were_and_counted_exactly(tmp_path):
    # a run reads the rows it replaces once, for history and for the lms summary it works out
    # from what it wrote (`_apply_entity`): the versions closed are the rows as lms held them,
    # and the checksum it records is the one a scan of every managed row finds
    from rosterflow.warehouse.state import lms_checksum

    warehouse = Warehouse(tmp_path)
    unguarded = {"safety": {"max_removal_share": 1, "max_school_removal_share": 1}}
    district = tiny_district()
    warehouse.sync(district, settings=unguarded)
    renamed = warehouse.row("users", f"or--{district['users']['sourcedId'][0]}")
    gone = district["enrollments"].row(-1, named=True)
    ended = warehouse.row("enrollments", f"or--{gone['sourcedId']}")
    changed = with_cell(district, "users", 0, "givenName", "Renamed")
    changed["enrollments"] = district["enrollments"].head(-1)

    again = warehouse.sync(changed, settings=unguarded)

    assert again.planning == "incremental", again.planning_note
    for table, row in (("users", renamed), ("enrollments", ended)):
        key = "user_id" if table == "users" else "enrollment_id"
        closed = warehouse.query(
            f"select * from history.{table}_closed where {key} = ? and closed_run_id = ?",
            [row[key], again.run_id],
        )
        assert closed.select(*row).rows(named=True) == [row]
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        recorded = con.execute(
            "select lms_checksum from audit.sync_runs where run_id = ?", [again.run_id]
        ).fetchall()
        assert recorded == [(lms_checksum(con, warehouse.tenant),)]
