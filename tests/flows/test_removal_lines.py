"""The plan's warnings of a course or a domain it deletes under rows it leaves behind stand on
the line of the record that removes it, as a user's do: a class or an org marked tobedeleted
on a line of a delta file. A record gone from a bulk file, and a base course (derived from a
title), have no line."""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.settings import Policy
from rosterflow.transforms.adoption import LINES_SCHEMA
from rosterflow.transforms.plan import course_left_behind_issues
from tests.feeds import tiny_district
from tests.syncing import Warehouse
from tests.transforms.test_plan import IDS
from tests.transforms.test_plan_course_left_behind import (
    BASE,
    BASE_ID,
    references,
    section_and_base_leave,
)

MARKED = "2027-01-10T08:00:00.000Z"


def _marked(name: str, *sourced_ids: str) -> pl.DataFrame:
    """tiny_district's records of `name` among `sourced_ids`, marked tobedeleted (a delta's)."""
    return (
        tiny_district()[name]
        .filter(pl.col("sourcedId").is_in(sourced_ids))
        .with_columns(status=pl.lit("tobedeleted"), dateLastModified=pl.lit(MARKED))
    )


def _warned(issues: pl.DataFrame, rule: str) -> list[tuple]:
    return issues.filter(pl.col("rule") == rule).select("file", "line", "field", "value").rows()


def test_a_class_a_delta_removes_under_a_line_item_is_warned_of_on_its_line(tmp_path):
    settings = {"policy": {"courses": "delete"}, "safety": {"max_removal_share": 1}}
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district(), settings=settings)
    biology = warehouse.row("courses", "or--k3")["course_id"]
    warehouse.execute(
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible) values (1, ?, ?, 'Lab report', date '2027-01-01', 10)",
        [warehouse.tenant, biology],
    )
    # k3 is the delta's second record: on line 3
    ran = warehouse.sync(
        {"classes": _marked("classes", "k2", "k3")}, modes={"classes": "delta"}, settings=settings
    )

    assert ran.outcome == "applied", ran.issues
    assert ("course", "or--k3", "delete") in warehouse.actions(ran.run_id)
    assert _warned(ran.issues, "course.delete_leaves_hand_made") == [
        ("classes.csv", 3, "sourcedId", "k3")
    ]


def test_an_org_a_delta_removes_with_rows_left_in_it_is_warned_of_on_its_line(tmp_path):
    settings = {"policy": {"domains": "delete"}, "safety": {"max_removal_share": 1}}
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district(), settings=settings)

    # South High closes; its teacher and class are stored, not sent: they stay in its domain
    ran = warehouse.sync(
        {"orgs": _marked("orgs", "s2")}, modes={"orgs": "delta"}, settings=settings
    )

    assert ran.outcome == "applied", ran.issues
    assert ("domain", "or--s2", "delete") in warehouse.actions(ran.run_id)
    assert _warned(ran.issues, "domain.delete_leaves_rows") == [("orgs.csv", 2, "sourcedId", "s2")]


def test_an_org_gone_from_a_bulk_file_is_warned_of_on_no_line(tmp_path):
    settings = {"policy": {"domains": "delete"}, "safety": {"max_removal_share": 1}}
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    warehouse.sync(district, settings=settings)

    # orgs.csv alone, in bulk, without South High: its class and teacher are stored, in it
    ran = warehouse.sync(
        {"orgs": district["orgs"].filter(pl.col("sourcedId") != "s2")}, settings=settings
    )

    assert ("domain", "or--s2", "delete") in warehouse.actions(ran.run_id)
    assert _warned(ran.issues, "domain.delete_leaves_rows") == [
        ("orgs.csv", None, "sourcedId", "s2")
    ]


def test_a_base_course_never_takes_a_line_and_a_section_takes_its_class_s():
    plan = section_and_base_leave(Policy(courses="delete"))
    # a line given for the base course's external ID too: no record of the feed is its
    lines = pl.LazyFrame([("or--k1", 4), (BASE, 9)], schema=LINES_SCHEMA, orient="row")

    issues = course_left_behind_issues(
        plan, references((IDS["or--k1"], 1, 0, 0, 2), (BASE_ID, 0, 3, 1, 0)), lines
    )

    assert issues.select("file", "line", "value").rows() == [
        ("classes.csv", 4, "k1"),
        ("courses.csv", None, "obc--s1--Algebra I"),
    ]
