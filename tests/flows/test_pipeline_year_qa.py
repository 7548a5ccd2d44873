"""A school year of syncs into one warehouse: teachers who leave their classes, co-teachers who
take them over, school moves, retitled courses and new terms. Each feed is planned
incrementally and in full on a copy (`Scenario.step`: the plans and everything left in the
warehouse must be equal), and the same feed again changes nothing."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from rosterflow.schemas.settings import Policy, Safety, Settings
from tests.feeds import frame, tiny_district
from tests.flows.test_pipeline_incremental import Scenario, actions
from tests.transforms.test_incremental import edited

ANY_REMOVAL = Safety(max_removal_share=1.0)


def co_taught() -> dict[str, pl.DataFrame]:
    """tiny_district with two co-teachers of k1 (Algebra I at s1) after u-t1, its marked
    primary teacher, who also teaches k2: u-t3 (line 8) then u-t4 (line 9), neither marked."""
    district = tiny_district()
    teachers = frame(
        "users",
        *(
            {
                "sourcedId": sid,
                "enabledUser": "true",
                "orgSourcedIds": "s1",
                "role": "teacher",
                "username": sid,
                "givenName": given,
                "familyName": "Teacher",
                "email": f"{sid}@example.org",
            }
            for sid, given in (("u-t3", "Grace"), ("u-t4", "Edsger"))
        ),
    )
    co_teachers = frame(
        "enrollments",
        *(
            {
                "sourcedId": sid,
                "classSourcedId": "k1",
                "schoolSourcedId": "s1",
                "userSourcedId": user,
                "role": "teacher",
                "primary": "false",
            }
            for sid, user in (("e7", "u-t3"), ("e8", "u-t4"))
        ),
    )
    return district | {
        "users": pl.concat([district["users"], teachers]),
        "enrollments": pl.concat([district["enrollments"], co_teachers]),
    }


def section_base(scenario: Scenario, class_id: str) -> str | None:
    with duckdb.connect(str(scenario.ours), read_only=True) as con:
        return con.execute(
            "select base.external_id from lms.courses section "
            "left join lms.courses base on base.course_id = section.base_course_id "
            "where section.external_id = ?",
            [f"or--{class_id}"],
        ).fetchone()[0]


def grade_level(scenario: Scenario, user: str) -> str | None:
    with duckdb.connect(str(scenario.ours), read_only=True) as con:
        return con.execute(
            "select grade_level from lms.users where external_id = ?", [f"or--{user}"]
        ).fetchone()[0]


def assert_unchanged_when_sent_again(scenario: Scenario, frames) -> None:
    again = scenario.step(frames)
    changed = {n: p.changes.height for n, p in again.plan.entities.items() if p.changes.height}
    assert changed == {}


@pytest.mark.slow
def test_a_teacher_who_leaves_a_class_as_inactive_hands_it_to_the_next_co_teacher(tmp_path):
    """u-t1's enrollment in k1 turns inactive mid-year (the SIS keeps it): k1 derives from the
    bases of u-t3, its first active co-teacher, and u-t1 keeps the bases of k2, which they
    still teach. Then u-t3 and u-t4 swap lines: u-t4 is first, and takes k1 over."""
    scenario = Scenario(tmp_path, Settings(safety=ANY_REMOVAL))
    district = co_taught()
    scenario.first(district)
    assert section_base(scenario, "k1") == "or--sbc--s1--u-t1--t1--Algebra I"

    left = edited(district, "enrollments", "e1", status="inactive")
    planned = scenario.step(left)
    assert section_base(scenario, "k1") == "or--sbc--s1--u-t3--t1--Algebra I"
    assert {
        ("or--e1", "inactivate"),
        ("or--tbc--s1--u-t3--Algebra I--teacher", "create"),
        ("or--sbc--s1--u-t3--t1--Algebra I--teacher", "create"),
    } <= actions(planned, "enrollment")
    assert ("or--k1", "update") in actions(planned, "course")
    assert_unchanged_when_sent_again(scenario, left)

    enrollments = left["enrollments"]
    swapped = left | {
        "enrollments": pl.concat(
            [
                enrollments.filter(~pl.col("sourcedId").is_in(["e7", "e8"])),
                enrollments.filter(pl.col("sourcedId") == "e8"),
                enrollments.filter(pl.col("sourcedId") == "e7"),
            ]
        )
    }
    scenario.step(swapped)
    assert section_base(scenario, "k1") == "or--sbc--s1--u-t4--t1--Algebra I"
    assert_unchanged_when_sent_again(scenario, swapped)


@pytest.mark.slow
def test_the_only_teacher_of_a_class_leaving_as_inactive_ends_their_base_enrollments(tmp_path):
    """u-t2, k3's only teacher, leaves it (inactive): k3 derives from its school's org base,
    and under `courses = "delete"` the base courses nothing derives from go with their
    teacher's enrollments; sent again, nothing changes."""
    config = Settings(policy=Policy(courses="delete"), safety=ANY_REMOVAL)
    scenario = Scenario(tmp_path, config)
    district = tiny_district()
    scenario.first(district)
    left = edited(district, "enrollments", "e5", status="inactive")
    planned = scenario.step(left)
    assert section_base(scenario, "k3") == "or--obc--s2--Biology"
    assert {
        ("or--tbc--s2--u-t2--Biology", "delete"),
        ("or--sbc--s2--u-t2--t2--Biology", "delete"),
    } <= actions(planned, "course")
    assert ("or--e5", "inactivate") in actions(planned, "enrollment")
    assert_unchanged_when_sent_again(scenario, left)


