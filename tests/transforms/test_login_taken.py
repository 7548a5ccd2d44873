"""Users created with a login an account made by hand has already (`identity.login_taken`,
`transforms.adoption.login_taken_issues`), on literal frames."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.issues import ISSUE_SCHEMA
from rosterflow.schemas.settings import Identity
from rosterflow.transforms.adoption import (
    CREATED_LOGINS_SCHEMA,
    LINES_SCHEMA,
    MATCH_SCHEMA,
    PAIR_SCHEMA,
    Adoption,
    adoptions,
    login_taken_issues,
)

ACCOUNTS = {"user_id": pl.Int64, "login": pl.String}
ADVICE = (
    '[identity] adopt_by = "login", set before the run that creates the user (a dry run warns '
    "first), has it take such an account over instead of creating another"
)


def created(*rows: tuple) -> pl.DataFrame:
    """(external_id, login) of users a plan creates."""
    return pl.DataFrame(rows, schema=CREATED_LOGINS_SCHEMA, orient="row")


def accounts(*rows: tuple) -> pl.DataFrame:
    """(user_id, login) of active accounts made by hand."""
    return pl.DataFrame(rows, schema=ACCOUNTS, orient="row")


def warnings(*rows: tuple) -> pl.DataFrame:
    """(line, field, value, message) of identity.login_taken warnings on users.csv."""
    return pl.DataFrame(
        [
            ("users.csv", line, field, value, "identity.login_taken", "warning", message)
            for line, field, value, message in rows
        ],
        schema=ISSUE_SCHEMA,
        orient="row",
    )


LINES = pl.DataFrame(
    [("or--u-sam", 4), ("or--u-kim", 5), ("or--u-ada", 9)], schema=LINES_SCHEMA, orient="row"
)
NOTHING_ADOPTED = Adoption()


@pytest.mark.parametrize(
    ("new", "hand_made", "adoption", "expected"),
    [
        pytest.param(
            created(("or--u-sam", "sam.stone"), ("or--u-kim", "kim.lee")),
            accounts((9001, " Sam.Stone")),
            NOTHING_ADOPTED,
            warnings(
                (
                    4,
                    "username",
                    "sam.stone",
                    "or--u-sam is created to sign in as sam.stone, a login an active account "
                    f"made by hand has already: user 9001 ' Sam.Stone'; {ADVICE}",
                )
            ),
            id="one account, in another letter case, with a space",
        ),
        pytest.param(
            created(("or--u-sam", "sam.stone")),
            accounts((9007, "SAM.STONE"), (9001, "sam.stone")),
            NOTHING_ADOPTED,
            warnings(
                (
                    4,
                    "username",
                    "sam.stone",
                    "or--u-sam is created to sign in as sam.stone, a login 2 active accounts "
                    f"made by hand have already: user 9001 'sam.stone', user 9007 'SAM.STONE'; "
                    f"{ADVICE}",
                )
            ),
            id="two accounts named in one warning",
        ),
        pytest.param(
            created(("or--u-new", "new.one")),
            accounts((9001, "Sam.Stone")),
            NOTHING_ADOPTED,
            warnings(),
            id="another login",
        ),
        pytest.param(
            created(("or--u-sam", "sam.stone")),
            accounts((9001, "sam.stone")),
            Adoption(
                matches=pl.DataFrame([(9001, "or--u-kim", None)], schema=MATCH_SCHEMA, orient="row")
            ),
            warnings(),
            id="an account adopted by this run is synced now",
        ),
        pytest.param(
            created(("or--u-sam", "sam.stone"), ("or--u-ada", "SAM.stone")),
            accounts((9001, "sam.stone")),
            Adoption(
                reported=pl.DataFrame([("or--u-sam", 9001)], schema=PAIR_SCHEMA, orient="row")
            ),
            warnings(
                (
                    9,
                    "username",
                    "SAM.stone",
                    "or--u-ada is created to sign in as SAM.stone, a login an active account "
                    f"made by hand has already: user 9001 'sam.stone'; {ADVICE}",
                )
            ),
            id="an account adoption named for the record is not named again",
        ),
        pytest.param(
            created(),
            accounts((9001, "sam.stone")),
            NOTHING_ADOPTED,
            warnings(),
            id="no user created",
        ),
    ],
)
def test_a_user_created_with_a_login_an_account_made_by_hand_has_is_warned_of(
    new, hand_made, adoption, expected
):
    found = login_taken_issues(new, hand_made, adoption, Identity(key="username"), LINES.lazy())

    assert_frame_equal(found, expected)


def test_without_the_run_s_lines_the_warning_stands_on_no_line():
    found = login_taken_issues(
        created(("or--u-sam", "Sam")), accounts((9001, "sam")), Adoption(), Identity()
    )

    assert found["line"].to_list() == [None] and found["field"].to_list() == ["sourcedId"]


def test_adoption_reports_the_pairs_its_issues_name_and_not_those_it_adopts():
    schema = {
        "external_id": pl.String,
        "role": pl.String,
        "username": pl.String,
        "email": pl.String,
        "login": pl.String,
    }
    new = pl.DataFrame(
        [
            ("or--u-two", "student", "twin", None, "twin"),  # two accounts: ambiguous
            ("or--u-tea", "student", "ted", None, "ted"),  # a teacher's account
            ("or--u-one", "student", "one", None, "one"),  # adopted
        ],
        schema=schema,
        orient="row",
    )
    tenant_users = pl.DataFrame(
        [
            (9001, None, "student", "twin", None, "twin"),
            (9002, "hand-2", "student", "TWIN", None, "TWIN"),
            (9003, None, "teacher", "ted", None, "ted"),
            (9004, None, "student", "one", None, "one"),
        ],
        schema={"user_id": pl.Int64} | schema,
        orient="row",
    )
    expected = pl.DataFrame(
        [("or--u-tea", 9003), ("or--u-two", 9001), ("or--u-two", 9002)],
        schema=PAIR_SCHEMA,
        orient="row",
    )

    reported = adoptions(new, tenant_users, Identity(adopt_by="username")).reported
    across = adoptions(
        new, tenant_users, Identity(adopt_by="username", adopt_across_roles=True)
    ).reported

    assert_frame_equal(reported.sort(pl.all()), expected)
    assert_frame_equal(across.sort(pl.all()), expected.filter(pl.col("user_id") != 9003))
