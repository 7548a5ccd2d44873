"""What leaves the SIS, guarded and undone without a warehouse: literal change sets and rows.

A run held for the share of the tenant it removes says how to let it through at the next try,
and that advice must be enough: when one school loses more than its own share too, raising the
tenant's share alone would only hold the run again.

A row is managed if and only if its external ID starts with `or-`: a row whose external ID was
set by hand to another one since a run (a district taking over the account of a student who
left) is hand-made, whatever its `origin` column says, and an undo never touches it, as a sync
never does.
"""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas.lms import ENROLLMENT, USER
from rosterflow.transforms.guard import MIN_SCHOOL_ACTIVE
from rosterflow.transforms.undo import undo_changes
from tests.transforms.test_guard import guard, plan, removed, schools
from tests.transforms.test_undo import RUN, enrollment, nothing, rows, user

# --- the guard's advice ---------------------------------------------------------------------------


def _overrides(message: str) -> dict[str, float]:
    """The [safety] settings a held run's message says to run again with."""
    tenant = re.search(r"--max-removal-share ([0-9.]+)", message)
    school = re.search(r"max_school_removal_share = ([0-9.]+) in --config", message)
    return {"max_removal_share": float(tenant[1])} | (
        {"max_school_removal_share": float(school[1])} if school else {}
    )


def test_a_run_over_the_tenant_share_and_a_school_share_says_to_raise_both():
    # a school's 78 of 152 enrollments leave, 97 of the tenant's 406 with the others
    planned = plan(enrollments=removed(97, "withdraw", "withdrawn"), active_enrollments=406)
    by_school = schools(("enrollment", 3, "Douglass Elementary", 78, 152))

    message = guard(planned, by_school)

    assert message == (
        "this feed would remove 97 of the tenant's 406 active managed enrollments (24%), above "
        "[safety] max_removal_share = 0.2. If the export is complete and this is intended, run "
        "again with --max-removal-share 0.24 (or set it in --config), and [safety] "
        "max_school_removal_share = 0.52 in --config: one school would lose 51% of its active "
        "managed enrollments, above [safety] max_school_removal_share = 0.5"
    )
    # the tenant's share still names no school, and its advice lets the run through
    assert "Douglass" not in message
    assert guard(planned, by_school, **_overrides(message)) is None


@given(
    removed_users=st.integers(1, 400),
    active_users=st.integers(1, 400),
    school_removed=st.integers(0, 300),
    school_active=st.integers(MIN_SCHOOL_ACTIVE, 300),
    limits=st.tuples(st.sampled_from([0.0, 0.01, 0.2, 0.5]), st.sampled_from([0.0, 0.3, 0.5])),
)
def test_the_settings_a_held_run_suggests_admit_it(
    removed_users, active_users, school_removed, school_active, limits
):
    planned = plan(users=removed(min(removed_users, active_users)), active_users=active_users)
    by_school = schools(
        ("user", 3, "North High", min(school_removed, school_active), school_active)
    )
    tenant_limit, school_limit = limits
    message = guard(
        planned, by_school, max_removal_share=tenant_limit, max_school_removal_share=school_limit
    )
    if message is None or "--max-removal-share" not in message:
        return  # not over the tenant's share: a school's share alone has no override to suggest

    assert guard(planned, by_school, **_overrides(message)) is None


def test_a_run_over_the_tenant_share_alone_suggests_that_share_alone():
    planned = plan(users=removed(3))
    by_school = schools(("user", 3, "North High", 3, MIN_SCHOOL_ACTIVE))  # 15%: not over 0.5

    message = guard(planned, by_school)

    assert message is not None and message.endswith(
        "--max-removal-share 0.3 (or set it in --config)"
    )


# --- undo -----------------------------------------------------------------------------------------

NO_EXTERNAL_ID_TAKEN = pl.Series("external_id", [], pl.String)

CASES = {
    # (entity, the version the run ended, the row in lms now): the undo leaves it alone
    "an account the run inactivated, taken over by hand since": (
        USER,
        [user()],
        [user(external_id="hand-u-s1", status="active", updated_run_id=RUN)],
    ),
    "an account the run created, taken over by hand since": (
        USER,
        [],
        [user(external_id="hand-u-s1", updated_run_id=RUN)],
    ),
    "an account the run moved, its external ID emptied by hand since": (
        USER,
        [user()],
        [user(external_id=None, domain_id=2, updated_run_id=RUN)],
    ),
    "an enrollment the run withdrew, kept by hand under an external ID of its own": (
        ENROLLMENT,
        [enrollment()],
        [enrollment(external_id="kept-e2", status="withdrawn", updated_run_id=RUN)],
    ),
}


@pytest.mark.parametrize(("entity", "before", "current"), CASES.values(), ids=CASES)
def test_an_undo_leaves_a_row_made_hand_made_by_its_external_id_alone(entity, before, current):
    touched = pl.DataFrame({"entity_id": [11 if entity is USER else 31]})

    found = undo_changes(
        entity, RUN, touched, rows(entity, *before), rows(entity, *current), NO_EXTERNAL_ID_TAKEN
    )

    assert_frame_equal(found, nothing(entity))


def test_an_undo_still_brings_back_the_managed_rows_beside_a_row_taken_by_hand():
    # run 7 inactivated Sam (11) and Kim (12); Sam's account was taken over by hand since
    kim = user(user_id=12, external_id="or--u-s2", login="u-s2")
    found = undo_changes(
        USER,
        RUN,
        pl.DataFrame({"entity_id": [11, 12]}),
        rows(USER, user(), kim),
        rows(
            USER,
            user(external_id="hand-u-s1", status="inactive", updated_run_id=RUN),
            kim | {"status": "inactive", "updated_run_id": RUN},
        ),
        NO_EXTERNAL_ID_TAKEN,
    )

    assert found.select("user_id", "external_id", "status", "action", "detail").rows() == [
        (12, "or--u-s2", "active", "reactivate", '{"status":{"from":"inactive","to":"active"}}')
    ]
