"""Users a plan has sign in with a login an active synced account keeps signing in with
(`transforms.adoption.signing_in`, `kept_login_issues`), on literal frames."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import EntityPlan, Plan
from rosterflow.schemas.issues import ISSUE_SCHEMA
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.settings import Identity
from rosterflow.transforms.adoption import (
    LINES_SCHEMA,
    MATCH_SCHEMA,
    PAIR_SCHEMA,
    SIGNING_IN_SCHEMA,
    Adoption,
    kept_login_issues,
    login_taken_issues,
    signing_in,
)
from rosterflow.warehouse.state import SYNCED_LOGINS_SCHEMA

CHANGES_SCHEMA = {
    "external_id": pl.String,
    "user_id": pl.Int64,
    "login": pl.String,
    "status": pl.String,
    "action": pl.String,
    "detail": pl.String,
}
LINES = pl.DataFrame([("or--u-new", 7), ("or--u-sam", 4)], schema=LINES_SCHEMA, orient="row")
ADVICE_CREATED = (
    "set the old account's external_id to or--u-new before the run and the run takes it over "
    "instead (its user_id, enrollments and scores kept)"
)
INACTIVATE = (
    'if not, inactivate the old account ([policy] users = "inactivate" inactivates each user '
    "who leaves the SIS)"
)


def changed(**fields: tuple) -> str:
    """A change's detail: each field named with its value before and after."""
    return json.dumps({name: {"from": old, "to": new} for name, (old, new) in fields.items()})


def plan(*rows: tuple) -> Plan:
    """A plan of user changes: (external_id, user_id, login, status, action, detail)."""
    changes = pl.DataFrame(rows, schema=CHANGES_SCHEMA, orient="row")
    return Plan("district", {"user": EntityPlan(ENTITIES["user"], changes, 0)})


def synced(*rows: tuple) -> pl.DataFrame:
    """(user_id, external_id, login) of active synced accounts before the plan."""
    return pl.DataFrame(rows, schema=SYNCED_LOGINS_SCHEMA, orient="row")


def warnings(*rows: tuple) -> pl.DataFrame:
    """(line, value, message) of identity.login_taken warnings on users.csv's username."""
    return pl.DataFrame(
        [
            ("users.csv", line, "username", value, "identity.login_taken", "warning", message)
            for line, value, message in rows
        ],
        schema=ISSUE_SCHEMA,
        orient="row",
    )


NEW_SAM = ("or--u-new", 20, "Sam.Stone", "active", "create", "{}")
KEPT_SAM = synced((2, "or--u-sam-old", " sam.stone"))


def test_the_users_signing_in_anew_are_created_reactivated_or_under_another_login():
    found = signing_in(
        plan(
            NEW_SAM,
            ("or--u-off", 21, "off.one", "inactive", "create", "{}"),  # signs in with nothing
            ("or--u-nol", 22, None, "active", "create", "{}"),  # no login to share
            (
                "or--u-back",
                3,
                "back.one",
                "active",
                "reactivate",
                changed(status=("inactive", "active")),
            ),
            (
                "or--u-kim",
                4,
                "kim.lee2",
                "active",
                "update",
                changed(login=("kim.lee", "kim.lee2")),
            ),
            ("or--u-case", 5, "JDoe", "active", "update", changed(login=("jdoe", "JDoe"))),  # same
            ("or--u-first", 6, "first", "active", "update", changed(login=(None, "first"))),
            ("or--u-name", 7, "ann", "active", "update", changed(given_name=("A", "Ann"))),
            (
                "or--u-left",
                8,
                "left",
                "inactive",
                "inactivate",
                changed(status=("active", "inactive")),
            ),
            ("or--u-gone", 9, "gone", "active", "delete", "{}"),
            ("or--u-adopt", 10, "ted", "active", "adopt", changed(login=("teddy", "ted"))),
        )
    )

    assert_frame_equal(
        found.sort("external_id"),
        pl.DataFrame(
            [
                ("or--u-adopt", 10, "ted", "has its login changed"),
                ("or--u-back", 3, "back.one", "is reactivated"),
                ("or--u-first", 6, "first", "has its login changed"),
                ("or--u-kim", 4, "kim.lee2", "has its login changed"),
                ("or--u-new", 20, "Sam.Stone", "is created"),
            ],
            schema=SIGNING_IN_SCHEMA,
            orient="row",
        ),
    )
    assert_frame_equal(signing_in(Plan("district")), pl.DataFrame(schema=SIGNING_IN_SCHEMA))


