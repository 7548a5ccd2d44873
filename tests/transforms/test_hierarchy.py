"""The base-course hierarchy: the platform FAQ's example as a golden test, then each level."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.settings import Hierarchy
from rosterflow.transforms.hierarchy import (
    base_course_enrollments,
    course_hierarchy,
    order_deciding_teachers,
)
from tests.feeds import faq_district, frame, tiny_district, with_cell


def as_source(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Feed frames as source-state records: run 1, rows in file order from line 2."""
    return {
        name: data.with_columns(
            pl.lit(1, pl.Int64).alias("run_id"),
            (pl.int_range(pl.len()) + 2).cast(pl.Int64).alias("line"),
        )
        for name, data in frames.items()
    }


def hierarchy_of(frames, org_base=True, session_base=True) -> pl.DataFrame:
    source = as_source(frames)
    return course_hierarchy(
        source["orgs"],
        source["courses"],
        source["classes"],
        source["users"],
        source["enrollments"],
        Hierarchy(org_base_courses=org_base, session_base_courses=session_base),
    )


def chain_of(courses: pl.DataFrame, external_id: str) -> list[str]:
    """The external IDs from a course up to its root."""
    base = dict(courses.select("external_id", "base_course_external_id").iter_rows())
    chain = [external_id]
    while base.get(chain[-1]) is not None:
        chain.append(base[chain[-1]])
    return chain


def kinds(courses: pl.DataFrame) -> dict[str, int]:
    return dict(courses.group_by("kind").len().iter_rows())


def test_faq_example_gives_6_org_3_teacher_6_session_bases_and_10_sections():
    courses = hierarchy_of(faq_district())
    assert kinds(courses) == {"org_base": 6, "teacher_base": 3, "session_base": 6, "section": 10}
    assert courses["external_id"].n_unique() == courses.height
    assert chain_of(courses, "or--k-t2-spring-1") == [
        "or--k-t2-spring-1",
        "or--sbc--S2--T2--spring--Math 6",
        "or--tbc--S2--T2--Math 6",
        "or--obc--S2--Math 6",
        "or--obc--D1--Math 6",
        "or--obc--ST--Math 6",
    ]
    assert chain_of(courses, "or--k-t3-fall-1")[2:] == [
        "or--tbc--S3--T3--Math 6",
        "or--obc--S3--Math 6",
        "or--obc--D2--Math 6",
        "or--obc--ST--Math 6",
    ]
    domains = dict(courses.select("external_id", "domain_external_id").iter_rows())
    assert domains["or--obc--ST--Math 6"] == "or--ST"
    assert domains["or--obc--D2--Math 6"] == "or--D2"
    assert domains["or--tbc--S1--T1--Math 6"] == "or--S1"
    assert domains["or--sbc--S1--T1--fall--Math 6"] == "or--S1"
    assert domains["or--k-t1-fall-2"] == "or--S1"
    # every section hangs under the session base of its teacher and term
    sections = courses.filter(pl.col("kind") == "section")
    assert sections["base_course_external_id"].str.starts_with("or--sbc--").all()


def test_faq_base_courses_enroll_only_their_primary_teacher():
    courses = hierarchy_of(faq_district())
    enrollments = base_course_enrollments(courses.lazy()).collect()
    assert enrollments.height == 9  # 3 teacher base + 6 session base; org bases have nobody
    assert set(enrollments["user_external_id"]) == {
        "or--T1",
        "or--T2",
        "or--T3",
    }  # never co-teacher T9
    assert enrollments.filter(pl.col("course_external_id") == "or--tbc--S1--T1--Math 6").select(
        "external_id", "role", "is_primary"
    ).rows() == [("or--tbc--S1--T1--Math 6--teacher", "teacher", True)]


@pytest.mark.parametrize(
    ("org_base", "session_base", "expected", "section_base", "teacher_base_base"),
    [
        (
            False,
            True,
            {"teacher_base": 3, "session_base": 6, "section": 10},
            "or--sbc--S1--T1--fall--Math 6",
            None,
        ),
        (
            True,
            False,
            {"org_base": 6, "teacher_base": 3, "section": 10},
            "or--tbc--S1--T1--Math 6",
            "or--obc--S1--Math 6",
        ),
        (False, False, {"teacher_base": 3, "section": 10}, "or--tbc--S1--T1--Math 6", None),
    ],
)
def test_faq_example_with_settings_off(
    org_base, session_base, expected, section_base, teacher_base_base
):
    courses = hierarchy_of(faq_district(), org_base, session_base)
    assert kinds(courses) == expected
    bases = dict(courses.select("external_id", "base_course_external_id").iter_rows())
    assert bases["or--k-t1-fall-1"] == section_base
    assert bases["or--tbc--S1--T1--Math 6"] == teacher_base_base


def test_org_base_courses_follow_any_depth_of_the_org_tree():
    frames = with_cell(tiny_district(), "orgs", 0, "parentSourcedId", "nat")
    frames["orgs"] = pl.concat(
        [frame("orgs", {"sourcedId": "nat", "name": "Nation", "type": "national"}), frames["orgs"]]
    )
    courses = hierarchy_of(frames)
    assert chain_of(courses, "or--obc--s1--Algebra I") == [
        "or--obc--s1--Algebra I",
        "or--obc--d1--Algebra I",
        "or--obc--st--Algebra I",
        "or--obc--nat--Algebra I",
    ]


