"""A user the sync has sign in with a login that an active synced account, kept when its record
left the SIS (`[policy] users = "keep"`), signs in with already (`identity.login_taken`, from
`transforms.adoption.kept_login_issues`), and a user reactivated under a login an account
made by hand took meanwhile (`login_taken_issues` of `signing_in`'s users), end to end: real
feeds synced into real warehouse files through `flows.steps`."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Mapping

import polars as pl
import pytest

from rosterflow.flows import steps
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import parse_settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse import state
from tests.feeds import frame, tiny_district
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

KEEP = {"identity": {"key": "username"}, "policy": {"users": "keep"}}
INACTIVATE = {"identity": {"key": "username"}}
_feeds = itertools.count(1)


def sync(
    warehouse: Warehouse,
    frames: Mapping[str, pl.DataFrame],
    settings: dict,
    *,
    tenant: str | None = None,
    dry_run: bool = False,
    full: bool = False,
    modes: Mapping[str, str] | None = None,
) -> SyncResult:
    feed = write_feed(warehouse.dir / f"kept-{next(_feeds)}.zip", frames, modes=modes)
    return run_steps(
        Steps(),
        feed,
        warehouse.path,
        parse_settings(settings),
        tenant or warehouse.tenant,
        dry_run,
        full,
    )


def taken(warehouse: Warehouse, run_id: int) -> list[dict]:
    return warehouse.query(
        "select file, line, field, value, severity, message from audit.issues "
        "where run_id = ? and rule = 'identity.login_taken' order by line",
        [run_id],
    ).to_dicts()


def rekeyed(district: dict[str, pl.DataFrame], old: str, new: str) -> dict[str, pl.DataFrame]:
    """`district` with user `old` sent under sourcedId `new` (the same person, re-keyed)."""
    renamed = pl.col("sourcedId").replace(old, new)
    users = district["users"].with_columns(
        renamed, pl.col("agentSourcedIds").str.replace(f"^{old}$", new)
    )
    enrollments = district["enrollments"].with_columns(pl.col("userSourcedId").replace(old, new))
    return district | {"users": users, "enrollments": enrollments}


def logins(warehouse: Warehouse) -> list[tuple]:
    return warehouse.query(
        "select external_id, login, status from lms.users where tenant = 'district' "
        "order by external_id"
    ).rows()


def new_student(district: dict[str, pl.DataFrame], sourced_id: str, username: str) -> dict:
    """`district` with one more student, of no class."""
    student = frame(
        "users",
        {
            "sourcedId": sourced_id,
            "enabledUser": "true",
            "orgSourcedIds": "s1",
            "role": "student",
            "username": username,
            "givenName": "New",
            "familyName": "Student",
        },
    )
    return district | {"users": pl.concat([district["users"], student])}


def without_user(district: dict[str, pl.DataFrame], sourced_id: str) -> dict:
    """`district` without user `sourced_id`, their enrollments and their links."""
    users = district["users"].filter(pl.col("sourcedId") != sourced_id)
    return district | {
        "users": users.with_columns(
            pl.when(pl.col("agentSourcedIds") == sourced_id)
            .then(None)
            .otherwise(pl.col("agentSourcedIds"))
            .alias("agentSourcedIds")
        ),
        "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != sourced_id),
    }


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    warehouse = Warehouse(tmp_path)
    assert sync(warehouse, tiny_district(), KEEP).outcome == "applied"
    return warehouse


REKEYED_WARNING = {
    "file": "users.csv",
    "line": 4,  # Sam's record, under its new sourcedId
    "field": "username",
    "value": "sam.stone",
    "severity": "warning",
    "message": "or--u-s1b (user 6) is created to sign in as sam.stone, a login an active account "
    "synced from a record the SIS no longer sends has already: user 2 'sam.stone' (synced as "
    "or--u-s1); if they are one person, set the old account's external_id to or--u-s1b before "
    "the run and the run takes it over instead (its user_id, enrollments and scores kept); if "
    'not, inactivate the old account ([policy] users = "inactivate" inactivates each user who '
    "leaves the SIS)",
}


def test_a_student_re_keyed_under_keep_is_warned_of_the_kept_account(warehouse):
    result = sync(warehouse, rekeyed(tiny_district(), "u-s1", "u-s1b"), KEEP)

    assert result.outcome == "applied", result.message
    # created all the same, as a user who takes a login of an account made by hand is
    assert ("or--u-s1", "sam.stone", "active") in logins(warehouse)
    assert ("or--u-s1b", "sam.stone", "active") in logins(warehouse)
    assert taken(warehouse, result.run_id) == [REKEYED_WARNING]
    # the same feed again creates nobody: no warning
    again = sync(warehouse, rekeyed(tiny_district(), "u-s1", "u-s1b"), KEEP)
    assert again.outcome == "applied" and taken(warehouse, again.run_id) == []


def test_a_dry_run_warns_of_it_before_the_second_account_exists(warehouse):
    planned = sync(warehouse, rekeyed(tiny_district(), "u-s1", "u-s1b"), KEEP, dry_run=True)

    assert planned.outcome == "planned"
    assert taken(warehouse, planned.run_id) == [REKEYED_WARNING]
    assert ("or--u-s1b", "sam.stone", "active") not in logins(warehouse)


def test_the_incremental_plan_warns_as_the_full_plan_does(warehouse, tmp_path):
    copy = Warehouse(tmp_path / "full")
    copy.dir.mkdir()
    shutil.copy(warehouse.path, copy.path)
    district = rekeyed(tiny_district(), "u-s1", "u-s1b")

    incremental = sync(warehouse, district, KEEP)
    full = sync(copy, district, KEEP, full=True)

    assert (incremental.planning, full.planning) == ("incremental", "full")
    assert taken(warehouse, incremental.run_id) == taken(copy, full.run_id) == [REKEYED_WARNING]


def test_a_delta_that_re_keys_a_student_is_warned_of_in_full_and_incrementally(warehouse, tmp_path):
    """users.csv and enrollments.csv as deltas: Sam's record marked tobedeleted (kept), and
    sent anew under another sourcedId."""
    district = rekeyed(tiny_district(), "u-s1", "u-s1b")
    gone = pl.col("sourcedId").is_in(["u-s1", "e2"])
    delta = {
        "users": pl.concat(
            [
                tiny_district()["users"].filter(gone).with_columns(status=pl.lit("tobedeleted")),
                district["users"]
                .filter(pl.col("sourcedId") == "u-s1b")
                .with_columns(status=pl.lit("active")),
            ]
        ),
        "enrollments": pl.concat(
            [
                tiny_district()["enrollments"]
                .filter(gone)
                .with_columns(status=pl.lit("tobedeleted")),
                district["enrollments"]
                .filter(pl.col("sourcedId") == "e2")
                .with_columns(sourcedId=pl.lit("e2b"), status=pl.lit("active")),
            ]
        ),
    }
    modes = {"users": "delta", "enrollments": "delta"}
    copy = Warehouse(tmp_path / "full")
    copy.dir.mkdir()
    shutil.copy(warehouse.path, copy.path)

    incremental = sync(warehouse, delta, KEEP, modes=modes)
    full = sync(copy, delta, KEEP, modes=modes, full=True)

    assert (incremental.outcome, full.outcome) == ("applied", "applied"), incremental.issues.rows()
    assert (incremental.planning, full.planning) == ("incremental", "full")
    found = taken(warehouse, incremental.run_id)
    assert [(issue["line"], issue["value"]) for issue in found] == [(3, "sam.stone")]
    assert "user 2 'sam.stone' (synced as or--u-s1)" in found[0]["message"]
    assert found == taken(copy, full.run_id)


def test_an_account_the_run_inactivates_shares_no_login(tmp_path):
    warehouse = Warehouse(tmp_path)
    assert sync(warehouse, tiny_district(), INACTIVATE).outcome == "applied"

    result = sync(warehouse, rekeyed(tiny_district(), "u-s1", "u-s1b"), INACTIVATE)

    assert result.outcome == "applied"
    assert ("or--u-s1", "sam.stone", "inactive") in logins(warehouse)
    assert taken(warehouse, result.run_id) == []


def test_a_login_one_user_leaves_for_another_is_no_case(warehouse):
    """A swap: Kim signs in as kim.lee2 from this run on, and a new student as kim.lee."""
    district = new_student(tiny_district(), "u-s3", "kim.lee")
    district["users"] = district["users"].with_columns(
        pl.when(pl.col("sourcedId") == "u-s2")
        .then(pl.lit("kim.lee2"))
        .otherwise(pl.col("username"))
        .alias("username")
    )
    settings = KEEP | {"safety": {"login_changes": "warn"}}

    result = sync(warehouse, district, settings)

    assert result.outcome == "applied", result.message
    assert ("or--u-s3", "kim.lee", "active") in logins(warehouse)
    assert taken(warehouse, result.run_id) == []


def test_another_tenant_s_kept_account_is_not_compared(warehouse):
    # the district's Sam leaves (kept) and the other tenant creates its own Sam
    assert sync(warehouse, without_user(tiny_district(), "u-s1"), KEEP).outcome == "applied"

    result = sync(warehouse, tiny_district(), KEEP, tenant="other")

    assert result.outcome == "applied"
    assert taken(warehouse, result.run_id) == []


@pytest.mark.slow  # (2 s: four runs)
def test_a_user_reactivated_under_a_login_a_kept_account_took_meanwhile_is_warned_of(tmp_path):
    warehouse = Warehouse(tmp_path)
    assert sync(warehouse, tiny_district(), INACTIVATE).outcome == "applied"
    # Sam leaves (inactivated); a new student takes his login (no case: he signs in with none)
    gone = without_user(tiny_district(), "u-s1")
    assert sync(warehouse, gone, INACTIVATE).outcome == "applied"
    meanwhile = sync(warehouse, new_student(gone, "u-s9", "Sam.Stone"), INACTIVATE)
    assert meanwhile.outcome == "applied" and taken(warehouse, meanwhile.run_id) == []

    # under "keep", the new student leaves and stays active; Sam comes back
    result = sync(warehouse, tiny_district(), KEEP)

    assert result.outcome == "applied", result.message
    assert ("or--u-s1", "sam.stone", "active") in logins(warehouse)
    assert ("or--u-s9", "Sam.Stone", "active") in logins(warehouse)
    assert [(issue["line"], issue["value"]) for issue in taken(warehouse, result.run_id)] == [
        (4, "sam.stone")
    ]
    message = taken(warehouse, result.run_id)[0]["message"]
    assert message.startswith(
        "or--u-s1 (user 2) is reactivated to sign in as sam.stone, a login an active account "
        "synced from a record the SIS no longer sends has already: user 6 'Sam.Stone' (synced "
        "as or--u-s9); if they are one person, merge the accounts by hand; if not,"
    ), message


def test_a_run_that_has_nobody_sign_in_anew_reads_no_synced_account(warehouse, monkeypatch):
    read: list[tuple[str, int]] = []

    def counted(name):
        function = getattr(state, name)

        def count(con, tenant, logins):
            read.append((name, logins.len()))
            return function(con, tenant, logins)

        return count

    for name in ("hand_made_logins", "synced_logins"):
        monkeypatch.setattr(steps, name, counted(name))  # (the step imports them by name)
    district = tiny_district()
    district["users"] = district["users"].with_columns(
        pl.when(pl.col("sourcedId") == "u-s2")
        .then(pl.lit("Kimberly"))
        .otherwise(pl.col("givenName"))
        .alias("givenName")
    )

    result = sync(warehouse, district, KEEP)

    assert result.outcome == "applied" and result.planning == "incremental"
    # asked of no login, and so no query
    assert sorted(set(read)) == [("hand_made_logins", 0), ("synced_logins", 0)]


def test_a_kept_account_adoption_warned_of_is_not_warned_of_twice(warehouse):
    """`adopt_by = "login"`: the kept account matches Sam's new record, and is synced already;
    adoption says so, naming it, and adopts nothing. The login taken is that warning's to tell."""
    settings = KEEP | {"identity": {"key": "username", "adopt_by": "login"}}

    result = sync(warehouse, rekeyed(tiny_district(), "u-s1", "u-s1b"), settings)

    assert result.outcome == "applied", result.message
    rules = warehouse.query(
        "select rule from audit.issues where run_id = ? and rule like 'identity.%'",
        [result.run_id],
    )
    assert rules["rule"].to_list() == ["identity.adopt_ambiguous"]


