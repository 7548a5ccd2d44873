"""A course deleted under `[policy] courses = "delete"` that rows made by hand point at (the
platform's line items, an enrollment or a course made in the platform): the rows are left as
they are, and the run warns of each such course on its record."""

from __future__ import annotations

import polars as pl

from tests.feeds import tiny_district
from tests.syncing import Warehouse

SETTINGS = {"policy": {"courses": "delete"}, "safety": {"max_removal_share": 1}}


def test_a_section_deleted_under_the_platform_s_line_items_is_warned_of(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    warehouse.sync(district, settings=SETTINGS)
    biology = warehouse.row("courses", "or--k3")["course_id"]
    warehouse.execute(
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible) values (1, ?, ?, 'Lab report', date '2027-01-01', 10)",
        [warehouse.tenant, biology],
    )
    # class k3 leaves the SIS with its enrollments: its section and the base courses only it
    # derived are deleted; only the section has a row made by hand
    without_k3 = district | {
        "classes": district["classes"].filter(pl.col("sourcedId") != "k3"),
        "enrollments": district["enrollments"].filter(pl.col("classSourcedId") != "k3"),
    }

    ran = warehouse.sync(without_k3, settings=SETTINGS)

    assert ran.outcome == "applied"
    assert ("course", "or--k3", "delete") in warehouse.actions(ran.run_id)
    warned = ran.issues.filter(pl.col("rule") == "course.delete_leaves_hand_made")
    assert warned.select("file", "field", "value", "severity").rows() == [
        ("classes.csv", "sourcedId", "k3", "warning")
    ]
    assert warned["message"][0].startswith(
        f"course {biology} (k3) is deleted, but rows made by hand still point at it: 1 line item"
    )
    # the line item is left as it is, pointing at no course
    assert warehouse.query("select course_id from lms.line_items")["course_id"].to_list() == [
        biology
    ]
    assert (
        warehouse.query("select count(*) as n from lms.courses where course_id = ?", [biology])[
            "n"
        ][0]
        == 0
    )
