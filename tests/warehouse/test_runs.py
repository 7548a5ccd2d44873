"""The runs in audit against a real DuckDB file: run ids, the recall of a feed the tenant's last
applied run already had, an attempt's recorded run, and the applied run of a feed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import Plan
from rosterflow.warehouse.apply import RunWrites, record_run
from rosterflow.warehouse.runs import (
    applied_run_of_feed,
    next_run_id,
    recall,
    recorded_attempt,
    run_issues,
)
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import lms_checksum
from tests.recorded import NO_ISSUES, WARNING, apply_first_run, first_run_writes, run_record
from tests.states import TENANT


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        yield con


def record(con, outcome: str = "applied", plan: Plan | None = None, **fields) -> int:
    """Record a run of the tenant (its changes, if `plan`), lms left as it is."""
    run = run_record(con, outcome, **fields)
    record_run(con, run, NO_ISSUES, None if plan is None else RunWrites(plan))
    return run.run_id


# --- run ids -----------------------------------------------------------------------------------


def test_run_ids_count_up_from_one(con):
    assert next_run_id(con) == 1
    record(con)
    record(con, "rejected")
    assert next_run_id(con) == 3


def test_run_ids_of_a_file_in_a_per_tenant_layout_start_above_its_id_range(tmp_path):
    with connect(tmp_path / "t.duckdb", id_space=(TENANT, 5_000_000)) as con:
        assert next_run_id(con) == 5_000_001
        record(con)
        assert next_run_id(con) == 5_000_002


# --- recall ------------------------------------------------------------------------------------


def test_nothing_is_recalled_before_a_run_was_applied(con):
    record(con, "rejected")
    record(con, "planned")
    assert recall(con, run_record(con)) is None


def test_the_same_contents_and_settings_with_lms_untouched_are_recalled(con):
    first = apply_first_run(con)
    run = run_record(con, feed_name="again.zip")
    result = recall(con, run)
    assert result is not None
    note = f"the same contents as run {first.run_id}, lms untouched since"
    message = f"the same feed as run {first.run_id}, and lms as it left it: nothing to change"
    assert (result.run_id, result.outcome, result.planning, result.planning_note) == (
        run.run_id,
        "applied",
        "recalled",
        note,
    )
    assert result.message == message
    assert result.summary.is_empty()
    # the same bytes raise the same issues: the earlier run's, recorded for this one too
    assert_frame_equal(result.issues, WARNING)
    assert_frame_equal(run_issues(con, run.run_id), WARNING)
    assert con.execute(
        "select feed_name, outcome, message, planning, planning_note, lms_checksum "
        "from audit.sync_runs where run_id = ?",
        [run.run_id],
    ).fetchall() == [("again.zip", "applied", message, "recalled", note, lms_checksum(con, TENANT))]


def test_a_dry_run_recalled_records_no_lms_checksum(con):
    apply_first_run(con)
    run = run_record(con, "planned")
    assert recall(con, run).outcome == "planned"
    assert con.execute(
        "select outcome, planning, lms_checksum from audit.sync_runs where run_id = ?",
        [run.run_id],
    ).fetchall() == [("planned", "recalled", None)]


@pytest.mark.parametrize(
    "differs",
    [
        {"content_sha256": "0" * 64},
        {"settings_key": "rosterflow test settings, users deleted"},
    ],
    ids=["contents", "settings"],
)
def test_other_contents_or_settings_are_not_recalled(con, differs):
    apply_first_run(con)
    run = run_record(con, **differs)
    assert recall(con, run) is None
    assert next_run_id(con) == run.run_id  # nothing recorded


def test_lms_changed_by_hand_since_is_not_recalled(con):
    apply_first_run(con)
    con.execute("update lms.users set given_name = 'Samuel' where external_id = 'or--u-s1'")
    assert recall(con, run_record(con)) is None


def test_only_the_tenants_last_applied_run_is_recalled(con):
    apply_first_run(con)
    # a later applied run of other contents (that changed nothing)
    record(con, content_sha256="1" * 64)
    assert recall(con, run_record(con)) is None
    # runs that were not applied, and other tenants' runs, do not count
    record(con, "held", content_sha256="2" * 64)
    record(con, tenant="another district", content_sha256="3" * 64)
    assert recall(con, run_record(con, content_sha256="1" * 64)) is not None


def test_an_applied_run_without_an_lms_checksum_is_not_recalled(con):
    first = apply_first_run(con)
    con.execute("update audit.sync_runs set lms_checksum = null where run_id = ?", [first.run_id])
    assert recall(con, run_record(con)) is None


# --- recorded attempts -------------------------------------------------------------------------


def test_an_attempt_that_recorded_no_run_has_none(con):
    record(con, attempt_key="flow-run-1")
    assert recorded_attempt(con, "flow-run-2") is None


def test_an_attempt_gives_back_the_run_it_recorded_unless_it_failed(con):
    plan = first_run_writes().plan
    earlier = record(con, "planned", plan, attempt_key="flow-run-1", planning="full")
    record(con, "failed", attempt_key="flow-run-1", message="OSError: disk full")
    result = recorded_attempt(con, "flow-run-1")
    assert (result.run_id, result.outcome, result.planning) == (earlier, "planned", "full")
    assert_frame_equal(result.summary, plan.summary())
    assert result.issues.is_empty()


def test_an_attempt_that_only_failed_is_tried_again(con):
    record(con, "failed", attempt_key="flow-run-1", message="OSError: disk full")
    assert recorded_attempt(con, "flow-run-1") is None


def test_the_latest_run_of_an_attempt_is_given_back(con):
    record(con, "rejected", attempt_key="flow-run-1")
    latest = record(con, "held", attempt_key="flow-run-1")
    assert recorded_attempt(con, "flow-run-1").run_id == latest


# --- the applied run of a feed -----------------------------------------------------------------


def test_the_last_applied_run_of_a_feed_by_its_bytes(con):
    assert applied_run_of_feed(con, "f" * 64) is None
    record(con, "held")
    record(con, "planned")
    assert applied_run_of_feed(con, "f" * 64) is None
    first = record(con)
    assert applied_run_of_feed(con, "f" * 64) == (first, TENANT)
    later = record(con, tenant="another district")
    record(con, "rejected")
    assert applied_run_of_feed(con, "f" * 64) == (later, "another district")
    assert applied_run_of_feed(con, "e" * 64) is None


def test_recorded_runs_keep_what_start_run_gave_them(con):
    run = replace(run_record(con), full=True, attempt_key="flow-run-9")
    record_run(con, run, NO_ISSUES)
    assert con.execute(
        "select run_id, tenant, feed_name, started_at, attempt_key from audit.sync_runs"
    ).fetchall() == [(run.run_id, TENANT, "district.zip", run.started_at, "flow-run-9")]
    assert run_issues(con, run.run_id).is_empty()
