"""The demo's week-later changes: its frame edits on tiny districts, and who it casts."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.demo.scenario import DEMO_STUDENTS
from rosterflow.demo.week import (
    NEW_TEACHER,
    DemoError,
    cast_of,
    student_leaves,
    student_moves,
    teacher_arrives,
    week_later,
)
from tests.feeds import tiny_district, with_cell


def ids(frame: pl.DataFrame, *columns: str) -> set[tuple]:
    return set(frame.select(columns).iter_rows())


@pytest.fixture(scope="module")
def district() -> dict[str, pl.DataFrame]:
    return generate_feed(DEMO_STUDENTS, seed=0)


def test_a_student_who_leaves_takes_their_enrollments_and_agent_links_along():
    # the parent u-p1 is linked to u-s1 and, for this test, to u-s2 after it
    district = with_cell(tiny_district(), "users", 4, "agentSourcedIds", "u-s1,u-s2")
    untouched = {name: frame.clone() for name, frame in district.items()}

    left = student_leaves(district, "u-s1")

    assert "u-s1" not in left["users"]["sourcedId"].to_list()
    assert "u-s1" not in left["enrollments"]["userSourcedId"].to_list()
    assert ids(left["enrollments"], "sourcedId") == {("e1",), ("e3",), ("e4",), ("e5",), ("e6",)}
    agents = dict(left["users"].select("sourcedId", "agentSourcedIds").iter_rows())
    assert agents["u-p1"] == "u-s2"
    for name, frame in untouched.items():  # the input is not changed in place
        assert_frame_equal(district[name], frame)


def test_the_last_agent_link_leaves_an_empty_cell():
    left = student_leaves(tiny_district(), "u-s1")
    parent = left["users"].filter(pl.col("sourcedId") == "u-p1")
    assert parent["agentSourcedIds"].to_list() == [None]


def test_a_student_who_moves_attends_the_new_school_in_a_classmates_classes():
    moved = student_moves(tiny_district(), "u-s1", "s2", classmate="u-s2")

    user = moved["users"].filter(pl.col("sourcedId") == "u-s1").row(0, named=True)
    assert user["orgSourcedIds"] == "s2"
    mine = moved["enrollments"].filter(pl.col("userSourcedId") == "u-s1")
    assert ids(mine, "sourcedId", "classSourcedId", "schoolSourcedId", "role", "primary") == {
        ("enr-u-s1-k2", "k2", "s1", "student", "false"),
        ("enr-u-s1-k3", "k3", "s2", "student", "false"),
    }
    assert moved["enrollments"].height == tiny_district()["enrollments"].height + 1


def test_a_new_teacher_replaces_the_primary_teacher_of_one_class():
    arrived = teacher_arrives(tiny_district(), "k3")

    teacher = arrived["users"].filter(pl.col("sourcedId") == NEW_TEACHER["sourcedId"])
    assert teacher.select("orgSourcedIds", "role", "givenName", "username").row(0) == (
        "s2",
        "teacher",
        "Grace",
        "grace.hopper",
    )
    assert arrived["users"].columns == tiny_district()["users"].columns
    k3_teachers = arrived["enrollments"].filter(
        (pl.col("classSourcedId") == "k3") & (pl.col("role") == "teacher")
    )
    assert ids(k3_teachers, "sourcedId", "userSourcedId", "primary") == {
        ("enr-usr-tch-new-k3", "usr-tch-new", "true")
    }
    # the old teacher keeps the classes of the other school
    assert "u-t2" not in arrived["enrollments"]["userSourcedId"].to_list()
    kept = teacher_arrives(tiny_district(), "k1")["enrollments"]
    assert ("e3", "u-t1") in ids(kept, "sourcedId", "userSourcedId")


def test_a_class_without_a_primary_teacher_cannot_get_a_new_one():
    district = with_cell(tiny_district(), "enrollments", 4, "primary", "false")
    with pytest.raises(DemoError, match="k3"):
        teacher_arrives(district, "k3")


def test_the_cast_moves_a_student_between_two_schools_teaching_their_grade(district):
    cast = cast_of(district)
    users = district["users"]
    grade = dict(users.select("sourcedId", "grades").iter_rows())
    school = dict(users.select("sourcedId", "orgSourcedIds").iter_rows())

    assert grade[cast.mover] == grade[cast.classmate]
    assert school[cast.mover] != cast.new_school == school[cast.classmate]
    assert cast.leaver not in (cast.mover, cast.classmate)
    assert users.filter(pl.col("sourcedId") == cast.leaver)["agentSourcedIds"][0] is not None


def test_a_district_whose_schools_share_no_grade_has_nobody_to_move():
    with pytest.raises(DemoError, match="same grade"):
        cast_of(tiny_district())  # tiny students have no grades at all


def test_a_week_later_every_frame_keeps_the_spec_columns(district):
    later = week_later(district, cast_of(district))
    for name, frame in district.items():
        assert later[name].schema == frame.schema, name
