"""Adoption as a district's data team sees it said: a row given a record's external ID by hand
(inserted so, or an account made by hand whose `external_id` is set to `or--<sourcedId>`, as
docs/explanation/users.md advises) is taken over by the next run (`adopt`), and that run's
planning note says so, where it called the row a hand edit that the run reverts (the note is
`warehouse.basis.incremental_basis`'s)."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.warehouse.schema import connect
from tests.feeds import _user, frame, tiny_district
from tests.flows.test_pipeline_adoption import made_by_hand
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

NEW_STUDENT = _user("u-new", "student", "s1", given="New", family="Kid")


def arrived(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return district | {"users": pl.concat([district["users"], frame("users", NEW_STUDENT)])}


def insert_with_the_records_external_id(w: Warehouse) -> None:
    w.execute(
        "insert into lms.users (user_id, tenant, external_id, domain_id, role, username, "
        "given_name, family_name, email, login) "
        "select next_id, 'district', 'or--u-new', null, 'student', 'new.kid', 'New', 'Kid', "
        "'new.kid@example.org', 'u-new' from audit.next_ids where table_name = 'users'"
    )


def give_the_account_the_records_external_id(w: Warehouse) -> None:
    made_by_hand(w, (9001, "hand-new", "student", "nk", None))  # (no managed row: no edit)
    w.execute("update lms.users set external_id = 'or--u-new' where user_id = 9001")


@pytest.mark.parametrize(
    "by_hand", [insert_with_the_records_external_id, give_the_account_the_records_external_id]
)
def test_a_row_given_a_records_external_id_by_hand_is_said_to_be_taken_over(tmp_path, by_hand):
    w = Warehouse(tmp_path)
    connect(w.path).close()
    first = w.sync(tiny_district())
    by_hand(w)
    taken_over = w.query("select user_id from lms.users where external_id = 'or--u-new'").item()

    result = w.sync(arrived(tiny_district()))

    assert result.outcome == "applied", result.message
    assert w.actions(result.run_id) >= {("user", "or--u-new", "adopt")}
    assert w.row("users", "or--u-new")["user_id"] == taken_over
    assert result.planning == "full"
    assert "which this run reverts" not in result.planning_note
    assert result.planning_note == (
        f"lms was changed outside rosterflow since run {first.run_id}: 1 row of lms.users inserted or "
        "given a managed external ID (`or-`) by hand, which this run takes over for its record "
        "(`adopt`), or treats as a row whose record left the SIS when the feed has no such "
        "record"
    )


def test_a_hand_edit_of_a_synced_row_is_still_said_to_be_reverted(tmp_path):
    """No managed row more: the edit is what the run reverts, as the note says."""
    w = Warehouse(tmp_path)
    first = w.sync(tiny_district())
    w.execute("update lms.users set given_name = 'Samuel' where external_id = 'or--u-s1'")

    result = w.sync(tiny_district())

    assert w.actions(result.run_id) == {("user", "or--u-s1", "update")}
    assert result.planning_note == (
        f"lms was changed outside rosterflow since run {first.run_id}: a hand edit, which this "
        "run reverts"
    )
