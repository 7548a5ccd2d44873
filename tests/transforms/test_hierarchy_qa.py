"""The hierarchy and grade levels of a class whose teacher or student left it, as a SIS that
keeps ended enrollments sends them: the record stays, of status `inactive` (the 1.0 value,
accepted with a warning, whose lms enrollment is inactive)."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.transforms.desired import source_grade_levels
from rosterflow.transforms.hierarchy import (
    base_course_enrollments,
    order_deciding_teachers,
)
from tests.feeds import frame, tiny_district
from tests.transforms.test_hierarchy import as_source, hierarchy_of


def base_of(courses: pl.DataFrame, external_id: str) -> str | None:
    return courses.filter(pl.col("external_id") == external_id)["base_course_external_id"].item()


def co_taught(first: dict[str, str], second: dict[str, str]) -> dict[str, pl.DataFrame]:
    """tiny_district with a second teacher, u-t3, in class k1: k1's teacher enrollments are e1
    (u-t1) then e7 (u-t3), with the fields given for each."""
    district = tiny_district()
    teacher = frame(
        "users",
        {
            "sourcedId": "u-t3",
            "enabledUser": "true",
            "orgSourcedIds": "s1",
            "role": "teacher",
            "username": "grace.hopper",
            "givenName": "Grace",
            "familyName": "Hopper",
        },
    )
    k1 = {"classSourcedId": "k1", "schoolSourcedId": "s1", "role": "teacher"}
    enrollments = pl.concat(
        [
            frame("enrollments", k1 | {"sourcedId": "e1", "userSourcedId": "u-t1"} | first),
            district["enrollments"].filter(pl.col("sourcedId") != "e1"),
            frame("enrollments", k1 | {"sourcedId": "e7", "userSourcedId": "u-t3"} | second),
        ]
    )
    return district | {
        "users": pl.concat([district["users"], teacher]),
        "enrollments": enrollments,
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # the first in file order, none marked
        ({"primary": "false", "status": "inactive"}, {"primary": "false"}),
        # the one marked primary
        ({"primary": "true", "status": "inactive"}, {"primary": "false"}),
    ],
    ids=["first in file order", "marked primary"],
)
def test_a_teacher_whose_enrollment_is_inactive_is_not_the_primary_teacher(first, second):
    courses = hierarchy_of(co_taught(first, second))
    assert base_of(courses, "or--k1") == "or--sbc--s1--u-t3--t1--Algebra I"
    # u-t1 still teaches k2, so keeps their own bases; u-t3 is enrolled in theirs
    teachers = base_course_enrollments(courses.lazy()).collect()
    assert set(teachers["external_id"]) == {
        "or--tbc--s1--u-t1--Algebra I--teacher",
        "or--sbc--s1--u-t1--t1--Algebra I--teacher",
        "or--tbc--s1--u-t3--Algebra I--teacher",
        "or--sbc--s1--u-t3--t1--Algebra I--teacher",
        "or--tbc--s2--u-t2--Biology--teacher",
        "or--sbc--s2--u-t2--t2--Biology--teacher",
    }


def test_an_active_teacher_marked_primary_still_wins_over_an_inactive_one_first_in_file():
    courses = hierarchy_of(
        co_taught({"primary": "false", "status": "inactive"}, {"primary": "true"})
    )
    assert base_of(courses, "or--k1") == "or--sbc--s1--u-t3--t1--Algebra I"
    courses = hierarchy_of(co_taught({"primary": "false"}, {"primary": "false"}))
    assert base_of(courses, "or--k1") == "or--sbc--s1--u-t1--t1--Algebra I"  # unchanged


def test_a_class_whose_only_teacher_left_derives_from_its_school_s_org_base():
    district = tiny_district()
    left = district | {
        "enrollments": district["enrollments"].with_columns(
            pl.when(pl.col("sourcedId") == "e5")
            .then(pl.lit("inactive"))
            .otherwise(pl.col("status"))
            .alias("status")
        )
    }
    courses = hierarchy_of(left)
    assert base_of(courses, "or--k3") == "or--obc--s2--Biology"
    # no base course of u-t2 is desired any more, so none enrolls them
    assert not courses["external_id"].str.contains("u-t2").any()


def test_the_order_of_the_active_teachers_decides_when_the_marked_one_is_inactive():
    """k1: e1 marked primary but inactive, e2 and e3 unmarked and active: e2 or e3 is the
    primary teacher by file order, so their lines are kept (`transforms.lines`); k2: one
    active teacher beside an inactive one, whose order decides nothing."""
    enrollments = frame(
        "enrollments",
        *(
            {
                "sourcedId": sid,
                "classSourcedId": class_,
                "role": "teacher",
                "primary": primary,
                "status": status,
            }
            for sid, class_, primary, status in [
                ("e1", "k1", "true", "inactive"),
                ("e2", "k1", "false", None),
                ("e3", "k1", "false", None),
                ("e4", "k2", "false", "inactive"),
                ("e5", "k2", "false", None),
            ]
        ),
    )
    deciding = order_deciding_teachers(
        as_source({"enrollments": enrollments})["enrollments"].lazy()
    ).collect()
    assert deciding["line"].sort().to_list() == [3, 4]  # e2 and e3


def test_a_class_a_student_left_does_not_give_them_its_grade():
    """u-s2 is in k2 (Algebra I, 09) and k3 (Biology, 09-10); with k3's enrollment inactive,
    k2's grade is theirs; with both inactive, none of their classes counts."""
    district = tiny_district()

    def levels(inactive: list[str]) -> dict[str, str]:
        enrollments = district["enrollments"].with_columns(
            pl.when(pl.col("sourcedId").is_in(inactive))
            .then(pl.lit("inactive"))
            .otherwise(pl.col("status"))
            .alias("status")
        )
        source = as_source(district | {"enrollments": enrollments})
        return dict(source_grade_levels(source).collect().iter_rows())

    assert levels([])["u-s2"] == "10"
    assert levels(["e6"])["u-s2"] == "09"
    assert levels(["e4", "e6"])["u-s2"] == "NA"
    assert levels(["e4", "e6"])["u-s1"] == "09"  # another student's class is not theirs


def test_a_grade_level_is_the_same_with_the_status_column_or_without_it_when_all_are_active():
    district = as_source(tiny_district())
    with_status = source_grade_levels(district).collect()
    without = source_grade_levels(
        district | {"enrollments": district["enrollments"].drop("status")}
    ).collect()
    # (a group-by's rows come in no set order)
    assert_frame_equal(with_status, without, check_row_order=False)
