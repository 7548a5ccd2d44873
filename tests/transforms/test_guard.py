"""The safety guards (`refusal`) and the removals they count, on literal change sets.

A change set here holds, per guarded entity, only what the guards read of it: the row's
external ID, status after the change and action, and the tenant's active managed rows before.
"""

from __future__ import annotations

import re
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import EntityPlan, Plan
from rosterflow.schemas.guard import RELOGINS_SCHEMA, SCHOOL_REMOVALS_SCHEMA
from rosterflow.schemas.lms import ENROLLMENT, USER
from rosterflow.schemas.settings import Identity, Safety
from rosterflow.transforms import logins
from rosterflow.transforms.adoption import MATCH_SCHEMA, Adoption
from rosterflow.transforms.guard import MAX_DECIMALS, MIN_SCHOOL_ACTIVE, refusal, removals
from tests.transforms.test_logins import user_changes

CHANGE_SCHEMA = {"external_id": pl.String, "status": pl.String, "action": pl.String}
NO_SCHOOLS = pl.DataFrame(schema=SCHOOL_REMOVALS_SCHEMA)
NO_RELOGINS = pl.DataFrame(schema=RELOGINS_SCHEMA)


def changes(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """(external_id, status after, action) rows."""
    return pl.DataFrame(rows, schema=CHANGE_SCHEMA, orient="row")


def plan(users=(), enrollments=(), active_users=10, active_enrollments=10) -> Plan:
    return Plan(
        "district",
        {
            "user": EntityPlan(USER, changes(*users), active_users),
            "enrollment": EntityPlan(ENROLLMENT, changes(*enrollments), active_enrollments),
        },
    )


def removed(n: int, action: str = "inactivate", status: str = "inactive") -> list[tuple]:
    return [(f"or--x{i}", status, action) for i in range(n)]


def schools(*rows: tuple) -> pl.DataFrame:
    """(entity, domain_id, school, removed, active) rows."""
    return pl.DataFrame(rows, schema=SCHOOL_REMOVALS_SCHEMA, orient="row")


def guard(
    planned: Plan,
    by_school: pl.DataFrame = NO_SCHOOLS,
    relogins: pl.DataFrame = NO_RELOGINS,
    **safety,
) -> str | None:
    return refusal(planned, by_school, relogins, Safety(**safety), Identity(key="username"))


# --- removals ----------------------------------------------------------------------------------


def test_removals_are_the_rows_a_plan_takes_from_the_active():
    planned = plan(
        users=[
            ("or--u1", "inactive", "inactivate"),
            ("or--u2", "active", "delete"),  # a deleted row keeps its status: it was active
            ("or--u3", "inactive", "delete"),  # deleted, but it was inactive already
            ("or--u4", "active", "update"),
            ("or--u5", "active", "reactivate"),
        ],
        enrollments=[
            ("or--e1", "withdrawn", "withdraw"),
            ("or--e2", "active", "create"),
        ],
    )
    found = removals(planned)
    assert list(found) == ["user", "enrollment"]
    assert_frame_equal(
        found["user"],
        changes(("or--u1", "inactive", "inactivate"), ("or--u2", "active", "delete")),
    )
    assert_frame_equal(found["enrollment"], changes(("or--e1", "withdrawn", "withdraw")))


# --- the tenant's share -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("planned", "share", "expected"),
    [
        (plan(users=removed(2)), 0.2, None),  # 20% is not above 20%
        (
            plan(users=removed(3)),
            0.2,
            "this feed would remove 3 of the tenant's 10 active managed users (30%), above "
            "[safety] max_removal_share = 0.2. If the export is complete and this is intended, "
            "run again with --max-removal-share 0.3 (or set it in --config)",
        ),
        (plan(users=removed(3)), 0.3, None),  # as suggested
        (
            plan(enrollments=removed(5, "withdraw", "withdrawn"), active_enrollments=8),
            0.5,
            "this feed would remove 5 of the tenant's 8 active managed enrollments (62%), above "
            "[safety] max_removal_share = 0.5. If the export is complete and this is intended, "
            "run again with --max-removal-share 0.63 (or set it in --config)",
        ),
        (
            # every entity over the limit is named
            plan(users=removed(10, "delete", "active"), enrollments=removed(10)),
            0.2,
            "this feed would remove 10 of the tenant's 10 active managed users (100%) and 10 of "
            "its 10 active managed enrollments (100%), above [safety] max_removal_share = 0.2. "
            "If the export is complete and this is intended, run again with "
            "--max-removal-share 1 (or set it in --config)",
        ),
        (
            # a student leaves with their enrollments: the share suggested admits both
            plan(
                users=removed(1), enrollments=removed(6), active_users=109, active_enrollments=466
            ),
            0.005,
            "this feed would remove 1 of the tenant's 109 active managed users (0.9%) and 6 of "
            "its 466 active managed enrollments (1.3%), above [safety] max_removal_share = 0.005. "
            "If the export is complete and this is intended, run again with "
            "--max-removal-share 0.013 (or set it in --config)",
        ),
        (
            # only the enrollments are over (the users, at 10%, are not named); their share has
            # the limit's decimals of a percent
            plan(users=removed(2), enrollments=removed(3), active_users=20, active_enrollments=20),
            0.125,
            "this feed would remove 3 of the tenant's 20 active managed enrollments (15.0%), above "
            "[safety] max_removal_share = 0.125. If the export is complete and this is intended, "
            "run again with --max-removal-share 0.15 (or set it in --config)",
        ),
        (
            # a share shown precisely enough to read above the limit, never as 0%
            plan(users=removed(1), active_users=217),
            0.001,
            "this feed would remove 1 of the tenant's 217 active managed users (0.5%), above "
            "[safety] max_removal_share = 0.001. If the export is complete and this is intended, "
            "run again with --max-removal-share 0.005 (or set it in --config)",
        ),
        (plan(users=removed(10, "delete", "active")), 1.0, None),  # the guard turned off
        (plan(users=removed(3), active_users=0), 0.2, None),  # nothing active to judge
    ],
)
def test_a_run_removing_too_large_a_share_of_the_tenant_is_refused(planned, share, expected):
    assert guard(planned, max_removal_share=share) == expected


