"""A course assignment (courseResources.csv) is made on the org base course of its course's
title at its course's org (`transforms.desired.desired_course_resources`); one whose course
has none is not made, and the run says so on its line (`course_resource.no_org_base`,
`transforms.desired.unplaced_course_assignment_issues`), planned in full or incrementally."""

from __future__ import annotations

import polars as pl
import pytest

from tests.feeds import frame, tiny_district, with_resources
from tests.syncing import Warehouse

CHANGED = "2027-01-10T08:00:00.000Z"
RULE = "course_resource.no_org_base"


def _geometry(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`district` with a course Geometry at North High (s1) that no class is of yet, assigned
    the lab (kr3, on line 4); Biology's course at the district (d1), above South High where
    its class is."""
    courses = pl.concat(
        [
            district["courses"].with_columns(
                orgSourcedId=pl.when(pl.col("sourcedId") == "c-bio")
                .then(pl.lit("d1"))
                .otherwise("orgSourcedId")
            ),
            frame(
                "courses",
                {
                    "sourcedId": "c-geo",
                    "title": "Geometry",
                    "orgSourcedId": "s1",
                    "schoolYearSourcedId": "y1",
                    "courseCode": "GEO",
                },
            ),
        ]
    )
    assignments = pl.concat(
        [
            district["courseResources"],
            frame(
                "courseResources",
                {"sourcedId": "kr3", "courseSourcedId": "c-geo", "resourceSourcedId": "r-lab"},
            ),
        ]
    )
    return district | {"courses": courses, "courseResources": assignments}


def _geometry_class(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`district` with a class of Geometry at North High, taught by Ada (u-t1)."""
    return district | {
        "classes": pl.concat(
            [
                district["classes"],
                frame(
                    "classes",
                    {
                        "sourcedId": "k4",
                        "title": "Geometry - 1",
                        "courseSourcedId": "c-geo",
                        "classType": "scheduled",
                        "schoolSourcedId": "s1",
                        "termSourcedIds": "t1",
                    },
                ),
            ]
        ),
        "enrollments": pl.concat(
            [
                district["enrollments"],
                frame(
                    "enrollments",
                    {
                        "sourcedId": "e7",
                        "classSourcedId": "k4",
                        "schoolSourcedId": "s1",
                        "userSourcedId": "u-t1",
                        "role": "teacher",
                        "primary": "true",
                    },
                ),
            ]
        ),
    }


def _warned(issues: pl.DataFrame) -> list[tuple]:
    return (
        issues.filter(pl.col("rule") == RULE)
        .select("file", "line", "field", "value", "severity", "message")
        .rows()
    )


def _assigned(warehouse: Warehouse) -> dict[str, str]:
    """Each course assignment and the external ID of the course it is on."""
    return dict(
        warehouse.query(
            "select assignment.external_id, course.external_id from lms.course_resources "
            "as assignment join lms.courses as course using (course_id) order by all"
        ).rows()
    )


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_an_assignment_whose_course_has_no_class_under_its_org_is_warned_on_its_line(
    tmp_path, full
):
    warehouse = Warehouse(tmp_path)
    district = _geometry(with_resources(tiny_district()))
    first = warehouse.sync(district)
    # Geometry has no class: no org base course of its title anywhere
    assert first.outcome == "applied", first.issues
    assert _assigned(warehouse) == {
        "or--kr1": "or--obc--s1--Algebra I",
        "or--kr2": "or--obc--d1--Biology",  # its org is above the class's school: placed
    }
    ((file, line, field, value, severity, message),) = _warned(first.issues)
    assert (file, line, field, value, severity) == (
        "courseResources.csv",
        4,
        "courseSourcedId",
        "c-geo",
        "warning",
    )
    assert message == (
        "not made: a course assignment is made on the org base course of its course's title "
        "at its course's org, and course c-geo has none: no class of a course titled "
        "'Geometry' is at a school under its org s1; it is made once one is, or assign the "
        "content to the course's classes with classResources.csv"
    )
    # recorded with the run
    assert warehouse.query(
        "select file, line, value from audit.issues where run_id = ? and rule = ?",
        [first.run_id, RULE],
    ).rows() == [("courseResources.csv", 4, "c-geo")]

    # a later feed changing something else warns again, planned either way
    renamed = district | {
        "users": district["users"].with_columns(
            givenName=pl.when(pl.col("sourcedId") == "u-s1")
            .then(pl.lit("Samuel"))
            .otherwise("givenName")
        )
    }
    again = warehouse.sync(renamed, full=full)
    assert again.outcome == "applied", again.issues
    assert [row[:4] for row in _warned(again.issues)] == [
        ("courseResources.csv", 4, "courseSourcedId", "c-geo")
    ]

    # as said: once a class of Geometry is at North High, the assignment is made, by a feed
    # without courseResources.csv too
    placed = warehouse.sync(
        {
            name: rows
            for name, rows in _geometry_class(renamed).items()
            if name != "courseResources"
        },
        full=full,
    )
    assert placed.outcome == "applied", placed.issues
    assert ("course_resource", "or--kr3", "create") in warehouse.actions(placed.run_id)
    assert _assigned(warehouse)["or--kr3"] == "or--obc--s1--Geometry"
    assert _warned(placed.issues) == []


def test_no_assignment_is_made_without_org_base_courses(tmp_path):
    warehouse = Warehouse(tmp_path)

    result = warehouse.sync(
        with_resources(tiny_district()), settings={"hierarchy": {"org_base_courses": False}}
    )

    assert result.outcome == "applied", result.issues
    assert _assigned(warehouse) == {}
    warned = _warned(result.issues)
    assert [row[:4] for row in warned] == [
        ("courseResources.csv", 2, "courseSourcedId", "c-alg"),
        ("courseResources.csv", 3, "courseSourcedId", "c-bio"),
    ]
    assert warned[0][5].endswith(
        "course c-alg has none: [hierarchy] org_base_courses = false makes none; assign the "
        "content to the course's classes with classResources.csv"
    )


def test_an_assignment_whose_course_names_an_org_found_nowhere_says_so(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(with_resources(tiny_district()))
    # a courses.csv delta sends Geometry at an org the SIS never sent, and its assignment
    geometry = frame(
        "courses",
        {
            "sourcedId": "c-geo",
            "status": "active",
            "dateLastModified": CHANGED,
            "title": "Geometry",
            "orgSourcedId": "s9",
            "courseCode": "GEO",
        },
    )
    assignment = frame(
        "courseResources",
        {
            "sourcedId": "kr3",
            "status": "active",
            "dateLastModified": CHANGED,
            "courseSourcedId": "c-geo",
            "resourceSourcedId": "r-lab",
        },
    )

    result = warehouse.sync(
        {"courses": geometry, "courseResources": assignment},
        modes={"courses": "delta", "courseResources": "delta"},
    )

    assert result.outcome == "applied", result.issues
    assert "or--kr3" not in _assigned(warehouse)
    ((_, line, _, value, _, message),) = _warned(result.issues)
    assert (line, value) == (2, "c-geo")
    assert message.endswith(
        "course c-geo has none: its org s9 is no org of the SIS (not in orgs.csv nor stored); "
        "it is made once that org is sent, with a class of a course titled 'Geometry' at a "
        "school under it"
    )


def test_assignments_placed_or_removed_or_naming_no_record_are_not_warned(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    assignments = pl.concat(
        [
            district["courseResources"].with_columns(
                status=pl.when(pl.col("sourcedId") == "kr2")
                .then(pl.lit("tobedeleted"))
                .otherwise(pl.lit("active")),
                dateLastModified=pl.lit(CHANGED),
            ),
            # a course found nowhere: the reference check's warning alone
            frame(
                "courseResources",
                {
                    "sourcedId": "kr9",
                    "courseSourcedId": "c-none",
                    "resourceSourcedId": "r-lab",
                    "status": "active",
                    "dateLastModified": CHANGED,
                },
            ),
        ]
    )
    warehouse.sync(district)

    result = warehouse.sync({"courseResources": assignments}, modes={"courseResources": "delta"})

    assert result.outcome == "applied", result.issues
    assert _warned(result.issues) == []
    assert (
        result.issues.filter((pl.col("rule") == "reference") & (pl.col("value") == "c-none")).height
        == 1
    )