@pytest.mark.slow  # (2 s: four runs)
def test_a_user_reactivated_under_a_login_an_account_made_by_hand_took_meanwhile_is_warned_of(
    tmp_path,
):
    warehouse = Warehouse(tmp_path)
    assert sync(warehouse, tiny_district(), INACTIVATE).outcome == "applied"
    assert sync(warehouse, without_user(tiny_district(), "u-s1"), INACTIVATE).outcome == "applied"
    # while Sam is away (inactive), the platform's staff give his login to an account
    warehouse.execute(
        "insert into lms.users (user_id, tenant, external_id, role, username, login, status, "
        "origin) values (9001, 'district', null, 'student', 'sam', 'Sam.Stone', 'active', "
        "'manual')"
    )
    copy = Warehouse(tmp_path / "full")
    copy.dir.mkdir()
    shutil.copy(warehouse.path, copy.path)

    result = sync(warehouse, tiny_district(), INACTIVATE)
    full = sync(copy, tiny_district(), INACTIVATE, full=True)

    assert result.outcome == "applied", result.message
    assert (result.planning, full.planning) == ("incremental", "full")
    assert taken(warehouse, result.run_id) == taken(copy, full.run_id)
    assert ("or--u-s1", "sam.stone", "active") in logins(warehouse)
    assert taken(warehouse, result.run_id) == [
        {
            "file": "users.csv",
            "line": 4,
            "field": "username",
            "value": "sam.stone",
            "severity": "warning",
            "message": "or--u-s1 is reactivated to sign in as sam.stone, a login an active "
            "account made by hand has already: user 9001 'Sam.Stone'; if they are one person, "
            "merge the accounts by hand; if not, give the account made by hand another login",
        }
    ]
