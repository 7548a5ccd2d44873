"""A student's grade level: the highest grade of their classes (a class without grades gives
its course's), else of their own users.csv grades, else NA; none for other roles."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.transforms.grades import (
    GRADE_ORDER,
    NO_GRADE,
    grade_code,
    grade_levels,
    highest_grade_rank,
)


def highest(grades: str | None) -> str | None:
    frame = pl.DataFrame({"grades": [grades]}, schema={"grades": pl.String})
    items = pl.col("grades").str.split(",")
    return frame.select(
        grade_code(items.list.eval(highest_grade_rank(pl.element())).list.first())
    ).item()


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        ("09", "09"),
        ("09,10", "10"),
        ("10, 09", "10"),  # the highest, whatever the order
        ("K-5", "05"),  # a range gives its high end
        ("06-08", "08"),
        ("9-12", "12"),  # unpadded numbers
        ("K", "KG"),
        ("kg", "KG"),  # any letter case
        ("0", "KG"),
        ("PK,KG", "KG"),  # CEDS order: PK before KG
        ("IT,PR,PK,TK", "TK"),
        ("12,13,PS", "PS"),
        ("UG,03", "03"),  # ungraded and Other count below every grade
        ("Other", "Other"),
        ("UG", "UG"),
        ("Grade 5", None),  # not a grade
        ("Pre-K", None),  # a range only when both ends are grades: not KG
        ("Pre-K, 03", "03"),
        ("12-09", "12"),  # a range's high end, whichever end it is written at
        ("09-", None),
        ("Grade 5, 04", "04"),
        ("", None),
        (None, None),
    ],
)
def test_the_highest_grade_of_a_list(grades, expected):
    assert highest(grades) == expected


def test_grade_order_is_ceds_with_ungraded_and_other_lowest():
    assert GRADE_ORDER[:2] == ("UG", "Other")
    assert GRADE_ORDER[GRADE_ORDER.index("KG") + 1 :][:3] == ("01", "02", "03")
    assert GRADE_ORDER[-1] == "PS"


def frames(**rows: list[dict]) -> dict[str, pl.LazyFrame]:
    columns = {
        "users": ("sourcedId", "role", "grades"),
        "enrollments": ("userSourcedId", "classSourcedId", "role"),
        "classes": ("sourcedId", "courseSourcedId", "grades"),
        "courses": ("sourcedId", "grades"),
    }
    return {
        name: pl.LazyFrame(
            [{c: row.get(c) for c in cols} for row in rows.get(name, [])],
            schema=dict.fromkeys(cols, pl.String),
        )
        for name, cols in columns.items()
    }


def levels(**rows: list[dict]) -> dict[str, str]:
    given = frames(**rows)
    found = grade_levels(
        given["users"], given["enrollments"], given["classes"], given["courses"]
    ).collect()
    return dict(found.iter_rows())


def student(sid: str, grades: str | None = None) -> dict:
    return {"sourcedId": sid, "role": "student", "grades": grades}


def takes(user: str, class_: str, role: str = "student") -> dict:
    return {"userSourcedId": user, "classSourcedId": class_, "role": role}


COURSES = [{"sourcedId": "algebra", "grades": "09"}, {"sourcedId": "calculus", "grades": "11,12"}]


def test_class_grades_come_first_and_the_highest_class_counts():
    found = levels(
        users=[student("s1", grades="03")],
        classes=[
            {"sourcedId": "c1", "courseSourcedId": "algebra", "grades": "10"},
            {"sourcedId": "c2", "courseSourcedId": "algebra", "grades": "K-5"},
        ],
        courses=COURSES,
        enrollments=[takes("s1", "c1"), takes("s1", "c2")],
    )
    assert found == {"s1": "10"}  # not the course's 09, not the student's own 03


def test_a_class_without_grades_gives_its_courses():
    found = levels(
        users=[student("s1"), student("s2")],
        classes=[
            {"sourcedId": "c1", "courseSourcedId": "calculus", "grades": None},
            {"sourcedId": "c2", "courseSourcedId": "algebra", "grades": "Grade 5"},
            {"sourcedId": "c3", "courseSourcedId": "algebra", "grades": "08"},
        ],
        courses=COURSES,
        enrollments=[takes("s1", "c1"), takes("s2", "c2"), takes("s2", "c3")],
    )
    # s2: c2 names no grade, so its course's 09; higher than c3's 08
    assert found == {"s1": "12", "s2": "09"}


def test_the_students_own_grades_when_the_classes_give_none_else_na():
    found = levels(
        users=[student("s1", grades="K"), student("s2"), student("s3", grades="Grade 5")],
        classes=[{"sourcedId": "c1", "courseSourcedId": "art", "grades": None}],
        courses=[{"sourcedId": "art", "grades": None}],
        enrollments=[takes("s1", "c1"), takes("s2", "c1"), takes("s3", "missing-class")],
    )
    assert found == {"s1": "KG", "s2": NO_GRADE, "s3": NO_GRADE}


def test_only_students_have_a_grade_level_and_only_their_student_enrollments_count():
    found = levels(
        users=[
            student("s1"),
            {"sourcedId": "t1", "role": "teacher", "grades": "09"},
            {"sourcedId": "p1", "role": "parent", "grades": None},
        ],
        classes=[
            {"sourcedId": "c1", "courseSourcedId": "algebra", "grades": "05"},
            {"sourcedId": "c2", "courseSourcedId": "algebra", "grades": "12"},
        ],
        courses=COURSES,
        enrollments=[takes("s1", "c1"), takes("s1", "c2", role="teacher"), takes("t1", "c2")],
    )
    assert found == {"s1": "05"}


def test_every_student_once_in_user_order_independent_form():
    given = frames(
        users=[student("s2"), student("s1")],
        classes=[{"sourcedId": "c1", "courseSourcedId": "algebra", "grades": "07"}],
        courses=COURSES,
        enrollments=[takes("s1", "c1"), takes("s1", "c1")],
    )
    found = grade_levels(given["users"], given["enrollments"], given["classes"], given["courses"])
    assert_frame_equal(
        found.collect().sort("sourcedId"),
        pl.DataFrame({"sourcedId": ["s1", "s2"], "grade_level": ["07", NO_GRADE]}),
    )


def test_a_pre_k_class_does_not_make_its_student_a_kindergartner():
    given = frames(
        users=[
            {"sourcedId": "s", "role": "student", "grades": "PK"},
            {"sourcedId": "r", "role": "student", "grades": "02"},
        ],
        enrollments=[
            {"userSourcedId": "s", "classSourcedId": "k", "role": "student"},
            {"userSourcedId": "r", "classSourcedId": "k2", "role": "student"},
        ],
        classes=[
            {"sourcedId": "k", "courseSourcedId": "c", "grades": "Pre-K"},
            {"sourcedId": "k2", "courseSourcedId": "c", "grades": "12-09"},
        ],
        courses=[{"sourcedId": "c", "grades": None}],
    )
    found = grade_levels(given["users"], given["enrollments"], given["classes"], given["courses"])
    assert_frame_equal(
        found.collect(),
        pl.DataFrame({"sourcedId": ["s", "r"], "grade_level": ["PK", "12"]}),
        check_row_order=False,
    )
