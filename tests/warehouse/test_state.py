"""The tenant's lms rows as the incremental plan reads them (`warehouse.state`)."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import (
    WarehouseCurrent,
    hand_made_course_references,
    hand_made_references,
    hand_made_users_checksum,
    lms_checksum,
)
from tests.feeds import tiny_district
from tests.syncing import Warehouse


@pytest.mark.parametrize("entity", ["user", "enrollment", "resource"])
def test_no_keys_read_what_keys_found_nowhere_read(tmp_path, entity):
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(tiny_district()).outcome == "applied"
    with connect(warehouse.path, read_only=True) as con:
        current = WarehouseCurrent(con, warehouse.tenant)
        nowhere = pl.Series(["or-nobody"])
        none = pl.Series([], dtype=pl.String)
        assert_frame_equal(current.rows(entity, none), current.rows(entity, nowhere))
        assert_frame_equal(current.ids(entity, none), current.ids(entity, nowhere))
        # and keys that are there are found
        some = current.rows(entity).get_column("external_id").head(2)
        assert current.rows(entity, some).height == current.ids(entity, some).height == some.len()


def test_the_hand_made_users_checksum_sees_every_account_made_by_hand_and_no_managed_row(
    tmp_path,
):
    """What a held plan that adopts depends on besides the managed rows: any insert, edit or
    delete of a user made by hand (with no external ID, or one of its own) changes it; a
    managed row's edit, another tenant's account or another table's hand-made row does not."""
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(tiny_district()).outcome == "applied"

    def sums() -> tuple[str, str]:
        with connect(warehouse.path, read_only=True) as con:
            tenant = warehouse.tenant
            return hand_made_users_checksum(con, tenant), lms_checksum(con, tenant)

    hand, managed = sums()
    assert hand == "users:0:0"
    steps = [
        ("insert into lms.users (user_id, tenant, external_id, role, status, origin) values "
         "(9001, 'district', null, 'teacher', 'active', 'manual'), "
         "(9002, 'district', 'hand-2', 'student', 'active', 'manual')", True),
        ("update lms.users set username = 'kim' where user_id = 9002", True),
        ("delete from lms.users where user_id = 9001", True),
        ("insert into lms.users (user_id, tenant, external_id, role, status, origin) values "
         "(9003, 'elsewhere', null, 'teacher', 'active', 'manual')", False),
        ("insert into lms.courses (course_id, tenant, external_id, kind, title, status, origin) "
         "values (9500, 'district', null, 'section', 'Club', 'active', 'manual')", False),
        ("update lms.users set family_name = 'Byron' where external_id = 'or--u-t1'", False),
    ]  # fmt: skip
    for sql, changes_it in steps:
        warehouse.execute(sql)
        now, managed_now = sums()
        assert (now != hand) == changes_it, sql
        hand = now
    assert managed_now != managed  # (the managed edit is lms_checksum's to see)
    assert hand.startswith("users:1:")  # the one account made by hand left


def test_the_rows_made_by_hand_that_point_at_users_are_counted_per_user(tmp_path):
    """Enrollments and observer links made by hand (either side), and scores; never a managed
    row (the plan deletes those with the user), another tenant's, nor a user not asked of."""
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(tiny_district()).outcome == "applied"
    assert warehouse.sync(tiny_district(), tenant="other").outcome == "applied"
    ids = dict(
        warehouse.query(
            "select external_id, user_id from lms.users where tenant = 'district'"
        ).rows()
    )
    sam, kim, ada = ids["or--u-s1"], ids["or--u-s2"], ids["or--u-t1"]
    warehouse.execute(
        "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, course_id, "
        "role, status, origin) values (9700, 'district', 'hand-1', ?, 1, 'student', 'active', "
        "'manual'), (9701, 'district', null, ?, 1, 'student', 'active', 'manual'), "
        "(9702, 'other', null, ?, 1, 'student', 'active', 'manual')",
        [sam, sam, kim],
    )
    warehouse.execute(
        "insert into lms.observers (observer_id, tenant, external_id, observer_user_id, "
        "student_user_id, status, origin) values (9800, 'district', null, ?, ?, 'active', "
        "'manual')",
        [kim, sam],
    )
    warehouse.execute(
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible) values (1, 'district', 1, 'Quiz', date '2027-01-01', 10)"
    )
    warehouse.execute("insert into lms.scores (line_item_id, user_id) values (1, ?)", [kim])

    with connect(warehouse.path, read_only=True) as con:
        found = hand_made_references(con, "district", pl.Series([sam, kim, ada]))
        none = hand_made_references(con, "district", pl.Series([], dtype=pl.Int64))

    # Sam: two enrollments made by hand and a link; Kim: the link and a score (not the other
    # tenant's enrollment); Ada: only managed rows point at her
    assert found.rows() == sorted([(sam, 2, 1, 0), (kim, 0, 1, 1)])  # by user_id
    assert none.height == 0 and none.columns == found.columns


def test_the_rows_made_by_hand_that_point_at_courses_are_counted_per_course(tmp_path):
    """Enrollments, courses built on a course and resource assignments made by hand, and the
    platform's line items; never a managed row, another tenant's, nor a course not asked of."""
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(tiny_district()).outcome == "applied"
    assert warehouse.sync(tiny_district(), tenant="other").outcome == "applied"
    ids = dict(
        warehouse.query(
            "select external_id, course_id from lms.courses where tenant = 'district'"
        ).rows()
    )
    k1, k3, base = ids["or--k1"], ids["or--k3"], ids["or--obc--s1--Algebra I"]
    user = warehouse.query("select min(user_id) as id from lms.users")["id"][0]
    warehouse.execute(
        "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, course_id, "
        "role, status, origin) values (9700, 'district', 'hand-1', ?, ?, 'student', 'active', "
        "'manual'), (9701, 'other', null, ?, ?, 'student', 'active', 'manual')",
        [user, k1, user, k3],
    )
    warehouse.execute(
        "insert into lms.courses (course_id, tenant, external_id, domain_id, kind, title, "
        "base_course_id, status, origin) select 9800, 'district', 'my-algebra', domain_id, "
        "'section', 'Mine', course_id, 'active', 'manual' from lms.courses where course_id = ?",
        [base],
    )
    warehouse.execute(
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible) values (1, 'district', ?, 'Quiz', date '2027-01-01', 10), "
        "(2, 'district', ?, 'Test', date '2027-01-02', 10)",
        [k3, k3],
    )

    with connect(warehouse.path, read_only=True) as con:
        found = hand_made_course_references(con, "district", pl.Series([k1, k3, base]))
        none = hand_made_course_references(con, "district", pl.Series([], dtype=pl.Int64))

    # k1: the enrollment made by hand; k3: two line items (not the other tenant's enrollment);
    # the org base course: the course built on it
    assert found.rows() == sorted([(k1, 1, 0, 0, 0), (k3, 0, 0, 0, 2), (base, 0, 1, 0, 0)])
    assert none.height == 0 and none.columns == found.columns
