"""`rosterflow undo` refusing as a district's data team reads it: how many rows later runs changed
again, each row once however many runs changed it, in words that agree with the number; and
the run to undo that a refusal suggests, never one that an undo refuses in turn."""

from __future__ import annotations

import pytest

from rosterflow.flows.operations import OperationRefused, undo_run
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district, with_cell
from tests.flows.test_operations import assert_same_lms, lms
from tests.flows.test_pipeline_adoption import made_by_hand
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

GUARD_OFF = {"safety": {"max_removal_share": 1.0, "max_school_removal_share": 1.0}}
DELETING = GUARD_OFF | {"policy": {"users": "delete", "enrollments": "delete"}}


def sam_named(given: str, frames=None):
    """The district with Sam Stone (users.csv's third row) given another first name."""
    return with_cell(frames or tiny_district(), "users", 2, "givenName", given)


def test_a_row_two_later_runs_changed_again_counts_once_and_one_row_reads_was(tmp_path):
    w = Warehouse(tmp_path)
    w.sync(tiny_district(), settings=GUARD_OFF)
    renamed = w.sync(sam_named("Samuel"), settings=GUARD_OFF)
    again = w.sync(sam_named("Sammy"), settings=GUARD_OFF)
    once_more = w.sync(sam_named("Sal"), settings=GUARD_OFF)
    assert (
        {("user", "or--u-s1", "update")} == w.actions(again.run_id) == w.actions(once_more.run_id)
    )
    before = lms(w, run_ids=True)

    with pytest.raises(OperationRefused) as refused:
        undo_run(w.path, renamed.run_id)

    assert str(refused.value).startswith(
        f"1 of the rows run {renamed.run_id} changed was changed again by later run(s) "
        f"{again.run_id}, {once_more.run_id}; undoing run {renamed.run_id} would overwrite that"
    )
    assert_same_lms(lms(w, run_ids=True), before)  # a refusal writes nothing


def test_a_row_deleted_then_made_again_under_another_id_and_changed_counts_once(tmp_path):
    """Matched by its external ID in the run that made it again (another id) and in the run
    that changed that row: one row of the undone run, not two."""
    w = Warehouse(tmp_path)
    district = tiny_district()
    w.sync(district, settings=DELETING)
    kim_gone = district | {
        "users": district["users"].filter(district["users"]["sourcedId"] != "u-s2"),
        "enrollments": district["enrollments"].filter(
            district["enrollments"]["userSourcedId"] != "u-s2"
        ),
    }
    deleted = w.sync(kim_gone, settings=DELETING)
    assert ("user", "or--u-s2", "delete") in w.actions(deleted.run_id)
    back = w.sync(district, settings=DELETING)
    renamed = w.sync(with_cell(district, "users", 3, "givenName", "Kimberly"), settings=DELETING)
    assert ("user", "or--u-s2", "create") in w.actions(back.run_id)
    assert w.actions(renamed.run_id) == {("user", "or--u-s2", "update")}

    with pytest.raises(OperationRefused) as refused:
        undo_run(w.path, deleted.run_id)

    # Kim and her two enrollments, which the run deleted and the next one made again
    assert str(refused.value).startswith(
        f"3 of the rows run {deleted.run_id} changed were changed again by later run(s) "
        f"{back.run_id}, {renamed.run_id};"
    )


def test_a_run_whose_adoption_was_undone_is_said_to_come_back_by_a_sync_not_an_undo(tmp_path):
    """The undo of an adoption cannot itself be undone (it gave accounts back to the hands
    that made them): asked to undo the adopting run again, the refusal says to sync, where it
    suggested undoing that undo, which is refused in turn."""
    w = Warehouse(tmp_path)
    connect(w.path).close()
    made_by_hand(w, (9001, "hand-ada", "teacher", "Ada.Lovelace", None))
    adopt_by = {"identity": {"adopt_by": "username"}}
    adopted = w.sync(tiny_district(), settings=adopt_by)
    assert ("user", "or--u-t1", "adopt") in w.actions(adopted.run_id)
    given_back = undo_run(w.path, adopted.run_id)

    with pytest.raises(OperationRefused) as refused:
        undo_run(w.path, adopted.run_id)

    message = str(refused.value)
    assert message.startswith(
        f"run {adopted.run_id} was already undone by run {given_back.run_id}, so its changes "
        f"are taken back; run {given_back.run_id} gave accounts back to the hands that made "
        "them, which an undo never takes: sync the tenant's feed again"
    )
    assert f"rosterflow undo {given_back.run_id}" not in message
    # as it says: undoing the undo is refused, and a sync adopts the account anew
    with pytest.raises(OperationRefused, match="gave user 9001 back to the account made by hand"):
        undo_run(w.path, given_back.run_id)
    again = w.sync(tiny_district(), settings=adopt_by)
    assert ("user", "or--u-t1", "adopt") in w.actions(again.run_id)
