"""Adoption as a district's data team lives with it, end to end on a real warehouse: sorting out
by hand a record that adopted nobody (docs/explanation/users.md), an adopted account whose
record leaves the SIS, rows made by hand that point at an adopted account, and an incremental
run adopting as the full plan does the accounts the property's random ones never are
(inactive, of no role, spelt with a decomposed accent or a character a screen does not show,
or one that a synced user's value matches too)."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.schemas.settings import Identity, Safety, Settings
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district
from tests.flows.test_pipeline_adoption import made_by_hand, teaching_a_club, user
from tests.flows.test_pipeline_incremental import Scenario, actions
from tests.flows.test_pipeline_incremental import made_by_hand as made_by_hand_rows
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

ADOPT_BY_USERNAME = {"identity": {"adopt_by": "username"}}


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    """The district's warehouse before its first sync: two accounts made by hand for Ada (so
    that her record adopts neither), the first with a course and an enrollment of its own."""
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()  # created and migrated
    made_by_hand(
        warehouse,
        (9001, "hand-ada", "teacher", "Ada.Lovelace", None),
        (9002, "hand-ada-2", "teacher", "ADA.LOVELACE", None),
    )
    return teaching_a_club(warehouse)


def enrolled_as(warehouse: Warehouse, record: str) -> set[int]:
    """The users the managed enrollments derived from a user record point at: its own
    (`or--e1`) and its base courses' teacher enrollments (`...--u-t1--...--teacher`)."""
    return set(
        warehouse.query(
            "select distinct user_id from lms.enrollments where external_id in ('or--e1', "
            "'or--e3') or external_id like ?",
            [f"%--{record}--%"],
        )["user_id"]
    )


def dangling_enrollments(warehouse: Warehouse) -> int:
    return warehouse.query(
        "select count(*) from lms.enrollments e where e.external_id like 'or-%' "
        "and not exists (select 1 from lms.users u where u.user_id = e.user_id)"
    ).item()


def test_a_record_created_anew_is_taken_over_by_an_account_made_by_hand_once_its_own_goes(
    warehouse,
):
    """users.md: once a run has created the record's own account, an account made by hand
    given its external ID besides it makes the next run refuse (two rows cannot be one
    record); with the created account deleted, the next run adopts the one made by hand and
    the record's enrollments move to it."""
    first = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)
    assert first.outcome == "applied", first.message
    created = warehouse.row("users", "or--u-t1")["user_id"]
    assert created not in (9001, 9002)

    # the advice as it was worded: set the account's external_id, nothing else
    warehouse.execute("update lms.users set external_id = 'or--u-t1' where user_id = 9001")
    before = warehouse.query("select * from lms.users order by all")
    refused = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)

    assert refused.outcome == "rejected"
    assert "managed external ID(s) on more than one row (e.g. 'or--u-t1')" in refused.message
    assert warehouse.query("select * from lms.users order by all").equals(before)

    # as users.md says now: the created account goes first
    warehouse.execute("delete from lms.users where user_id = ?", [created])
    adopted = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)

    assert adopted.outcome == "applied", adopted.message
    assert ("user", "or--u-t1", "adopt") in warehouse.actions(adopted.run_id)
    ada = user(warehouse, 9001)
    assert (ada["external_id"], ada["origin"], ada["username"]) == (
        "or--u-t1",
        "sync",
        "ada.lovelace",
    )
    # her sections' teacher enrollments point at the account made by hand now, none at nothing
    assert enrolled_as(warehouse, "u-t1") == {9001}
    assert dangling_enrollments(warehouse) == 0
    assert warehouse.query(
        "select user_id, origin from lms.enrollments where enrollment_id = 9700"
    ).row(0) == (9001, "manual")
    assert user(warehouse, 9002)["external_id"] == "hand-ada-2"  # the other stays as it was


