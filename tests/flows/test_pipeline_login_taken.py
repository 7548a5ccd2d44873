"""A user created with a login an active account made by hand signs in with already
(`identity.login_taken`), end to end: real feeds synced into a real warehouse file."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from rosterflow.flows import steps
from rosterflow.warehouse.schema import connect
from tests.feeds import frame, tiny_district
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

BY_USERNAME = {"identity": {"key": "username"}}


def made_by_hand(warehouse: Warehouse, *accounts: tuple) -> None:
    """lms.users rows made in the platform: (user_id, tenant, external_id, role, login,
    status)."""
    for user_id, tenant, external_id, role, login, status in accounts:
        warehouse.execute(
            "insert into lms.users (user_id, tenant, external_id, role, username, login, "
            "status, origin) values (?, ?, ?, ?, ?, ?, ?, 'manual')",
            [user_id, tenant, external_id, role, login, login, status],
        )


def taken(warehouse: Warehouse, run_id: int) -> list[dict]:
    return warehouse.query(
        "select file, line, field, value, severity, message from audit.issues "
        "where run_id = ? and rule = 'identity.login_taken' order by line",
        [run_id],
    ).to_dicts()


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    """Before the district's first sync: Sam Stone's account made by hand (login `Sam.Stone`,
    the SIS's username `sam.stone` in another letter case), and accounts that are no case: an
    inactive one, another tenant's, and one of another login."""
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()
    made_by_hand(
        warehouse,
        (9001, "district", "hand-sam", "student", " Sam.Stone", "active"),
        (9002, "district", None, "teacher", "ada.lovelace", "inactive"),
        (9003, "other", None, "teacher", "alan.turing", "active"),
        (9004, "district", None, "student", "kim.lee2", "active"),
    )
    return warehouse


def test_a_user_created_with_a_login_an_account_made_by_hand_has_is_warned_of(warehouse):
    result = warehouse.sync(tiny_district(), settings=BY_USERNAME)

    assert result.outcome == "applied", result.message
    # created all the same (as before: the warning tells, it does not hold)
    assert warehouse.row("users", "or--u-s1")["login"] == "sam.stone"
    assert taken(warehouse, result.run_id) == [
        {
            "file": "users.csv",
            "line": 4,  # Sam's record
            "field": "username",
            "value": "sam.stone",
            "severity": "warning",
            "message": "or--u-s1 is created to sign in as sam.stone, a login an active account "
            "made by hand has already: user 9001 ' Sam.Stone'; [identity] adopt_by = \"login\", "
            "set before the run that creates the user (a dry run warns first), has it take "
            "such an account over instead of creating another",
        }
    ]
    assert result.issues.filter(pl.col("rule") == "identity.login_taken").height == 1
    # the same feed again creates nobody: no warning, whether recalled or planned again
    again = warehouse.sync(tiny_district(), settings=BY_USERNAME)
    replanned = warehouse.sync(tiny_district(), settings=BY_USERNAME, recall=False)
    assert again.outcome == replanned.outcome == "applied"
    assert taken(warehouse, again.run_id) == taken(warehouse, replanned.run_id) == []


def test_a_dry_run_warns_of_it_before_the_second_account_exists(warehouse):
    planned = warehouse.sync(tiny_district(), settings=BY_USERNAME, dry_run=True)

    assert planned.outcome == "planned"
    assert [issue["line"] for issue in taken(warehouse, planned.run_id)] == [4]
    # the accounts made by hand alone
    assert warehouse.query("select count(*) from lms.users where tenant = 'district'").item() == 3


def test_an_account_adopted_by_its_login_is_no_case(warehouse):
    result = warehouse.sync(
        tiny_district(), settings={"identity": {"key": "username", "adopt_by": "login"}}
    )

    assert result.outcome == "applied"
    assert ("user", "or--u-s1", "adopt") in warehouse.actions(result.run_id)
    assert taken(warehouse, result.run_id) == []


def test_an_account_adoption_warned_of_is_not_warned_of_twice(warehouse):
    """Two accounts of Sam's login: adoption by login adopts neither and says so; the login
    taken is that warning's to tell."""
    made_by_hand(warehouse, (9005, "district", None, "student", "SAM.STONE", "active"))

    result = warehouse.sync(
        tiny_district(), settings={"identity": {"key": "username", "adopt_by": "login"}}
    )

    assert result.outcome == "applied"
    rules = warehouse.query(
        "select rule from audit.issues where run_id = ? and rule like 'identity.%'",
        [result.run_id],
    )
    assert rules["rule"].to_list() == ["identity.adopt_ambiguous"]


def test_a_record_adopt_by_matched_to_no_account_is_warned_of_its_login(warehouse):
    """`adopt_by = "email"`: Sam's account has no email to match, and its login is his."""
    result = warehouse.sync(
        tiny_district(), settings={"identity": {"key": "username", "adopt_by": "email"}}
    )

    assert result.outcome == "applied"
    assert [issue["value"] for issue in taken(warehouse, result.run_id)] == ["sam.stone"]


def test_a_run_that_creates_no_user_reads_no_account_made_by_hand(warehouse, monkeypatch):
    assert warehouse.sync(tiny_district(), settings=BY_USERNAME).outcome == "applied"
    asked: list[int] = []
    read = steps.hand_made_logins

    def counted(con, tenant, logins):
        asked.append(logins.len())
        return read(con, tenant, logins)

    monkeypatch.setattr(steps, "hand_made_logins", counted)
    district = tiny_district()
    district["users"] = district["users"].with_columns(
        pl.when(pl.col("sourcedId") == "u-s2")
        .then(pl.lit("Kimberly"))
        .otherwise(pl.col("givenName"))
        .alias("givenName")
    )

    result = warehouse.sync(district, settings=BY_USERNAME)

    assert result.outcome == "applied" and result.planning == "incremental"
    assert asked == [0]


def test_a_new_user_planned_incrementally_is_warned_of_as_in_full(warehouse, tmp_path):
    assert warehouse.sync(tiny_district(), settings=BY_USERNAME).outcome == "applied"
    made_by_hand(warehouse, (9006, "district", None, "student", "Nia.Okafor ", "active"))
    district = tiny_district()
    district["users"] = pl.concat(
        [
            district["users"],
            frame(
                "users",
                {
                    "sourcedId": "u-s3",
                    "enabledUser": "true",
                    "orgSourcedIds": "s1",
                    "role": "student",
                    "username": "nia.okafor",
                    "givenName": "Nia",
                    "familyName": "Okafor",
                },
            ),
        ]
    )
    copy = Warehouse(tmp_path / "full")
    copy.dir.mkdir()
    shutil.copy(warehouse.path, copy.path)

    incremental = warehouse.sync(district, settings=BY_USERNAME)
    full = copy.sync(district, settings=BY_USERNAME, full=True)

    assert (incremental.planning, full.planning) == ("incremental", "full")
    found = taken(warehouse, incremental.run_id)
    assert [(issue["line"], issue["value"]) for issue in found] == [(7, "nia.okafor")]
    assert "user 9006 'Nia.Okafor '" in found[0]["message"]
    assert found == taken(copy, full.run_id)
