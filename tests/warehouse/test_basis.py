"""What a run reads of the tenant before it plans, against a real DuckDB file: the stored state
(records, hashes, lms summary, closed references) and the basis of an incremental plan, or why
there is none."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.records import ROW_HASH
from rosterflow.schemas.references import CLOSED_SCHEMA
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.warehouse.apply import RunWrites, record_run
from rosterflow.warehouse.basis import (
    IncrementalBasis,
    StoredState,
    incremental_basis,
    stored_state,
)
from rosterflow.warehouse.operations import record_decision
from rosterflow.warehouse.records import CLOSED_REFERENCES, RecordWrite, StoredFile
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import lms_summary
from tests.recorded import (
    NO_ISSUES,
    SETTINGS_KEY,
    WARNING,
    first_run_writes,
    no_changes,
    run_record,
)
from tests.states import TENANT, district, records

CLOSED = pl.DataFrame(
    [("enrollments", "userSourcedId", "users"), ("classes", "courseSourcedId", "courses")],
    schema=CLOSED_SCHEMA,
    orient="row",
)


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        yield con


def apply_first(con, **derived: pl.DataFrame | None) -> int:
    """The tenant's first run, applied, with its derived frames as given (None: left out)."""
    writes = first_run_writes()
    frames = {
        name: frame for name, frame in (writes.derived | derived).items() if frame is not None
    }
    run = run_record(con)
    record_run(con, run, WARNING, replace(writes, derived=frames))
    return run.run_id


def patch_users(con) -> int:
    """A later applied run that stored a patch of users.csv (lms left as it was)."""
    sam = records(district(), 2)["users"].head(1)
    run = run_record(con)
    patch = RecordWrite(sam, pl.Series("sourcedId", [], pl.String), True, None, SETTINGS_KEY)
    record_run(con, run, NO_ISSUES, RunWrites(no_changes(), {"users": patch}))
    return run.run_id


# --- the stored state --------------------------------------------------------------------------


def test_a_tenant_never_synced_has_nothing_stored(con):
    assert stored_state(con, run_record(con)) == StoredState({}, {})


def test_the_stored_state_is_every_file_stored_its_hashes_and_lms_now(con):
    first = apply_first(con)
    state = stored_state(con, run_record(con))
    source = records(district(), 1)
    assert state.files == {
        name: StoredFile(source[name].height, f"fingerprint of {name}", 0, 0, SETTINGS_KEY, first)
        for name in SYNCED_FILES
    }
    assert set(state.hashes) == set(SYNCED_FILES)
    for name in SYNCED_FILES:
        # an enrollment's user too: whose grade level a changed enrollment may move
        columns = ["sourcedId", ROW_HASH] + (["userSourcedId"] if name == "enrollments" else [])
        assert_frame_equal(state.hashes[name], source[name].select(columns), check_row_order=False)
    assert state.lms_summary == lms_summary(con, TENANT)
    assert state.closed == set()  # the first run found none closed


def test_a_run_in_full_reads_no_lms_summary_and_trusts_no_closed_reference(con):
    apply_first(con, **{CLOSED_REFERENCES: CLOSED})
    state = stored_state(con, run_record(con, full=True))
    assert set(state.files) == set(state.hashes) == set(SYNCED_FILES)
    assert (state.lms_summary, state.closed) == (None, set())


def test_closed_references_hold_under_the_settings_of_the_run_that_stored_the_records(con):
    apply_first(con, **{CLOSED_REFERENCES: CLOSED})
    assert stored_state(con, run_record(con)).closed == {
        ("enrollments", "userSourcedId", "users"),
        ("classes", "courseSourcedId", "courses"),
    }
    assert stored_state(con, run_record(con, settings_key="other settings")).closed == set()


def test_closed_references_found_before_records_were_stored_again_are_not_trusted(con):
    apply_first(con, **{CLOSED_REFERENCES: CLOSED})
    later = patch_users(con)
    state = stored_state(con, run_record(con))
    assert state.files["users"].patches == 1 and state.files["users"].last_run_id == later
    assert state.closed == set()


# --- the incremental basis ---------------------------------------------------------------------


def test_the_basis_is_lms_and_what_the_last_run_derived(con):
    first = apply_first(con)
    basis = incremental_basis(con, run_record(con))
    assert isinstance(basis, IncrementalBasis)
    assert (basis.run_id, basis.summary) == (first, lms_summary(con, TENANT))
    derived = first_run_writes().derived
    assert_frame_equal(basis.previous_courses, derived["desired_courses"], check_row_order=False)
    assert_frame_equal(basis.previous_grades, derived["grade_levels"], check_row_order=False)


def test_hand_made_rows_leave_the_basis_as_it_is(con):
    apply_first(con)
    con.execute(
        "insert into lms.users (user_id, tenant, external_id, status, origin) "
        "values (999, ?, 'hand-made-1', 'active', 'manual')",
        [TENANT],
    )
    assert isinstance(incremental_basis(con, run_record(con)), IncrementalBasis)


def test_a_summary_read_earlier_in_the_run_is_what_the_basis_is_checked_with(con):
    apply_first(con)
    summary = lms_summary(con, TENANT)
    con.execute("update lms.users set given_name = 'Samuel' where external_id = 'or--u-s1'")
    basis = incremental_basis(con, run_record(con), summary)
    assert isinstance(basis, IncrementalBasis) and basis.summary == summary


def test_full_was_given(con):
    apply_first(con)
    assert incremental_basis(con, run_record(con, full=True)) == "--full was given"


def test_the_tenants_first_run(con):
    assert incremental_basis(con, run_record(con)) == (
        "the tenant's first run: nothing stored to compare with"
    )
    # another tenant's runs are not this tenant's
    apply_first(con)
    assert incremental_basis(con, run_record(con, tenant="another district")) == (
        "the tenant's first run: nothing stored to compare with"
    )


def test_a_run_undone_since(con):
    first = apply_first(con)
    undo = run_record(con, feed_name=f"undo of run {first}")
    record_run(con, undo, NO_ISSUES)
    record_decision(con, first, "undone", undo.run_id)
    assert incremental_basis(con, run_record(con)) == (
        f"run {undo.run_id} undid run {first}: lms and the stored records need not be what "
        f"run {first} left"
    )


def test_other_settings(con):
    first = apply_first(con)
    assert incremental_basis(con, run_record(con, settings_key="other settings")) == (
        f"the settings or the rosterflow version differ from those of run {first}"
    )


def test_lms_edited_by_hand(con):
    first = apply_first(con)
    con.execute("update lms.users set given_name = 'Samuel' where external_id = 'or--u-s1'")
    assert incremental_basis(con, run_record(con)) == (
        f"lms was changed outside rosterflow since run {first}: a hand edit, which this run reverts"
    )


def test_no_grade_levels_stored(con):
    first = apply_first(con, grade_levels=None)
    assert incremental_basis(con, run_record(con)) == (
        f"run {first} stored no grade levels to compare with (an older rosterflow)"
    )
