"""An org a feed removes (a delta's `tobedeleted`, or a bulk orgs.csv that drops it) while the
stored courses or enrollments the feed does not send still name it, through a sync: what the
warning says of the courses (`references.STORED_REFERENCES`) is what the sync does, and the
stored enrollments, which nothing the sync builds reads the school of, are neither read nor
warned of."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.schemas.references import dropping_referrers, removal_referrers
from tests.feeds import frame, tiny_district, with_resources
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

CHANGED = "2027-01-10T08:00:00.000Z"
# tiny_district's course Algebra I (c-alg) is at North High (s1), where its classes are;
# with_resources assigns it r-alg (kr1), on the org base course of its title at s1
ALGEBRA_BASE = "or--obc--s1--Algebra I"


def _north_high_marked() -> pl.DataFrame:
    """An orgs.csv delta closing North High (s1)."""
    return frame(
        "orgs",
        {
            "sourcedId": "s1",
            "status": "tobedeleted",
            "dateLastModified": CHANGED,
            "name": "North High",
            "type": "school",
            "parentSourcedId": "d1",
        },
    )


def _orgs_without_north_high() -> pl.DataFrame:
    return tiny_district()["orgs"].filter(pl.col("sourcedId") != "s1")


def _warned(issues: pl.DataFrame, referring: str) -> list[tuple]:
    """`file, line, value` and message of the `reference.removed` warnings naming stored
    records of `referring` (a file name)."""
    return (
        issues.filter(
            (pl.col("rule") == "reference.removed")
            & pl.col("message").str.contains(referring, literal=True)
        )
        .select("file", "line", "value", "message")
        .rows()
    )


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_school_a_bulk_orgs_file_drops_is_warned_of_with_the_stored_courses(
    tmp_path, reads, full
):
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(with_resources(tiny_district())).outcome == "applied"
    reads.clear()

    # orgs.csv without North High, every other file absent: the stored records stand
    result = warehouse.sync({"orgs": _orgs_without_north_high()}, full=full)

    assert result.outcome == "applied", result.issues
    # as the warning says: the course stays as stored, and its assignment, made on the org
    # base course of its title at North High, which is no longer made, leaves as [policy]
    # course_resources says (delete, by default); the base course is kept ([policy] courses)
    actions = warehouse.actions(result.run_id)
    assert ("course_resource", "or--kr1", "delete") in actions
    assert not any(entity == "course" and action == "delete" for entity, _, action in actions)
    assert warehouse.query(
        "select external_id from lms.course_resources order by 1"
    ).to_series().to_list() == ["or--kr2"]
    ((file, line, value, message),) = _warned(result.issues, "stored course(s)")
    assert (file, line, value) == ("orgs.csv", None, "s1")
    assert message.startswith(
        "this bulk file removes an org (no longer in it) that 1 stored course(s) still name "
        "in orgSourcedId (courses.csv, absent from this feed): c-alg; they are kept as stored"
    )
    assert "their course assignments (courseResources.csv)" in message
    assert "leave the platform (as [policy] course_resources says" in message
    assert message.endswith("send them with their new org")
    # the stored courses were read once, first, for the warning and the plan alike
    assert "courses" in reads[0]
    files_read = [name for names in reads for name in names]
    assert sorted(files_read) == sorted(set(files_read))


def test_a_delta_removing_the_course_s_org_says_so_on_its_line(tmp_path):
    settings = {"policy": {"course_resources": "inactivate"}}
    warehouse = Warehouse(tmp_path)
    warehouse.sync(with_resources(tiny_district()), settings=settings)
    # a courses.csv delta that sends Biology alone: Algebra I stays as stored
    biology = (
        tiny_district()["courses"]
        .filter(pl.col("sourcedId") == "c-bio")
        .with_columns(status=pl.lit("active"), dateLastModified=pl.lit(CHANGED))
    )

    result = warehouse.sync(
        {"orgs": _north_high_marked(), "courses": biology},
        modes={"orgs": "delta", "courses": "delta"},
        settings=settings,
    )

    assert result.outcome == "applied", result.issues
    assert ("course_resource", "or--kr1", "inactivate") in warehouse.actions(result.run_id)
    ((file, line, value, message),) = _warned(result.issues, "stored course(s)")
    assert (file, line, value) == ("orgs.csv", 2, "s1")
    assert message.startswith(
        "this delta removes an org that 1 stored course(s) still name in orgSourcedId "
        "(courses.csv), and does not send them: c-alg; they are kept as stored"
    )


def test_the_org_base_course_deleted_takes_the_assignments_along(tmp_path):
    settings = {"policy": {"courses": "delete", "course_resources": "keep"}}
    warehouse = Warehouse(tmp_path)
    warehouse.sync(with_resources(tiny_district()), settings=settings)

    result = warehouse.sync({"orgs": _orgs_without_north_high()}, settings=settings)

    # "or deleted with that base course when [policy] courses = "delete"", whatever
    # course_resources says
    assert result.outcome == "applied", result.issues
    actions = warehouse.actions(result.run_id)
    assert {
        ("course", ALGEBRA_BASE, "delete"),
        ("course_resource", "or--kr1", "delete"),
    } <= actions
    ((_, _, _, message),) = _warned(result.issues, "stored course(s)")
    assert 'or deleted with that base course when [policy] courses = "delete"' in message


@pytest.mark.parametrize("mode", ["absent", "delta"])
def test_stored_enrollments_naming_the_school_are_neither_read_nor_warned_of(tmp_path, mode):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    before = warehouse.table("enrollments")
    # an enrollments.csv delta that sends none of those naming North High
    sent = (
        {}
        if mode == "absent"
        else {
            "enrollments": tiny_district()["enrollments"]
            .filter(pl.col("sourcedId") == "e5")
            .with_columns(status=pl.lit("active"), dateLastModified=pl.lit(CHANGED))
        }
    )

    result = warehouse.sync(
        {"orgs": _orgs_without_north_high(), **sent}, modes={"enrollments": mode}
    )

    # e1 to e4 name North High as their school: nothing the sync builds reads it (an
    # enrollment is in its class's section), so none changes, and no warning is raised
    assert result.outcome == "applied", result.issues
    assert warehouse.table("enrollments").equals(before)
    assert _warned(result.issues, "enrollment") == []
    # nor are the stored enrollments read for one (of a removal, or a bulk file's drop)
    modes = {"orgs": "bulk", "enrollments": mode}
    assert "enrollments" not in dropping_referrers(modes, ["orgs"])
    assert "enrollments" not in removal_referrers(modes | {"orgs": "delta"}, ["orgs"])


def test_the_feed_s_records_naming_the_removed_school_say_what_the_sync_keeps(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    warehouse.sync(district)
    # a bulk feed marking North High tobedeleted, its courses and enrollments still naming it
    marked = district["orgs"].with_columns(
        status=pl.when(pl.col("sourcedId") == "s1").then(pl.lit("tobedeleted"))
    )
    before = warehouse.table("enrollments")

    result = warehouse.sync(district | {"orgs": marked})

    assert result.outcome == "applied", result.issues
    warned = result.issues.filter(pl.col("rule") == "reference.removed")
    (course,) = warned.filter(pl.col("file") == "courses.csv")["message"]
    assert course.endswith(
        "the course keeps naming it, and its course assignments (courseResources.csv), made "
        "on the org base course of its title at its org, are not made"
    )
    assert ("course_resource", "or--kr1", "delete") in warehouse.actions(result.run_id)
    enrollments = warned.filter(pl.col("file") == "enrollments.csv")
    assert enrollments["line"].to_list() == [2, 3, 4, 5]
    assert all("which changes nothing" in message for message in enrollments["message"])
    assert warehouse.table("enrollments").equals(before)