def without_ada(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return district | {
        "users": district["users"].filter(pl.col("sourcedId") != "u-t1"),
        "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != "u-t1"),
    }


@pytest.mark.parametrize("policy", ["inactivate", "delete"])
def test_an_adopted_account_whose_record_leaves_gets_the_users_policy(warehouse, policy):
    """users.md: an adopted account is a synced one: when its record leaves, `[policy] users`
    applies to it, made by hand as it once was; deleted, what was made for it by hand stays,
    pointing at no user, and the run says so."""
    warehouse.execute("delete from lms.users where user_id = 9002")  # Ada's one account
    settings = ADOPT_BY_USERNAME | {
        "policy": {"users": policy},
        "safety": {"max_removal_share": 1.0},
    }
    adopting = warehouse.sync(tiny_district(), settings=settings)
    assert ("user", "or--u-t1", "adopt") in warehouse.actions(adopting.run_id)

    left = warehouse.sync(without_ada(tiny_district()), settings=settings)

    assert left.outcome == "applied", left.message
    remaining = warehouse.query("select status from lms.users where user_id = 9001")
    warned = warehouse.query(
        "select message from audit.issues where run_id = ? and rule = ?",
        [left.run_id, "user.delete_leaves_hand_made"],
    )["message"].to_list()
    if policy == "inactivate":
        assert remaining["status"].to_list() == ["inactive"]
        assert warned == []
    else:
        assert remaining.is_empty()
        assert len(warned) == 1 and "user 9001 (u-t1) is deleted" in warned[0]
        assert "1 enrollment" in warned[0]
    # the enrollment made by hand is never touched
    assert warehouse.query(
        "select user_id, status, origin from lms.enrollments where enrollment_id = 9700"
    ).row(0) == (9001, "active", "manual")


def test_a_section_an_adopted_account_was_enrolled_in_by_hand_holds_it_twice(tmp_path):
    """users.md: rows made by hand that point at an adopted account stay made by hand; a
    student enrolled by hand in a synced section before their record arrives is enrolled
    twice once the SIS enrolls them there too."""
    district = tiny_district()
    warehouse = Warehouse(tmp_path)
    before_kim = district | {
        "users": district["users"].filter(pl.col("sourcedId") != "u-s2"),
        "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != "u-s2"),
    }
    warehouse.sync(before_kim, settings=ADOPT_BY_USERNAME)
    section = warehouse.row("courses", "or--k2")["course_id"]
    made_by_hand(warehouse, (9001, None, "student", "Kim.Lee", None))
    warehouse.execute(
        "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, course_id, "
        "role, is_primary, status, origin) values "
        "(9700, 'district', null, 9001, ?, 'student', false, 'active', 'manual')",
        [section],
    )

    arrived = warehouse.sync(district, settings=ADOPT_BY_USERNAME)

    assert ("user", "or--u-s2", "adopt") in warehouse.actions(arrived.run_id)
    in_section = warehouse.query(
        "select external_id, origin from lms.enrollments where user_id = 9001 "
        "and course_id = ? and status = 'active' order by origin",
        [section],
    )
    assert in_section.rows() == [(None, "manual"), ("or--e4", "sync")]


def test_an_observer_link_made_by_hand_between_adopted_accounts_stays_besides_the_sis_s(
    tmp_path,
):
    """users.md: a parent's and a student's accounts made by hand, linked by hand, are both
    adopted; the SIS's link for the same pair is created besides the one made by hand."""
    warehouse = Warehouse(tmp_path)
    connect(warehouse.path).close()
    made_by_hand(
        warehouse,
        (9001, None, "student", "Sam.Stone", None),
        (9002, None, "parent", "pat.stone", None),
    )
    warehouse.execute(
        "insert into lms.observers (observer_id, tenant, external_id, observer_user_id, "
        "student_user_id, relationship, status, origin) values "
        "(9800, 'district', null, 9002, 9001, 'parent', 'active', 'manual')"
    )

    synced = warehouse.sync(tiny_district(), settings=ADOPT_BY_USERNAME)

    assert {("user", "or--u-s1", "adopt"), ("user", "or--u-p1", "adopt")} <= warehouse.actions(
        synced.run_id
    )
    links = warehouse.query(
        "select external_id, origin from lms.observers where observer_user_id = 9002 "
        "and student_user_id = 9001 order by origin"
    )
    assert links.rows() == [(None, "manual"), ("or--obs--u-p1--u-s1", "sync")]


def account(user_id: int, role: str | None, username: str, status: str = "active") -> dict:
    """An account made by hand in the platform."""
    return {
        "user_id": user_id,
        "tenant": "district",
        "external_id": None,
        "role": role,
        "username": username,
        "status": status,
        "origin": "manual",
    }


def newcomer(district: dict[str, pl.DataFrame], sourced_id: str, username: str) -> pl.DataFrame:
    """A new student record, Sam's but for its sourcedId and username."""
    return (
        district["users"]
        .filter(pl.col("sourcedId") == "u-s1")
        .with_columns(
            pl.lit(sourced_id).alias("sourcedId"),
            pl.lit(username).alias("username"),
            pl.lit(None, pl.String).alias("agentSourcedIds"),
        )
    )


def test_an_incremental_run_adopts_as_the_full_plan_does_accounts_random_ones_never_are(tmp_path):
    """The property (`test_an_incremental_plan_is_the_full_plan_row_for_row`) makes active
    accounts of a record's role or a teacher's, spelt in another letter case or with spaces;
    these are the others, each planned incrementally and in full (`Scenario.step`)."""
    config = Settings(
        identity=Identity(adopt_by="username"),
        safety=Safety(login_changes="warn", max_removal_share=1.0),
    )
    scenario = Scenario(tmp_path, config)
    district = tiny_district()
    scenario.first(district)
    made_by_hand_rows(
        scenario.ours,
        [
            account(9001, "student", "Nia.New", status="inactive"),  # reactivated by adoption
            account(9002, None, "role.less"),  # no role: a conflict
            account(9003, "student", "jose\u0301"),  # the accent stored as a mark of its own
            account(9004, "student", "zw\u200bone"),  # a zero-width space in it
            account(9005, "student", "SAM.STONE"),  # a synced user's username too
        ],
    )
    arrived = district | {
        "users": pl.concat(
            [
                district["users"],
                newcomer(district, "u-nia", "nia.new"),
                newcomer(district, "u-rl", "role.less"),
                newcomer(district, "u-jose", "jos\u00e9"),
                newcomer(district, "u-zw", "zwone"),
                newcomer(district, "u-sam2", "sam.stone"),
            ]
        )
    }

    planned = scenario.step(arrived)  # (asserts the two plans and warehouses equal)

    users = actions(planned, "user")
    assert {("or--u-nia", "adopt"), ("or--u-jose", "adopt"), ("or--u-zw", "adopt")} <= users
    assert {("or--u-rl", "create"), ("or--u-sam2", "create")} <= users
    assert sorted(planned.adoption.issues["rule"]) == [
        "identity.adopt_ambiguous",  # u-sam2: Sam's synced account matches too
        "identity.adopt_role_conflict",  # u-rl
    ]
