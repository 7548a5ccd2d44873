"""QA of approving held runs that delete: rows the sync does not manage are not the held plan's
to check (docs/how-to/held-runs.md), whether they point at the rows it deletes or not."""

from __future__ import annotations

import pytest

from rosterflow.flows.operations import approve_run
from tests.feeds import tiny_district, without_students
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

DELETING = {"policy": {"users": "delete"}}
# an enrollment made by hand of u-s1, a student the truncated export below leaves out
HAND_MADE_ENROLLMENT = """
insert into lms.enrollments
select * replace (
    (select next_id from audit.next_ids where table_name = 'enrollments') as enrollment_id,
    null as external_id, 'manual' as origin)
from lms.enrollments where external_id = 'or--e2'
"""


def held_deletion(tmp_path) -> tuple[Warehouse, int]:
    """A warehouse whose second run, deleting the students a truncated export leaves out, is
    held over the removal guard."""
    w = Warehouse(tmp_path)
    w.sync(tiny_district(), settings=DELETING)
    held = w.sync(without_students(tiny_district()), settings=DELETING)
    assert held.outcome == "held"
    return w, held.run_id


def test_a_plan_that_deletes_is_approved_when_nothing_made_by_hand_points_at_its_rows(tmp_path):
    """The rows made by hand elsewhere (an account a platform's staff made) do not count."""
    w, run_id = held_deletion(tmp_path)
    w.execute(
        "insert into lms.users (user_id, tenant, external_id, role, username, status, origin) "
        "values (9000, 'district', 'hand-1', 'teacher', 'sub', 'active', 'manual')"
    )

    assert approve_run(w.path, run_id).outcome == "applied"
    assert (
        w.query("select count(*) as n from lms.users where external_id = 'or--u-s1'")["n"][0] == 0
    )


def test_a_row_made_by_hand_since_the_hold_is_left_as_it_is_by_the_approval(tmp_path):
    """An enrollment made by hand of a student the plan deletes, made after it was held: the
    approval deletes the student as planned and never touches the enrollment."""
    w, run_id = held_deletion(tmp_path)
    w.execute(HAND_MADE_ENROLLMENT)

    assert approve_run(w.path, run_id).outcome == "applied"
    assert (
        w.query("select count(*) as n from lms.users where external_id = 'or--u-s1'")["n"][0] == 0
    )
    assert w.query("select count(*) as n from lms.enrollments where origin = 'manual'")["n"][0] == 1