@given(active=st.integers(1, 500), data=st.data())
def test_the_share_a_refusal_suggests_admits_the_run(active, data):
    planned = plan(users=removed(data.draw(st.integers(1, active))), active_users=active)
    message = guard(planned, max_removal_share=0.0)
    suggested = float(re.search(r"--max-removal-share ([0-9.]+) ", message)[1])
    assert guard(planned, max_removal_share=suggested) is None


@given(
    active_users=st.integers(1, 5000),
    active_enrollments=st.integers(1, 5000),
    limit=st.one_of(
        st.sampled_from([0.0, 0.001, 0.005, 0.01, 0.07, 0.2, 0.29, 0.5, 0.999]),
        st.floats(0, 1),
    ),
    data=st.data(),
)
def test_a_refusal_names_every_share_over_the_limit_as_above_it_and_its_override_admits_all(
    active_users, active_enrollments, limit, data
):
    users = data.draw(st.integers(0, active_users))
    enrollments = data.draw(st.integers(0, active_enrollments))
    planned = plan(
        users=removed(users),
        enrollments=removed(enrollments),
        active_users=active_users,
        active_enrollments=active_enrollments,
    )
    message = guard(planned, max_removal_share=limit)
    over = {
        name: (count, active)
        for name, count, active in (
            ("users", users, active_users),
            ("enrollments", enrollments, active_enrollments),
        )
        if count / active > limit
    }
    if not over:
        assert message is None
        return
    named = re.findall(r"([\d,]+) of [a-z' ]+ ([\d,]+) active managed (\w+) \(([\d.]+)%\)", message)
    assert [(count, active, name) for count, active, name, _ in named] == [
        (f"{count:,}", f"{active:,}", name) for name, (count, active) in over.items()
    ]
    for *_, shown in named:  # as shown, each share reads above the limit (to 6 decimals)
        decimals = len(shown.partition(".")[2])
        assert Decimal(shown) > Decimal(repr(limit)).scaleb(2) or decimals == MAX_DECIMALS
    suggested = re.search(r"--max-removal-share ([0-9.]+) ", message)[1]
    assert float(suggested) >= max(users / active_users, enrollments / active_enrollments)
    assert guard(planned, max_removal_share=float(suggested)) is None


