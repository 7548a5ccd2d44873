"""The warning of a course a plan deletes that rows made by hand point at
(`course_left_behind_issues`): a section stands on classes.csv, a base course on courses.csv."""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.settings import Policy
from rosterflow.transforms.plan import course_left_behind_issues
from tests.transforms.test_plan import IDS, drop, plan_of, synced

BASE = "or--obc--s1--Algebra I"
BASE_ID = 29


def section_and_base_leave(policy: Policy):
    """The plan of a run in which the section k1 and the org base course it derived from
    leave the SIS (with the enrollments in k1)."""
    desired, current = synced()
    base = {
        "external_id": BASE,
        "domain_external_id": "or--s1",
        "kind": "org_base",
        "title": "Algebra I",
        "base_course_external_id": None,
        "status": "active",
    }
    desired["course"].append(base)
    current["course"].append(
        {
            "course_id": BASE_ID,
            "tenant": current["course"][0]["tenant"],
            "origin": "sync",
            "external_id": BASE,
            "domain_id": IDS["or--s1"],
            "kind": "org_base",
            "title": "Algebra I",
            "base_course_id": None,
            "status": "active",
        }
    )
    drop(desired["course"], "or--k1", BASE)
    drop(desired["enrollment"], "or--e1", "or--e2")
    drop(desired["class_resource"], "or--cr1")
    drop(desired["course_resource"], "or--kr1")
    return plan_of(desired, current, policy)


def references(*rows: tuple[int, int, int, int, int]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema=["course_id", "enrollments", "courses", "assignments", "line_items"],
        orient="row",
    ).cast(pl.Int64)


def test_a_section_and_a_base_course_deleted_under_rows_made_by_hand_are_warned_of():
    plan = section_and_base_leave(Policy(courses="delete"))
    issues = course_left_behind_issues(
        plan, references((IDS["or--k1"], 1, 0, 0, 2), (BASE_ID, 0, 3, 1, 0))
    )
    assert issues.select("file", "field", "value", "rule").rows() == [
        ("classes.csv", "sourcedId", "k1", "course.delete_leaves_hand_made"),
        ("courses.csv", None, "obc--s1--Algebra I", "course.delete_leaves_hand_made"),
    ]
    assert "point at it: 1 enrollment, 2 line items;" in issues["message"][0]
    assert "point at it: 3 courses built on it, 1 resource assignment;" in issues["message"][1]


def test_courses_kept_as_the_policy_says_are_not_warned_of():
    plan = section_and_base_leave(Policy(courses="keep"))
    kept = course_left_behind_issues(plan, references((IDS["or--k1"], 1, 0, 0, 2)))
    assert kept.height == 0
