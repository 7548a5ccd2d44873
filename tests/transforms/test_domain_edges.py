"""Domain rules at their edges, on literal frames: where the guards place what a run removes,
the grade levels ungraded classes give, and course external IDs that would collide."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import EntityPlan, Plan, PlanError
from rosterflow.schemas.lms import ENROLLMENT, USER
from rosterflow.schemas.settings import Hierarchy
from rosterflow.transforms.grades import grade_levels
from rosterflow.transforms.guard import removals
from rosterflow.transforms.hierarchy import course_hierarchy
from tests.feeds import frame, tiny_district, with_cell

USER_CHANGES = {
    "external_id": pl.String,
    "domain_id": pl.Int64,
    "status": pl.String,
    "action": pl.String,
    "detail": pl.String,
}
ENROLLMENT_CHANGES = {
    "external_id": pl.String,
    "course_id": pl.Int64,
    "status": pl.String,
    "action": pl.String,
    "detail": pl.String,
}


def test_a_removed_row_is_placed_where_it_was_before_the_run():
    users = pl.DataFrame(
        [
            # moved to domain 9 and disabled in one run: taken from domain 2, which it leaves
            (
                "or--u1",
                9,
                "inactive",
                "inactivate",
                '{"domain_id":{"from":2,"to":9},"status":{"from":"active","to":"inactive"}}',
            ),
            # disabled where it was
            ("or--u2", 3, "inactive", "inactivate", '{"status":{"from":"active","to":"inactive"}}'),
            # deleted: the row as it was
            ("or--u3", 4, "active", "delete", '{"reason":"not in the feed"}'),
            # moved, not removed
            ("or--u4", 9, "active", "move", '{"domain_id":{"from":2,"to":9}}'),
        ],
        schema=USER_CHANGES,
        orient="row",
    )
    enrollments = pl.DataFrame(
        [
            (
                "or--e1",
                70,
                "withdrawn",
                "withdraw",
                '{"course_id":{"from":50,"to":70},"status":{"from":"active","to":"withdrawn"}}',
            ),
            ("or--e2", 51, "inactive", "inactivate", None),
        ],
        schema=ENROLLMENT_CHANGES,
        orient="row",
    )
    planned = Plan(
        "district",
        {"user": EntityPlan(USER, users, 4), "enrollment": EntityPlan(ENROLLMENT, enrollments, 2)},
    )
    found = removals(planned)
    assert_frame_equal(
        found["user"].select("external_id", "domain_id"),
        pl.DataFrame({"external_id": ["or--u1", "or--u2", "or--u3"], "domain_id": [2, 3, 4]}),
    )
    assert_frame_equal(
        found["enrollment"].select("external_id", "course_id"),
        pl.DataFrame({"external_id": ["or--e1", "or--e2"], "course_id": [50, 51]}),
    )


def test_ungraded_is_a_grade_that_every_other_grade_of_the_classes_outranks():
    # as docs/explanation/users.md says: UG and Other are below every grade, but grades: a
    # class saying UG is ungraded whatever its course says, and a student whose classes give
    # only UG or Other has that grade level, their own users.grades read only without one
    users = pl.LazyFrame(
        {
            "sourcedId": ["ug", "other", "both", "none"],
            "role": ["student"] * 4,
            "grades": ["05", "05", "05", "05"],
        }
    )
    enrollments = pl.LazyFrame(
        {
            "userSourcedId": ["ug", "other", "both", "both", "none"],
            "classSourcedId": ["k-ug", "k-other", "k-ug", "k-07", "k-none"],
            "role": ["student"] * 5,
        }
    )
    classes = pl.LazyFrame(
        {
            "sourcedId": ["k-ug", "k-other", "k-07", "k-none"],
            "courseSourcedId": ["c-09", "c-09", "c-09", "c-none"],
            "grades": ["UG", "Other", "07", "Grade 5"],
        }
    )
    courses = pl.LazyFrame({"sourcedId": ["c-09", "c-none"], "grades": ["09", None]})
    assert_frame_equal(
        grade_levels(users, enrollments, classes, courses).collect(),
        pl.DataFrame(
            {
                "sourcedId": ["ug", "other", "both", "none"],
                "grade_level": ["UG", "Other", "07", "05"],
            }
        ),
        check_row_order=False,
    )


def hierarchy_of(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """`course_hierarchy` of feed frames read as records of run 1, in file order from line 2."""
    source = {
        name: data.with_columns(
            pl.lit(1, pl.Int64).alias("run_id"),
            (pl.int_range(pl.len()) + 2).cast(pl.Int64).alias("line"),
        )
        for name, data in frames.items()
    }
    names = ("orgs", "courses", "classes", "users", "enrollments")
    return course_hierarchy(*(source[name] for name in names), Hierarchy())


def test_a_class_whose_sourced_id_reads_as_a_base_course_s_is_refused():
    # the section of class `obc--s1--Math` would be `or--obc--s1--Math`, the org base course
    # of "Math" at s1
    classes = frame(
        "classes",
        *(
            {"sourcedId": sid, "title": sid, "courseSourcedId": "c-math", "schoolSourcedId": "s1"}
            for sid in ("k1", "obc--s1--Math")
        ),
    )
    courses = frame("courses", {"sourcedId": "c-math", "title": "Math", "orgSourcedId": "s1"})
    district = tiny_district() | {"classes": classes, "courses": courses}
    with pytest.raises(PlanError) as refused:
        hierarchy_of(district | {"enrollments": frame("enrollments")})
    assert str(refused.value) == (
        "the course hierarchy gives the org base course of 'Math' at s1 and the section of "
        "class obc--s1--Math one external ID, 'or--obc--s1--Math': a sourcedId or course title "
        "holding '--' reads as two parts of it. Change one of those course titles (or "
        "sourcedIds) in the SIS, then sync again"
    )


def test_course_titles_holding_two_dashes_alone_collide_with_nothing():
    courses = hierarchy_of(with_cell(tiny_district(), "courses", 0, "title", "Algebra -- Honors"))
    assert courses["external_id"].is_unique().all()
    assert "or--tbc--s1--u-t1--Algebra -- Honors" in courses["external_id"]