def test_deleting_rows_that_were_inactive_already_removes_no_active_row():
    # policy users = "delete": three users disabled long ago leave the SIS
    planned = plan(users=removed(3, "delete", "inactive"))
    assert removals(planned)["user"].is_empty()
    assert guard(planned, max_removal_share=0.2) is None


# --- login changes ------------------------------------------------------------------------------

RELOGINS = pl.DataFrame(
    [("or--u1", 11, "sam.stone", "sam.stone2", 2), ("or--u2", 12, "kim.lee", "kim.lee2", 3)],
    schema=RELOGINS_SCHEMA,
    orient="row",
)


@pytest.mark.parametrize("detail", [None, '{"login":{"from":"sam","to":"sam.stone"}}'])
def test_the_relogins_a_sync_hands_the_guard_are_of_the_shape_declared(detail):
    """`RELOGINS` here is what `transforms.logins.relogins` makes of a plan, whether it
    changes a login or none."""
    found = logins.relogins(user_changes(("or--u1", 11, "sam.stone", "update", detail)))
    assert found.schema == pl.Schema(RELOGINS_SCHEMA)
    assert found.height == (detail is not None)


@pytest.mark.parametrize(
    ("relogins", "login_changes", "expected"),
    [
        (
            RELOGINS,
            "hold",
            "this feed would change the login of 2 existing users (e.g. or--u1: 'sam.stone' -> "
            "'sam.stone2'), who would no longer sign in as before ([identity] key = "
            "'username'). If that is intended, approve the run, or set [safety] login_changes "
            '= "warn"',
        ),
        (
            RELOGINS.head(1),
            "hold",
            "this feed would change the login of 1 existing user (e.g. or--u1: 'sam.stone' -> "
            "'sam.stone2'), who would no longer sign in as before ([identity] key = "
            "'username'). If that is intended, approve the run, or set [safety] login_changes "
            '= "warn"',
        ),
        (RELOGINS, "warn", None),
        (NO_RELOGINS, "hold", None),
    ],
)
def test_a_run_changing_logins_is_held_under_login_changes_hold(relogins, login_changes, expected):
    assert guard(plan(), relogins=relogins, login_changes=login_changes) == expected


def test_a_dry_run_over_the_login_guard_says_to_sync_for_real_and_approve_what_it_holds():
    """A dry run holds nothing: `rosterflow approve` of it is refused ("not held")."""
    message = refusal(
        plan(), NO_SCHOOLS, RELOGINS, Safety(), Identity(key="username"), dry_run=True
    )
    assert message is not None and message.endswith(
        "If that is intended, sync without --dry-run and approve the run it holds, or set "
        '[safety] login_changes = "warn"'
    )


def test_the_tenant_share_is_judged_before_login_changes():
    message = guard(plan(users=removed(3)), relogins=RELOGINS, login_changes="hold")
    assert message is not None and "max_removal_share" in message


# --- one school's share -------------------------------------------------------------------------

A = MIN_SCHOOL_ACTIVE


