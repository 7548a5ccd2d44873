"""A platform's gradebook in a synced tiny district, for the grades export and push tests."""

from __future__ import annotations

from pathlib import Path

from tests.feeds import tiny_district
from tests.syncing import Warehouse

TENANT = "district"


def write_gradebook(warehouse: Warehouse) -> None:
    """What a platform writes: a column per section (homework, in a category) and one on a
    course made by hand; a score for each student enrolled, one of them above the range."""
    warehouse.execute(
        "insert into lms.courses (course_id, tenant, external_id, kind, title) "
        "values (900, ?, 'club-1', null, 'Chess [club]')",
        [TENANT],
    )
    warehouse.execute(
        """
        insert into lms.line_items
            (line_item_id, tenant, course_id, title, due_date, points_possible, category)
        select 100 + course_id, tenant, course_id, 'Homework 1', date '2027-02-01', 10,
            if(kind = 'section', 'Homework', null)
        from lms.courses where kind = 'section' or course_id = 900
        """
    )
    warehouse.execute(
        """
        insert into lms.scores (line_item_id, user_id, score, graded_at, comment)
        select items.line_item_id, enrollments.user_id, 8, timestamp '2027-02-02 10:00', 'ok'
        from lms.line_items as items
        join lms.enrollments as enrollments on enrollments.course_id = items.course_id
        where enrollments.role = 'student'
        """
    )
    warehouse.execute(
        "insert into lms.scores (line_item_id, user_id, score) "
        "select 900 + 100, user_id, 9 from lms.users where external_id = 'or--u-s1'"
    )
    warehouse.execute(
        "update lms.scores set score = 12 where line_item_id = "
        "(select 100 + course_id from lms.courses where external_id = 'or--k3')"
    )


def graded_warehouse(folder: Path) -> Warehouse:
    """The tiny district synced into a warehouse in `folder`, its gradebook written."""
    warehouse = Warehouse(folder, TENANT)
    assert warehouse.sync(tiny_district()).outcome == "applied"
    write_gradebook(warehouse)
    return warehouse