def test_primary_teacher_is_the_marked_one_else_the_first_in_file_order():
    frames = tiny_district()
    extra = frame(
        "enrollments",
        {
            "sourcedId": "e0",
            "classSourcedId": "k1",
            "schoolSourcedId": "s1",
            "userSourcedId": "u-t2",
            "role": "teacher",
            "primary": "false",
        },
    )
    marked = dict(frames, enrollments=pl.concat([extra, frames["enrollments"]]))
    courses = hierarchy_of(marked)
    assert (
        chain_of(courses, "or--k1")[1] == "or--sbc--s1--u-t1--t1--Algebra I"
    )  # marked primary wins
    unmarked = dict(
        marked, enrollments=marked["enrollments"].with_columns(pl.lit("false").alias("primary"))
    )
    courses = hierarchy_of(unmarked)
    assert (
        chain_of(courses, "or--k1")[1] == "or--sbc--s1--u-t2--t1--Algebra I"
    )  # first in file order


def test_multi_term_class_uses_its_first_term():
    courses = hierarchy_of(tiny_district())  # k2 is in "t1,t2"
    assert chain_of(courses, "or--k2")[1] == "or--sbc--s1--u-t1--t1--Algebra I"


def test_class_without_course_or_teacher_still_gets_its_section():
    frames = tiny_district()
    frames["courses"] = frames["courses"].filter(pl.col("sourcedId") != "c-bio")
    frames["enrollments"] = frames["enrollments"].filter(pl.col("sourcedId") != "e1")  # k1 untaught
    courses = hierarchy_of(frames)
    sections = courses.filter(pl.col("kind") == "section").select(
        "external_id", "title", "base_course_external_id"
    )
    assert_frame_equal(
        sections.sort("external_id"),
        pl.DataFrame(
            {
                "external_id": ["or--k1", "or--k2", "or--k3"],
                "title": ["Algebra I - 1", "Algebra I - 2", "Biology - 1"],
                # k1: no teacher -> the school's org base; k3: no course row -> no base at all
                "base_course_external_id": [
                    "or--obc--s1--Algebra I",
                    "or--sbc--s1--u-t1--t1--Algebra I",
                    None,
                ],
            }
        ),
    )
    assert not courses["external_id"].str.contains("Biology").any()


def test_the_teachers_whose_order_decides_a_primary_are_those_of_a_tied_first_rank():
    """k1: one marked primary (order cannot matter); k2: none marked, two teachers; k3: two
    marked and one not (the marked two are tied); k4: a single teacher; students never."""
    enrollments = frame(
        "enrollments",
        *(
            {"sourcedId": sid, "classSourcedId": class_, "role": role, "primary": primary}
            for sid, class_, role, primary in [
                ("e1", "k1", "teacher", "true"),
                ("e2", "k1", "teacher", "false"),
                ("e3", "k2", "teacher", "false"),
                ("e4", "k2", "teacher", None),
                ("e5", "k3", "teacher", "true"),
                ("e6", "k3", "teacher", "false"),
                ("e7", "k3", "teacher", "true"),
                ("e8", "k4", "teacher", "false"),
                ("e9", "k2", "student", "true"),
            ]
        ),
    )
    deciding = order_deciding_teachers(
        as_source({"enrollments": enrollments})["enrollments"].lazy()
    )
    # e3, e4 (k2) and e5, e7 (k3), on lines 4, 5, 6 and 8
    assert deciding.collect()["line"].sort().to_list() == [4, 5, 6, 8]


def test_swapping_the_teachers_whose_order_decides_changes_the_primary_and_no_other_swap_does():
    district = tiny_district()
    second = (
        district["enrollments"]
        .filter(pl.col("sourcedId") == "e5")
        .with_columns(pl.lit("e7").alias("sourcedId"), pl.lit("k1").alias("classSourcedId"))
    )
    unmarked = pl.concat([district["enrollments"], second]).with_columns(
        pl.lit("false").alias("primary")
    )
    e1_first = pl.concat([unmarked.filter(pl.col("sourcedId") == "e1"), unmarked[1:].reverse()])
    hierarchies = {}
    for order, rows in (
        ("as is", unmarked),
        ("e1 first", e1_first),
        ("reversed", unmarked.reverse()),
    ):
        source = as_source(district | {"enrollments": rows})
        deciding = order_deciding_teachers(source["enrollments"].lazy()).collect()
        decided = source["enrollments"].join(deciding, on=["run_id", "line"])
        assert set(decided["sourcedId"]) == {"e1", "e7"}  # k1's two teachers, none marked
        hierarchies[order] = hierarchy_of(district | {"enrollments": rows}).sort(pl.all())
    assert_frame_equal(hierarchies["as is"], hierarchies["e1 first"])
    assert not hierarchies["as is"].equals(hierarchies["reversed"])