@pytest.mark.parametrize(
    ("by_school", "expected"),
    [
        (schools(("user", 3, "North High", A // 2, A)), None),  # a half is not above a half
        (
            schools(("user", 3, "North High", A // 2 + 1, A)),
            f"this feed would remove {A // 2 + 1} of the {A} active managed users of North High "
            f"(55%), above [safety] max_school_removal_share = 0.5: one school's export may be "
            "truncated",
        ),
        # a school with fewer active rows than MIN_SCHOOL_ACTIVE is not judged
        (schools(("user", 3, "Tiny School", A - 1, A - 1)), None),
        (
            # a share shown precisely enough to read above the limit, not as 50%
            schools(("enrollment", 3, "North High", 126, 250)),
            "this feed would remove 126 of the 250 active managed enrollments of North High "
            "(50.4%), above [safety] max_school_removal_share = 0.5: one school's export may be "
            "truncated",
        ),
        (
            # the worst share is named, the others counted; a domain without a name by its id
            schools(
                ("enrollment", 3, "North High", 12, A),
                ("user", 4, None, 2 * A, 2 * A),
                ("user", 5, "South High", 15, A),
            ),
            f"this feed would remove {2 * A} of the {2 * A} active managed users of domain 4 "
            "(100%) (and 2 more), above [safety] max_school_removal_share = 0.5: one school's "
            "export may be truncated",
        ),
        (
            # a school over the limit for its users and its enrollments is one school: two
            # schools cut short are the worst and 1 more
            schools(
                ("user", 3, "North High", A, A),
                ("enrollment", 3, "North High", 5 * A, 5 * A),
                ("user", 4, "South High", A, A),
                ("enrollment", 4, "South High", 4 * A, 5 * A),
            ),
            f"this feed would remove {5 * A} of the {5 * A} active managed enrollments of North "
            "High (100%) (and 1 more), above [safety] max_school_removal_share = 0.5: one school's export "
            "may be truncated",
        ),
    ],
)
def test_a_run_removing_too_large_a_share_of_one_school_is_held(by_school, expected):
    assert guard(plan(), by_school) == expected


def test_the_school_share_has_its_own_limit():
    by_school = schools(("user", 3, "North High", 15, A))
    assert guard(plan(), by_school, max_school_removal_share=0.8) is None
    assert guard(plan(), by_school, max_school_removal_share=0.7) is not None


def test_login_changes_are_judged_before_the_school_share():
    by_school = schools(("user", 3, "North High", A, A))
    message = guard(plan(), by_school, RELOGINS, login_changes="hold")
    assert message is not None and message.startswith("this feed would change the login")


# --- a run over several guards ------------------------------------------------------------------

LOGIN_HELD = "this feed would change the login of 2 existing users"
SCHOOL_HELD = f"this feed would remove {A} of the {A} active managed users of North High (100%)"


def test_a_run_held_for_its_login_changes_names_the_school_it_would_empty_too():
    """Approving a run lets every guard it is over through: a login change approved must not
    carry one school's truncated export along unannounced."""
    by_school = schools(("user", 3, "North High", A, A))

    message = guard(plan(), by_school, RELOGINS, login_changes="hold")

    assert message is not None and message.startswith(LOGIN_HELD)
    assert f". Approving the run also lets this through: {SCHOOL_HELD}" in message
    assert message.endswith("one school's export may be truncated")


def test_a_run_held_for_its_adoptions_names_its_login_changes_and_the_school_too():
    by_school = schools(("user", 3, "North High", A, A))
    adopted = Adoption(
        matches=pl.DataFrame(
            {"user_id": [9001], "external_id": ["or--u1"], "external_id_before": ["hand-1"]},
            schema=MATCH_SCHEMA,
        ),
        tenant_users=2,
    )

    message = refusal(
        plan(),
        by_school,
        RELOGINS,
        Safety(max_adoption_share=0.1),
        Identity(key="username", adopt_by="username"),
        adopted,
    )

    assert message is not None and message.startswith(LOGIN_HELD)
    reasons = message.split(". Approving the run also lets this through: ")
    assert [reason.split(" (")[0] for reason in reasons[1:]] == [
        "this feed would adopt 1 of the tenant's 2 users",
        f"this feed would remove {A} of the {A} active managed users of North High",
    ]


def test_a_run_over_the_tenant_share_names_its_login_changes_but_not_its_schools():
    """A truncated export empties its schools too: the tenant's share says that already."""
    by_school = schools(("user", 3, "North High", A, A))

    message = guard(plan(users=removed(3)), by_school, RELOGINS, login_changes="hold")

    assert message is not None and "max_removal_share = 0.2" in message
    assert f"Approving the run also lets this through: {LOGIN_HELD}" in message
    assert "North High" not in message


def test_a_dry_run_over_several_guards_says_approving_the_run_it_holds_lets_them_through():
    by_school = schools(("user", 3, "North High", A, A))

    message = refusal(plan(), by_school, RELOGINS, Safety(), Identity(key="username"), dry_run=True)

    assert message is not None
    assert f". Approving the run it holds also lets this through: {SCHOOL_HELD}" in message
