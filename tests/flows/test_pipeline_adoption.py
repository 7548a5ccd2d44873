"""Adopting the accounts a platform already has (`[identity] adopt_by`), end to end: a real
warehouse holding accounts made by hand before the district's first sync."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.flows import steps
from rosterflow.flows.operations import OperationRefused, approve_run, undo_run
from rosterflow.warehouse.schema import connect
from tests.feeds import frame, tiny_district
from tests.spying import answered_by_lines
from tests.syncing import Warehouse

USER_COLUMNS = (
    "user_id, tenant, external_id, domain_id, role, username, given_name, family_name, email, "
    "grade_level, login, status, origin, updated_run_id"
)


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    """The district's warehouse before its first sync: a teacher's account made by hand
    (user 9001, another spelling of the SIS's username `ada.lovelace`), with a course and an
    enrollment of her own."""
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()  # created and migrated
    made_by_hand(warehouse, (9001, "hand-ada", "teacher", " Ada.Lovelace", "ada@old.example"))
    return teaching_a_club(warehouse)


def teaching_a_club(warehouse: Warehouse) -> Warehouse:
    """`warehouse` with a course made by hand (9500, a chess club) that user 9001 teaches
    (enrollment 9700, made by hand too)."""
    warehouse.execute(
        "insert into lms.courses (course_id, tenant, external_id, domain_id, kind, title, "
        "base_course_id, status, origin) values "
        "(9500, 'district', 'hand-club', null, 'section', 'Chess club', null, 'active', 'manual')"
    )
    warehouse.execute(
        "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, course_id, "
        "role, is_primary, status, origin) values "
        "(9700, 'district', null, 9001, 9500, 'teacher', true, 'active', 'manual')"
    )
    return warehouse


def made_by_hand(warehouse: Warehouse, *accounts: tuple) -> None:
    """Accounts made by hand: (user_id, external_id, role, username, email)."""
    for user_id, external_id, role, username, email in accounts:
        warehouse.execute(
            f"insert into lms.users ({USER_COLUMNS}) values "
            "(?, 'district', ?, null, ?, ?, 'By', 'Hand', ?, null, null, 'active', 'manual', null)",
            [user_id, external_id, role, username, email],
        )


def user(warehouse: Warehouse, user_id: int) -> dict:
    return warehouse.query("select * from lms.users where user_id = ?", [user_id]).row(
        0, named=True
    )


ADOPT_BY_USERNAME = {"identity": {"adopt_by": "username"}}


def test_an_account_made_by_hand_is_adopted_with_its_id_enrollments_and_history(warehouse):
    result = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)

    assert result.outcome == "applied", result.message
    adopted = user(warehouse, 9001)
    assert adopted["external_id"] == "or--u-t1" and adopted["origin"] == "sync"
    # the managed fields take the SIS's values
    assert (adopted["username"], adopted["email"], adopted["given_name"]) == (
        "ada.lovelace",
        "ada.lovelace@example.org",
        "Ada",
    )
    # one account per person: the other four SIS users are created, Ada is not
    counts = dict(
        result.summary.filter(pl.col("entity") == "user").select("action", "count").rows()
    )
    assert counts == {"create": 4, "adopt": 1}
    # her own course and enrollment stay, and the SIS's classes enroll the same account
    assert (
        warehouse.query("select user_id from lms.enrollments where enrollment_id = 9700").item()
        == 9001
    )
    assert (
        warehouse.query(
            "select count(*) from lms.enrollments where user_id = 9001 and origin = 'sync'"
        ).item()
        > 0
    )
    change = warehouse.changes(result.run_id).filter(pl.col("external_id") == "or--u-t1")
    assert change.filter(pl.col("entity") == "user")["action"].to_list() == ["adopt"]
    assert '"external_id":{"from":"hand-ada","to":"or--u-t1"}' in change["detail"][0]
    assert '"username":{"from":" Ada.Lovelace","to":"ada.lovelace"}' in change["detail"][0]
    versions = warehouse.query(
        "select external_id, opened_run_id, valid_to from history.users where user_id = 9001 "
        "order by valid_from nulls first"
    )
    assert versions.rows() == [
        ("hand-ada", None, versions["valid_to"][0]),  # the account as made, kept for undo
        ("or--u-t1", result.run_id, None),
    ]


def test_a_dry_run_lists_the_adoptions_and_changes_nothing(warehouse):
    before = user(warehouse, 9001)

    planned = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME, dry_run=True)

    assert planned.outcome == "planned"
    assert ("user", "adopt", 1) in planned.summary.rows()
    assert user(warehouse, 9001) == before
    assert ("user", "or--u-t1", "adopt") in warehouse.actions(planned.run_id)


def test_without_adopt_by_no_account_made_by_hand_changes(warehouse):
    before = warehouse.query("select * from lms.users where origin = 'manual'")

    result = warehouse.sync(tiny_district())

    assert result.outcome == "applied"
    assert ("user", "create", 5) in result.summary.rows()
    assert warehouse.query("select * from lms.users where user_id = 9001").equals(before)


def test_two_accounts_for_one_record_adopt_nobody_and_the_run_says_so(warehouse):
    made_by_hand(warehouse, (9002, None, "teacher", "ADA.LOVELACE", None))

    result = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)

    assert result.outcome == "applied"
    assert ("user", "create", 5) in result.summary.rows()  # Ada is created anew
    assert user(warehouse, 9001)["external_id"] == "hand-ada"
    assert user(warehouse, 9002)["external_id"] is None
    issues = warehouse.query(
        "select file, line, field, value, rule, severity, message from audit.issues "
        "where run_id = ?",
        [result.run_id],
    ).filter(pl.col("rule").str.starts_with("identity.adopt"))
    (issue,) = issues.to_dicts()
    assert issue["rule"] == "identity.adopt_ambiguous" and issue["severity"] == "warning"
    # on Ada's record: the first of users.csv, on line 2
    assert (issue["file"], issue["line"]) == ("users.csv", 2)
    assert issue["field"] == "username" and issue["value"] == "ada.lovelace"
    assert "user 9001" in issue["message"] and "user 9002" in issue["message"]


def test_an_account_of_another_role_is_not_adopted_by_default(warehouse):
    made_by_hand(warehouse, (9003, None, "teacher", "sam.stone", None))  # a student in the SIS

    result = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)

    assert user(warehouse, 9003)["external_id"] is None
    rules = warehouse.query("select rule from audit.issues where run_id = ?", [result.run_id])[
        "rule"
    ].to_list()
    assert "identity.adopt_role_conflict" in rules
    allowed = {"identity": {"adopt_by": "username", "adopt_across_roles": True}}
    other = Warehouse(warehouse.dir / "other")
    other.dir.mkdir()
    connect(other.path).close()
    made_by_hand(other, (9003, None, "teacher", "sam.stone", None))
    other.sync(tiny_district(), settings=allowed)
    assert user(other, 9003)["external_id"] == "or--u-s1"


def test_undoing_a_run_that_adopted_gives_the_account_back_as_it_was(warehouse):
    before = user(warehouse, 9001)
    adopted = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)

    undone = undo_run(warehouse.path, adopted.run_id)

    assert undone.outcome == "applied"
    # every column as it was, updated_run_id included: no run wrote the account made by hand
    assert before["updated_run_id"] is None
    assert user(warehouse, 9001) == before
    (change,) = warehouse.query(
        "select action, detail from audit.changes where run_id = ? and entity_id = 9001 "
        "and entity = 'user'",
        [undone.run_id],
    ).to_dicts()
    assert change["action"] == "update"
    assert '"external_id":{"from":"or--u-t1","to":"hand-ada"}' in change["detail"]
    assert '"origin":{"from":"sync","to":"manual"}' in change["detail"]
    assert warehouse.query("select count(*) from lms.users where origin = 'sync'").item() == 0
    assert (
        warehouse.query("select user_id from lms.enrollments where enrollment_id = 9700").item()
        == 9001
    )


def test_a_run_that_adopts_too_large_a_share_of_the_tenants_users_is_held(warehouse):
    # the tenant's users: Ada's account, Alan's, and one the SIS does not know
    made_by_hand(
        warehouse,
        (9002, None, "teacher", "alan.turing", None),
        (9003, None, "student", "someone.else", None),
    )

    def limited(share: float) -> dict:
        return ADOPT_BY_USERNAME | {"safety": {"max_adoption_share": share}}

    held = warehouse.sync(tiny_district(), settings=limited(0.5))

    assert held.outcome == "held"
    assert "would adopt 2 of the tenant's 3 users (67%)" in held.message
    assert "max_adoption_share = 0.5" in held.message
    assert user(warehouse, 9001)["external_id"] == "hand-ada"
    applied = warehouse.sync(tiny_district(), settings=limited(0.7))
    assert applied.outcome == "applied"
    assert user(warehouse, 9002)["external_id"] == "or--u-t2"


def test_an_adoption_that_changes_how_the_account_signs_in_is_held_as_a_login_change(warehouse):
    # Ada signs in as ada.l today; the SIS's login for her (its sourcedId) is u-t1
    warehouse.execute("update lms.users set login = 'ada.l' where user_id = 9001")

    held = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)

    assert held.outcome == "held"
    assert "would change the login of 1 existing user (e.g. or--u-t1: 'ada.l' -> 'u-t1')" in (
        held.message
    )
    assert user(warehouse, 9001)["external_id"] == "hand-ada"
    warned = ADOPT_BY_USERNAME | {"safety": {"login_changes": "warn"}}
    applied = warehouse.sync(tiny_district(), settings=warned)
    assert applied.outcome == "applied", applied.message
    assert (user(warehouse, 9001)["external_id"], user(warehouse, 9001)["login"]) == (
        "or--u-t1",
        "u-t1",
    )
    issues = warehouse.query(
        "select line, rule, message from audit.issues where run_id = ? "
        "and rule = 'identity.login_changed'",
        [applied.run_id],
    )
    assert issues.rows() == [
        (2, "identity.login_changed", "or--u-t1 signs in as u-t1 now, no longer as ada.l")
    ]


HELD_OVER_ADOPTION = ADOPT_BY_USERNAME | {"safety": {"max_adoption_share": 0.5}}


def test_a_held_run_that_adopts_is_approved_while_the_accounts_made_by_hand_are_as_planned(
    warehouse,
):
    held = warehouse.sync(tiny_district(), settings=HELD_OVER_ADOPTION)
    assert held.outcome == "held", held.message
    # a hand edit of another table made by hand is no change of the accounts
    warehouse.execute("update lms.courses set title = 'Chess' where course_id = 9500")

    approved = approve_run(warehouse.path, held.run_id)

    assert approved.outcome == "applied"
    assert user(warehouse, 9001)["external_id"] == "or--u-t1"


@pytest.mark.slow
@pytest.mark.parametrize(
    "change",
    [
        # the account the plan adopts deleted: approving would bring it back, managed
        "delete from lms.users where user_id = 9001",
        # a second candidate: the match is ambiguous now, and a sync would adopt nobody
        "insert into lms.users (user_id, tenant, external_id, role, username, status, origin) "
        "values (9002, 'district', 'hand-2', 'teacher', 'ADA.LOVELACE', 'active', 'manual')",
        # the account edited: the plan's "from" values (and what undo gives back) are stale
        "update lms.users set email = 'ada@new.example' where user_id = 9001",
    ],
    ids=["deleted", "second-candidate", "edited"],
)
def test_a_held_run_that_adopts_is_refused_once_the_accounts_made_by_hand_changed(
    warehouse, change
):
    held = warehouse.sync(tiny_district(), settings=HELD_OVER_ADOPTION)
    assert held.outcome == "held", held.message
    warehouse.execute(change)
    before = warehouse.query("select * from lms.users order by user_id")

    with pytest.raises(
        OperationRefused, match=r"users made by hand changed since run \d+"
    ) as refused:
        approve_run(warehouse.path, held.run_id)

    assert "\n" not in str(refused.value) and "sync the feed again" in str(refused.value)
    assert warehouse.query("select * from lms.users order by user_id").equals(before)
    assert warehouse.query("select count(*) from audit.decisions").item() == 0
    # the feed synced again plans from the accounts as they are now
    again = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)
    assert again.outcome == "applied", again.message


def test_a_held_run_that_creates_a_user_is_refused_once_an_account_for_it_was_made_by_hand(
    warehouse,
):
    """The held plan creates grace.hopper, whom no account matched when it was planned; one
    made by hand since is the account a sync would adopt now. Approved, the plan made a
    second account beside it."""
    assert warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME).outcome == "applied"
    district = tiny_district()
    grace = (
        district["users"]
        .filter(pl.col("sourcedId") == "u-t2")
        .with_columns(sourcedId=pl.lit("u-t3"), username=pl.lit("grace.hopper"))
    )
    changed = district | {
        "users": pl.concat([district["users"].filter(pl.col("sourcedId") != "u-s2"), grace]),
        "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != "u-s2"),
    }
    held_over_removals = ADOPT_BY_USERNAME | {"safety": {"max_removal_share": 0.0}}
    held = warehouse.sync(changed, settings=held_over_removals)
    assert held.outcome == "held", held.message
    made_by_hand(warehouse, (9900, "hand-grace", "teacher", "Grace.Hopper", "grace@x.example"))

    with pytest.raises(OperationRefused, match=r"users made by hand changed since run \d+"):
        approve_run(warehouse.path, held.run_id)

    again = warehouse.sync(changed, settings=ADOPT_BY_USERNAME)
    assert again.outcome == "applied", again.message
    assert user(warehouse, 9900)["external_id"] == "or--u-t3"  # adopted, not made twice


def test_each_adoption_issue_stands_on_its_record_s_line_in_the_file_as_in_full(
    warehouse, monkeypatch
):
    """A run by changed lines: five new records come first in users.csv, so that every stored
    record stands on another line now; each record that adopts nobody is reported on its line
    in this file, as a full run reports it."""
    by_lines = answered_by_lines(monkeypatch, steps)
    district = tiny_district()
    first = warehouse.sync(district, settings=ADOPT_BY_USERNAME)  # Ada's account adopted
    assert first.outcome == "applied", first.message

    def new(sid: str, role: str, username: str) -> dict:
        return {"sourcedId": sid, "enabledUser": "true", "orgSourcedIds": "s1", "role": role, "username": username,
                "givenName": "New", "familyName": sid}  # fmt: skip

    newcomers = frame(
        "users",
        new("u-n1", "student", "sam.stone"),  # line 2: Sam's account is synced
        new("u-n2", "student", "twin"),  # lines 3 and 4: one account for both
        new("u-n3", "student", "TWIN"),
        new("u-n4", "student", "newbie"),  # line 5: two accounts
        new("u-n5", "student", "roley"),  # line 6: an aide's account
    )
    made_by_hand(
        warehouse,
        (9101, None, "student", "twin", None),
        (9102, None, "student", "Newbie", None),
        (9103, "hand-newbie", "student", "newbie ", None),
        (9104, None, "aide", "roley", None),
    )
    second = district | {"users": pl.concat([newcomers, district["users"]])}
    issues_of = (
        "select file, line, field, value, rule from audit.issues where run_id = ? "
        "and rule like 'identity.adopt%' order by line"
    )

    full = warehouse.sync(second, settings=ADOPT_BY_USERNAME, dry_run=True, full=True)
    result = warehouse.sync(second, settings=ADOPT_BY_USERNAME)

    assert result.outcome == "applied", result.message
    # read by its changed lines (the first run and the full one are read whole)
    assert result.planning == "incremental" and by_lines == [True]
    issues = warehouse.query(issues_of, [result.run_id])
    assert issues.rows() == [
        ("users.csv", 2, "username", "sam.stone", "identity.adopt_ambiguous"),
        ("users.csv", 3, "username", "twin", "identity.adopt_ambiguous"),
        ("users.csv", 4, "username", "TWIN", "identity.adopt_ambiguous"),
        ("users.csv", 5, "username", "newbie", "identity.adopt_ambiguous"),
        ("users.csv", 6, "username", "roley", "identity.adopt_role_conflict"),
    ]
    assert issues.equals(warehouse.query(issues_of, [full.run_id]))


def made_by_hand_in(
    warehouse: Warehouse,
    tenant: str,
    user_id: int,
    username: str,
    email: str | None = None,
    login: str | None = None,
) -> dict:
    """A teacher's account made by hand in another tenant of the same warehouse file; the
    account as it is."""
    warehouse.execute(
        f"insert into lms.users ({USER_COLUMNS}) values "
        "(?, ?, null, null, 'teacher', ?, 'By', 'Hand', ?, null, ?, 'active', 'manual', null)",
        [user_id, tenant, username, email, login],
    )
    return user(warehouse, user_id)


def adoption_issues(warehouse: Warehouse, run_id: int) -> list[str]:
    return warehouse.query(
        "select rule from audit.issues where run_id = ? and rule like 'identity.%'", [run_id]
    )["rule"].to_list()


@pytest.mark.parametrize("adopt_by", ["username", "email", "login"])
def test_an_account_of_another_tenant_is_never_adopted(tmp_path, adopt_by):
    """Issue 28: never adopt across tenants. North's account made by hand has the username,
    email and login of the district's teacher Ada: the district's first sync creates Ada anew
    whatever `adopt_by` matches on, and leaves North's account as it was, without a word of
    it in the district's run."""
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()
    before = made_by_hand_in(
        warehouse, "north", 9001, " Ada.Lovelace", "ADA.LOVELACE@example.org", "u-t1"
    )

    result = warehouse.sync(tiny_district(), settings={"identity": {"adopt_by": adopt_by}})

    assert result.outcome == "applied", result.message
    assert ("user", "create", 5) in result.summary.rows()
    assert not any(action == "adopt" for _, action, _ in result.summary.rows())
    assert user(warehouse, 9001) == before  # external_id still null, every field as it was
    ada = warehouse.query(
        "select user_id, tenant, origin from lms.users where external_id = 'or--u-t1'"
    )
    assert ada.rows() == [(ada["user_id"][0], "district", "sync")]
    assert ada["user_id"][0] != 9001
    assert adoption_issues(warehouse, result.run_id) == []


def test_a_user_new_to_an_existing_tenant_adopts_no_account_of_another_tenant(tmp_path):
    """The same on the incremental path: a later feed of the district adds a user whose
    username North's account made by hand has; the user is created, North's account stays."""
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()
    district = tiny_district()
    first = warehouse.sync(district, settings=ADOPT_BY_USERNAME)
    assert first.outcome == "applied", first.message
    before = made_by_hand_in(warehouse, "north", 9001, "new.teacher")
    newcomer = frame(
        "users",
        {"sourcedId": "u-n1", "enabledUser": "true", "orgSourcedIds": "s1", "role": "teacher",
         "username": "New.Teacher", "givenName": "New", "familyName": "Teacher"},
    )  # fmt: skip

    second = warehouse.sync(
        district | {"users": pl.concat([district["users"], newcomer])},
        settings=ADOPT_BY_USERNAME,
    )

    assert second.outcome == "applied", second.message
    assert second.planning == "incremental"
    assert second.summary.rows() == [("user", "create", 1)]
    assert user(warehouse, 9001) == before
    created = warehouse.query(
        "select tenant, origin, username from lms.users where external_id = 'or--u-n1'"
    )
    assert created.rows() == [("district", "sync", "New.Teacher")]
    assert adoption_issues(warehouse, second.run_id) == []
