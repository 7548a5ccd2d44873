"""How users sign in after a plan: the logins it changes (`relogins`), and the warnings for
them (`login_change_issues`)."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import EntityPlan, Plan
from rosterflow.schemas.guard import RELOGINS_SCHEMA
from rosterflow.schemas.issues import ISSUE_SCHEMA
from rosterflow.schemas.lms import USER
from rosterflow.transforms.logins import login_change_issues, relogins


def user_changes(*rows: tuple) -> Plan:
    """A plan of user changes: (external_id, user_id, login after, action, detail[, status
    after]); the status after the change is, unless given, the one the detail names, else
    active."""
    changes = pl.DataFrame(
        [row if len(row) == 6 else (*row, None) for row in rows],
        schema={
            "external_id": pl.String,
            "user_id": pl.Int64,
            "login": pl.String,
            "action": pl.String,
            "detail": pl.String,
            "status": pl.String,
        },
        orient="row",
    ).with_columns(
        pl.coalesce("status", pl.col("detail").str.json_path_match("$.status.to"), pl.lit("active"))
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


def test_a_user_inactive_after_the_run_changes_nobody_s_sign_in():
    """A disabled account signs in with nothing: the SIS renaming its username (to free it for
    a new student) changes no sign-in, as the login of a user the run inactivates does not."""
    planned = user_changes(
        ("or--u1", 11, "kim.old", "update", '{"login":{"from":"kim","to":"kim.old"}}', "inactive"),
        (
            "or--u2",
            12,
            "sam.south",
            "move",
            '{"domain_id":{"from":1,"to":2},"login":{"from":"sam","to":"sam.south"}}',
            "inactive",
        ),
        ("or--u3", 13, "ann.b", "update", '{"login":{"from":"ann","to":"ann.b"}}'),
    )
    assert_frame_equal(relogins(planned), relogin_rows(("or--u3", 13, "ann", "ann.b")))