@pytest.mark.slow
def test_a_school_year_of_changes_plans_incrementally_as_in_full(tmp_path):
    """Fall to spring in one warehouse: a co-teacher becomes primary, a course is retitled, a
    student moves to a school that arrives in the same feed and back a few days later, another
    is inactivated as they move, k1 leaves its fall term, and a school closes (its class,
    course and teacher move to the other school). Each step: incremental = full, and the
    same feed again changes nothing."""
    scenario = Scenario(tmp_path, Settings(policy=Policy(courses="delete"), safety=ANY_REMOVAL))
    district = co_taught()
    scenario.first(district)
    steps = []
    # a co-teacher becomes primary
    year = edited(district, "enrollments", "e1", primary="false")
    year = edited(year, "enrollments", "e7", primary="true")
    steps.append(year)
    # a course retitled
    year = edited(year, "courses", "c-alg", title="Algebra 1")
    steps.append(year)
    # a student moves to a school that arrives in this feed, then back
    east = frame(
        "orgs", {"sourcedId": "s3", "name": "East High", "type": "school", "parentSourcedId": "d1"}
    )
    moved = edited(
        year | {"orgs": pl.concat([year["orgs"], east])}, "users", "u-s1", orgSourcedIds="s3"
    )
    steps.append(moved)
    year = edited(moved, "users", "u-s1", orgSourcedIds="s1")
    steps.append(year)
    # a student moves and is inactivated at once
    year = edited(year, "users", "u-s2", orgSourcedIds="s2", enabledUser="false")
    steps.append(year)
    # the fall term ends for k1
    year = edited(year, "classes", "k1", termSourcedIds="t2")
    steps.append(year)
    # s2 closes: its class, course, teacher and enrollments move to s1
    closed = year | {"orgs": year["orgs"].filter(pl.col("sourcedId") != "s2")}
    closed = edited(closed, "classes", "k3", schoolSourcedId="s1")
    closed = edited(closed, "courses", "c-bio", orgSourcedId="s1")
    closed = edited(closed, "users", "u-t2", orgSourcedIds="s1")
    closed = edited(closed, "users", "u-s2", orgSourcedIds="s1")
    for enrollment in ("e5", "e6"):
        closed = edited(closed, "enrollments", enrollment, schoolSourcedId="s1")
    steps.append(closed)
    for frames in steps:
        scenario.step(frames)
    assert_unchanged_when_sent_again(scenario, steps[-1])
    assert section_base(scenario, "k1") == "or--sbc--s1--u-t3--t2--Algebra 1"
    assert section_base(scenario, "k3") == "or--sbc--s1--u-t2--t2--Biology"


@pytest.mark.slow
def test_a_student_who_leaves_a_class_as_inactive_loses_its_grade_level(tmp_path):
    """u-s2 takes k2 (Algebra I, 09) and k3 (Biology, 09-10): grade 10. Their k3 enrollment
    turns inactive, then their k2 one as well: 09, then NA (no own grades); each planned
    incrementally as in full, and unchanged when sent again."""
    scenario = Scenario(tmp_path, Settings(safety=ANY_REMOVAL))
    district = tiny_district()
    scenario.first(district)
    assert grade_level(scenario, "u-s2") == "10"
    left_k3 = edited(district, "enrollments", "e6", status="inactive")
    planned = scenario.step(left_k3)
    assert grade_level(scenario, "u-s2") == "09"
    assert ("or--u-s2", "update") in actions(planned, "user")
    assert_unchanged_when_sent_again(scenario, left_k3)
    left_both = edited(left_k3, "enrollments", "e4", status="inactive")
    scenario.step(left_both)
    assert grade_level(scenario, "u-s2") == "NA"
    assert grade_level(scenario, "u-s1") == "09"  # k1's, theirs still