@pytest.mark.parametrize(
    ("planned", "accounts", "adoption", "expected"),
    [
        pytest.param(
            plan(NEW_SAM),
            KEPT_SAM,
            Adoption(),
            warnings(
                (
                    7,
                    "Sam.Stone",
                    "or--u-new (user 20) is created to sign in as Sam.Stone, a login an active "
                    "account synced from a record the SIS no longer sends has already: user 2 "
                    f"' sam.stone' (synced as or--u-sam-old); if they are one person, "
                    f"{ADVICE_CREATED}; {INACTIVATE}",
                )
            ),
            id="a kept account, in another letter case",
        ),
        pytest.param(
            plan(NEW_SAM),
            synced((9, "or--u-sam-2", "SAM.STONE"), (2, "or--u-sam-old", "sam.stone")),
            Adoption(),
            warnings(
                (
                    7,
                    "Sam.Stone",
                    "or--u-new (user 20) is created to sign in as Sam.Stone, a login 2 active "
                    "accounts synced from records the SIS no longer sends have already: user 2 "
                    "'sam.stone' (synced as or--u-sam-old), user 9 'SAM.STONE' (synced as "
                    f"or--u-sam-2); if they are one person, {ADVICE_CREATED}; {INACTIVATE}",
                )
            ),
            id="two accounts named in one warning",
        ),
        pytest.param(
            plan(
                NEW_SAM,
                (
                    "or--u-sam-old",
                    2,
                    " sam.stone",
                    "inactive",
                    "inactivate",
                    changed(status=("active", "inactive")),
                ),
            ),
            KEPT_SAM,
            Adoption(),
            warnings(),
            id="an account the plan inactivates",
        ),
        pytest.param(
            plan(NEW_SAM, ("or--u-sam-old", 2, " sam.stone", "active", "delete", "{}")),
            KEPT_SAM,
            Adoption(),
            warnings(),
            id="an account the plan deletes",
        ),
        pytest.param(
            plan(
                NEW_SAM,
                (
                    "or--u-sam-old",
                    2,
                    "sam.stone2",
                    "active",
                    "update",
                    changed(login=(" sam.stone", "sam.stone2")),
                ),
            ),
            KEPT_SAM,
            Adoption(),
            warnings(),
            id="an account the plan moves to another login (a swap)",
        ),
        pytest.param(
            plan(
                NEW_SAM,
                ("or--u-sam-old", 2, " sam.stone", "active", "move", changed(domain_id=(1, 2))),
            ),
            KEPT_SAM,
            Adoption(),
            warnings(
                (
                    7,
                    "Sam.Stone",
                    "or--u-new (user 20) is created to sign in as Sam.Stone, a login an active "
                    "account synced from a record the SIS no longer sends has already: user 2 "
                    f"' sam.stone' (synced as or--u-sam-old); if they are one person, "
                    f"{ADVICE_CREATED}; {INACTIVATE}",
                )
            ),
            id="an account the plan changes otherwise still signs in so",
        ),
        pytest.param(
            plan(NEW_SAM),
            KEPT_SAM,
            Adoption(reported=pl.DataFrame([("or--u-new", 2)], schema=PAIR_SCHEMA, orient="row")),
            warnings(),
            id="an account adoption named for the record is not named again",
        ),
        pytest.param(
            plan(
                (
                    "or--u-sam",
                    2,
                    "sam.stone",
                    "active",
                    "reactivate",
                    changed(status=("inactive", "active")),
                ),
            ),
            synced((6, "or--u-s9", "Sam.Stone")),
            Adoption(),
            warnings(
                (
                    4,
                    "sam.stone",
                    "or--u-sam (user 2) is reactivated to sign in as sam.stone, a login an "
                    "active account synced from a record the SIS no longer sends has already: "
                    "user 6 'Sam.Stone' (synced as or--u-s9); if they are one person, merge the "
                    f"accounts by hand; {INACTIVATE}",
                )
            ),
            id="a user reactivated",
        ),
        pytest.param(plan(NEW_SAM), synced(), Adoption(), warnings(), id="no account"),
        pytest.param(plan(), KEPT_SAM, Adoption(), warnings(), id="nobody signs in anew"),
    ],
)
def test_a_user_signing_in_as_a_kept_account_does_is_warned_of(
    planned, accounts, adoption, expected
):
    found = kept_login_issues(planned, accounts, adoption, Identity(key="username"), LINES)

    assert_frame_equal(found, expected)


def test_without_the_run_s_lines_the_warning_stands_on_no_line():
    found = kept_login_issues(plan(NEW_SAM), KEPT_SAM, Adoption(), Identity())

    assert found["line"].to_list() == [None] and found["field"].to_list() == ["sourcedId"]


def test_a_user_reactivated_under_a_login_an_account_made_by_hand_has_is_warned_of():
    """`login_taken_issues` of `signing_in`'s users: each worded as it signs in anew, and
    compared with the accounts made by hand by theirs, not by the user's own `user_id`."""
    planned = plan(
        (
            "or--u-sam",
            2,
            "sam.stone",
            "active",
            "reactivate",
            changed(status=("inactive", "active")),
        )
    )
    hand_made = pl.DataFrame(
        [(9001, "Sam.Stone")], schema={"user_id": pl.Int64, "login": pl.String}, orient="row"
    )
    # another account the run adopts has the reactivated user's user_id: no bearing on 9001
    adoption = Adoption(
        matches=pl.DataFrame([(2, "or--u-x", None)], schema=MATCH_SCHEMA, orient="row")
    )

    found = login_taken_issues(
        signing_in(planned), hand_made, adoption, Identity(key="username"), LINES
    )

    assert_frame_equal(
        found,
        warnings(
            (
                4,
                "sam.stone",
                "or--u-sam is reactivated to sign in as sam.stone, a login an active account "
                "made by hand has already: user 9001 'Sam.Stone'; if they are one person, merge "
                "the accounts by hand; if not, give the account made by hand another login",
            )
        ),
    )
