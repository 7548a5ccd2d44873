"""How users sign in after a plan: the logins it changes (`relogins`), the warnings for them
(`login_change_issues`), and logins left empty or shared (`refuse_shared_logins`)."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import EntityPlan, Plan, PlanError
from rosterflow.schemas.issues import ISSUE_SCHEMA
from rosterflow.schemas.lms import USER
from rosterflow.transforms.logins import login_change_issues, refuse_shared_logins, relogins
from tests.feeds import frame

RELOGINS_SCHEMA = {
    "external_id": pl.String,
    "user_id": pl.Int64,
    "login_before": pl.String,
    "login": pl.String,
    "line": pl.Int64,
}


def user_changes(*rows: tuple[str, int, str | None, str, str | None]) -> Plan:
    """A plan of user changes: (external_id, user_id, login after, action, detail)."""
    changes = pl.DataFrame(
        rows,
        schema={
            "external_id": pl.String,
            "user_id": pl.Int64,
            "login": pl.String,
            "action": pl.String,
            "detail": pl.String,
        },
        orient="row",
    )
    return Plan("district", {"user": EntityPlan(USER, changes, 5)})


def relogin_rows(*rows: tuple) -> pl.DataFrame:
    """(external_id, user_id, login_before, login[, line]): no line unless given."""
    padded = [row + (None,) * (len(RELOGINS_SCHEMA) - len(row)) for row in rows]
    return pl.DataFrame(padded, schema=RELOGINS_SCHEMA, orient="row")


@pytest.mark.parametrize(
    ("planned", "expected"),
    [
        (user_changes(), relogin_rows()),
        (
            user_changes(
                ("or--u2", 12, "kim.lee", "update", '{"login":{"from":"kim","to":"kim.lee"}}'),
                (
                    "or--u1",
                    11,
                    "sam.south",
                    "move",
                    '{"domain_id":{"from":1,"to":2},"login":{"from":"sam","to":"sam.south"}}',
                ),
            ),
            # in external ID order
            relogin_rows(
                ("or--u1", 11, "sam", "sam.south"),
                ("or--u2", 12, "kim", "kim.lee"),
            ),
        ),
        (
            user_changes(
                ("or--u3", 13, "ada", "create", None),  # a new user's first login
                ("or--u4", 14, "bo", "update", '{"login":{"from":null,"to":"bo"}}'),  # a first
                ("or--u5", 15, "cy", "update", '{"email":{"from":"c@x","to":"cy@x"}}'),
                # a reactivation under another login: the user signed in as d before leaving
                ("or--u6", 16, "di", "reactivate", '{"login":{"from":"d","to":"di"}}'),
            ),
            relogin_rows(("or--u6", 16, "d", "di")),
        ),
        (
            user_changes(
                # an account made by hand signs in today: its adoption changes how
                (
                    "or--u7",
                    17,
                    "ed",
                    "adopt",
                    '{"external_id":{"from":"hand-7","to":"or--u7"},'
                    '"login":{"from":"e","to":"ed"}}',
                ),
                ("or--u8", 18, "fa", "adopt", '{"login":{"from":null,"to":"fa"}}'),  # a first
                # matched in another letter case, with spaces: the login people type still works
                ("or--v3", 23, "jo", "adopt", '{"login":{"from":" JO","to":"jo"}}'),
                # an adoption that reactivates the account under another login is a login
                # change, as a reactivation is; one that inactivates it is not
                (
                    "or--u9",
                    19,
                    "gus",
                    "adopt",
                    '{"status":{"from":"inactive","to":"active"},"login":{"from":"g","to":"gus"}}',
                ),
                (
                    "or--v1",
                    21,
                    "hal",
                    "adopt",
                    '{"status":{"from":"active","to":"inactive"},"login":{"from":"h","to":"hal"}}',
                ),
                (  # from inactive to withdrawn: a sync names that an update
                    "or--v2",
                    22,
                    "ida",
                    "adopt",
                    '{"status":{"from":"inactive","to":"withdrawn"},'
                    '"login":{"from":"i","to":"ida"}}',
                ),
            ),
            relogin_rows(
                ("or--u7", 17, "e", "ed"), ("or--u9", 19, "g", "gus"), ("or--v2", 22, "i", "ida")
            ),
        ),
    ],
    ids=["nothing", "updated and moved", "first logins and a reactivation", "adopted"],
)
def test_relogins_are_users_whose_login_changes_from_one_they_had(planned, expected):
    assert_frame_equal(relogins(planned), expected)


def test_a_relogin_stands_on_its_record_s_line_among_those_the_run_received():
    planned = user_changes(
        ("or--u1", 11, "sam.south", "update", '{"login":{"from":"sam","to":"sam.south"}}'),
        ("or--u2", 12, "kim.lee", "update", '{"login":{"from":"kim","to":"kim.lee"}}'),
    )
    lines = pl.LazyFrame(  # u2's record came in an earlier feed: it has no line in this one
        {"external_id": ["or--u1", "or--u9"], "line": [7, 3]},
        schema={"external_id": pl.String, "line": pl.Int64},
    )
    assert_frame_equal(
        relogins(planned, lines),
        relogin_rows(("or--u1", 11, "sam", "sam.south", 7), ("or--u2", 12, "kim", "kim.lee")),
    )


def test_a_warning_per_user_whose_login_changes():
    found = login_change_issues(
        relogin_rows(("or--u1", 11, "sam", "sam.south", 7), ("or--u2", 12, "kim", "kim.lee")),
        "username",
    )
    expected = pl.DataFrame(
        {
            "file": ["users.csv", "users.csv"],
            "line": [7, None],  # the record's line; none for one the run did not receive
            "field": ["username", "username"],
            "value": ["sam.south", "kim.lee"],
            "rule": ["identity.login_changed", "identity.login_changed"],
            "severity": ["warning", "warning"],
            "message": [
                "or--u1 signs in as sam.south now, no longer as sam",
                "or--u2 signs in as kim.lee now, no longer as kim",
            ],
        },
        schema=ISSUE_SCHEMA,
    )
    assert_frame_equal(found, expected)


@pytest.mark.parametrize(
    ("key", "field"), [("username", "username"), ("email", "email"), ("userId", "userIds")]
)
def test_the_warning_names_the_field_users_sign_in_with(key, field):
    found = login_change_issues(relogin_rows(("or--u1", 11, "a", "b")), key)
    assert found["field"].to_list() == [field]


def users(*rows: tuple[str, str | None]) -> pl.DataFrame:
    """users.csv records: (sourcedId, username)."""
    return frame("users", *({"sourcedId": s, "username": u} for s, u in rows))


@pytest.mark.parametrize(
    "records",
    [
        users(),
        users(("u1", "sam"), ("u2", "kim")),
        users(("u1", "sam"), ("u2", " Sam2 ")),
    ],
)
def test_logins_of_their_own_pass(records):
    assert refuse_shared_logins(records, "username") is None


def test_under_the_sourced_id_every_user_has_a_login_of_their_own():
    assert refuse_shared_logins(users(("u1", None), ("u2", None)), "sourcedId") is None


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (
            users(("u1", "sam"), ("u2", " SAM "), ("u3", "kim")),
            "[identity] key = 'username': 1 login is empty or shared by several of the "
            "tenant's users ('sam': u1, u2); fix them in the SIS, or send users.csv whole",
        ),
        (
            users(("u1", None), ("u2", ""), ("u3", "ada"), ("u4", "Ada")),
            "[identity] key = 'username': 2 logins are empty or shared by several of the "
            "tenant's users (no login: u1, u2; 'ada': u3, u4); fix them in the SIS, or send "
            "users.csv whole",
        ),
        (
            users(*((f"u{n}", "sam") for n in range(1, 6))),
            "[identity] key = 'username': 1 login is empty or shared by several of the "
            "tenant's users ('sam': u1, u2, u3 and 2 more); fix them in the SIS, or send "
            "users.csv whole",
        ),
    ],
    ids=["shared in any letter case", "empty and shared", "many sharing one"],
)
def test_logins_empty_or_shared_are_refused(records, message):
    with pytest.raises(PlanError) as refused:
        refuse_shared_logins(records, "username")
    assert str(refused.value) == message
