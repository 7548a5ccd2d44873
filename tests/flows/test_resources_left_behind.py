"""Content assignments a removal leaves behind, warned of as enrollments are: stored
assignments naming a resource, class or course a delta removes or a bulk file drops
(`reference.removed`), and assignments made by hand in the platform under a resource the run
deletes (`resource.delete_leaves_hand_made`), through the real sync into a real warehouse."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.flows.commands import validate
from rosterflow.flows.operations import undo_run
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.state import hand_made_resource_references
from tests.feeds import tiny_district, with_resources
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

CHANGED = "2027-01-10T08:00:00.000Z"
DELETE_RESOURCES = {"policy": {"resources": "delete"}}


def _marked(name: str, sourced_id: str) -> pl.DataFrame:
    """The record `sourced_id` of with_resources' `name`, marked tobedeleted (a delta's row)."""
    return (
        with_resources(tiny_district())[name]
        .filter(pl.col("sourcedId") == sourced_id)
        .with_columns(status=pl.lit("tobedeleted"), dateLastModified=pl.lit(CHANGED))
    )


def _delta(name: str, sourced_id: str) -> dict:
    return {"frames": {name: _marked(name, sourced_id)}, "modes": {name: "delta"}}


def _warned(issues: pl.DataFrame, rule: str) -> list[tuple]:
    return (
        issues.filter(pl.col("rule") == rule)
        .select("file", "line", "field", "value", "severity")
        .sort(pl.all())
        .rows()
    )


def _messages(issues: pl.DataFrame, rule: str) -> list[str]:
    return sorted(issues.filter(pl.col("rule") == rule)["message"])


def _hand_made_assignments(warehouse: Warehouse, resource: str) -> tuple[int, int]:
    """A class assignment (on section k1) and a course assignment (on the section too) of
    `resource` made by hand in the platform: no managed external ID. Their ids."""
    resource_id = warehouse.row("resources", f"or--{resource}")["resource_id"]
    section = warehouse.row("courses", "or--k1")["course_id"]
    warehouse.execute(
        "insert into lms.class_resources (class_resource_id, tenant, external_id, resource_id, "
        "course_id, title) values (900001, ?, null, ?, ?, 'Extra reading')",
        [warehouse.tenant, resource_id, section],
    )
    warehouse.execute(
        "insert into lms.course_resources (course_resource_id, tenant, external_id, "
        "resource_id, course_id, title) values (900002, ?, 'teacher-made', ?, ?, null)",
        [warehouse.tenant, resource_id, section],
    )
    return 900001, 900002


# --- stored assignments naming a removed record (`reference.removed`) ---------------------


def test_a_resource_a_delta_removes_under_stored_assignments_is_warned_on_its_line(tmp_path, reads):
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(with_resources(tiny_district())).outcome == "applied"
    assert reads == []  # a feed of bulk files reads no stored records

    result = warehouse.sync(**_delta("resources", "r-alg"))

    # applied as before: the resource is inactivated, its assignments go ([policy] delete)
    assert result.outcome == "applied", result.issues
    assert warehouse.actions(result.run_id) == {
        ("resource", "or--r-alg", "inactivate"),
        ("class_resource", "or--cr1", "delete"),
        ("course_resource", "or--kr1", "delete"),
    }
    # and said, on the removal's line, once per kind of assignment
    assert _warned(result.issues, "reference.removed") == [
        ("resources.csv", 2, "sourcedId", "r-alg", "warning"),
        ("resources.csv", 2, "sourcedId", "r-alg", "warning"),
    ]
    assert _messages(result.issues, "reference.removed") == [
        "this delta removes a resource that 1 stored class assignment(s) still name in "
        "resourceSourcedId (classResources.csv), and does not send them: cr1; once it is "
        "removed they leave the platform with it (as [policy] class_resources says, or deleted "
        'with it when [policy] resources = "delete"): mark them tobedeleted in the delta to '
        "say so",
        "this delta removes a resource that 1 stored course assignment(s) still name in "
        "resourceSourcedId (courseResources.csv), and does not send them: kr1; once it is "
        "removed they leave the platform with it (as [policy] course_resources says, or "
        'deleted with it when [policy] resources = "delete"): mark them tobedeleted in the '
        "delta to say so",
    ]
    # the stored assignments were read for the check once, and the plan used that copy
    files_read = [name for names in reads for name in names]
    assert sorted(files_read) == sorted(set(files_read))
    assert reads[0] == ("classResources", "courseResources")


@pytest.mark.parametrize(
    ("name", "sourced_id", "said", "gone"),
    [
        (
            "classes",
            "k1",
            "1 stored class assignment(s) still name in classSourcedId (classResources.csv), "
            "and does not send them: cr1; once it is removed they leave the platform with it "
            "(as [policy] class_resources says, or deleted with its section when [policy] "
            'courses = "delete")',
            ("class_resource", "or--cr1", "delete"),
        ),
        (
            "courses",
            "c-alg",
            "1 stored course assignment(s) still name in courseSourcedId "
            "(courseResources.csv), and does not send them: kr1; once it is removed they leave "
            "the platform with it (as [policy] course_resources says, or deleted with their org "
            'base course when [policy] courses = "delete" deletes that)',
            ("course_resource", "or--kr1", "delete"),
        ),
    ],
)
def test_a_class_or_course_a_delta_removes_under_stored_assignments_is_warned(
    tmp_path, name, sourced_id, said, gone
):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(with_resources(tiny_district()))

    result = warehouse.sync(**_delta(name, sourced_id))

    assert result.outcome == "applied", result.issues
    assert gone in warehouse.actions(result.run_id)
    about_assignments = [m for m in _messages(result.issues, "reference.removed") if said in m]
    assert len(about_assignments) == 1, _messages(result.issues, "reference.removed")
    assert (f"{name}.csv", 2, "sourcedId", sourced_id, "warning") in _warned(
        result.issues, "reference.removed"
    )


def test_a_delta_marking_the_assignments_tobedeleted_too_is_not_warned_of(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(with_resources(tiny_district()))

    result = warehouse.sync(
        {
            "resources": _marked("resources", "r-alg"),
            "classResources": _marked("classResources", "cr1"),
            "courseResources": _marked("courseResources", "kr1"),
        },
        modes={"resources": "delta", "classResources": "delta", "courseResources": "delta"},
    )

    assert result.outcome == "applied", result.issues
    assert _warned(result.issues, "reference.removed") == []


def test_a_resource_a_bulk_file_drops_while_the_assignments_are_absent_is_warned(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    warehouse.sync(district)
    # resources.csv in bulk without r-alg; the assignment files absent
    without = {"resources": district["resources"].filter(pl.col("sourcedId") != "r-alg")}

    result = warehouse.sync(without)

    assert result.outcome == "applied", result.issues
    assert _warned(result.issues, "reference.removed") == [
        ("resources.csv", None, "sourcedId", "r-alg", "warning"),
        ("resources.csv", None, "sourcedId", "r-alg", "warning"),
    ]
    assert _messages(result.issues, "reference.removed")[0] == (
        "this bulk file removes a resource (no longer in it) that 1 stored class "
        "assignment(s) still name in resourceSourcedId (classResources.csv, absent from this "
        "feed): cr1; once it is removed they leave the platform with it (as [policy] "
        'class_resources says, or deleted with it when [policy] resources = "delete"): send '
        "classResources.csv in bulk without them, or as a delta marking them tobedeleted, to "
        "say so"
    )
    assert {
        ("class_resource", "or--cr1", "delete"),
        ("course_resource", "or--kr1", "delete"),
    } <= warehouse.actions(result.run_id)


def test_a_class_dropped_by_a_tenant_that_never_sent_content_reads_no_content(tmp_path, reads):
    warehouse = Warehouse(tmp_path)
    district = tiny_district()  # no resources, no assignments: those files absent
    warehouse.sync(district)
    reads.clear()
    without_k3 = district | {
        "classes": district["classes"].filter(pl.col("sourcedId") != "k3"),
        "enrollments": district["enrollments"].filter(pl.col("classSourcedId") != "k3"),
    }

    result = warehouse.sync(without_k3, settings={"safety": {"max_removal_share": 1}})

    assert result.outcome == "applied", result.issues
    assert _warned(result.issues, "reference.removed") == []
    # one read, the plan's, of the files not sent in bulk; the check read nothing of its own
    assert len(reads) == 1


# --- assignments made by hand under a deleted resource (`resource.delete_leaves_hand_made`)


def test_a_resource_deleted_under_assignments_made_by_hand_is_warned_on_its_line(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(with_resources(tiny_district()), settings=DELETE_RESOURCES)
    resource_id = warehouse.row("resources", "or--r-alg")["resource_id"]
    class_made, course_made = _hand_made_assignments(warehouse, "r-alg")

    result = warehouse.sync(**_delta("resources", "r-alg"), settings=DELETE_RESOURCES)

    assert result.outcome == "applied", result.issues
    assert ("resource", "or--r-alg", "delete") in warehouse.actions(result.run_id)
    assert _warned(result.issues, "resource.delete_leaves_hand_made") == [
        ("resources.csv", 2, "sourcedId", "r-alg", "warning")
    ]
    assert _messages(result.issues, "resource.delete_leaves_hand_made") == [
        f"resource {resource_id} (r-alg) is deleted, but content assignments made by hand "
        "still point at it: 1 class assignment, 1 course assignment; they are left as they "
        "are, showing no content (delete them by hand, or keep such resources with [policy] "
        'resources = "inactivate")'
    ]
    # recorded with the run, and the rows made by hand are left as they were
    assert warehouse.query(
        "select file, line, rule from audit.issues where run_id = ? and rule = ?",
        [result.run_id, "resource.delete_leaves_hand_made"],
    ).rows() == [("resources.csv", 2, "resource.delete_leaves_hand_made")]
    assert warehouse.query(
        "select class_resource_id, resource_id from lms.class_resources "
        "where class_resource_id = ? union all select course_resource_id, resource_id "
        "from lms.course_resources where course_resource_id = ? order by all",
        [class_made, course_made],
    ).rows() == [(class_made, resource_id), (course_made, resource_id)]


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_resource_gone_from_a_bulk_file_is_warned_on_no_line_by_either_plan(tmp_path, full):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    warehouse.sync(district, settings=DELETE_RESOURCES)
    _hand_made_assignments(warehouse, "r-lab")
    without_lab = district | {
        "resources": district["resources"].filter(pl.col("sourcedId") != "r-lab"),
        "classResources": district["classResources"].filter(pl.col("sourcedId") != "cr2"),
        "courseResources": district["courseResources"].filter(pl.col("sourcedId") != "kr2"),
    }

    result = warehouse.sync(without_lab, settings=DELETE_RESOURCES, full=full)

    assert result.outcome == "applied", result.issues
    assert _warned(result.issues, "resource.delete_leaves_hand_made") == [
        ("resources.csv", None, "sourcedId", "r-lab", "warning")
    ]
    assert (
        "1 class assignment, 1 course assignment"
        in (_messages(result.issues, "resource.delete_leaves_hand_made")[0])
    )


@pytest.mark.slow
def test_a_resource_inactivated_or_deleted_with_nothing_made_by_hand_is_not_warned(tmp_path):
    kept, deleting = Warehouse(tmp_path / "kept"), Warehouse(tmp_path / "deleting")
    for warehouse, settings in ((kept, None), (deleting, DELETE_RESOURCES)):
        warehouse.dir.mkdir()
        warehouse.sync(with_resources(tiny_district()), settings=settings)
        _hand_made_assignments(warehouse, "r-alg")
    # the default [policy] resources = "inactivate" keeps the resource the rows point at
    inactivated = kept.sync(**_delta("resources", "r-alg"))
    # deleted, but nothing made by hand points at r-lab
    deleted = deleting.sync(**_delta("resources", "r-lab"), settings=DELETE_RESOURCES)

    for result in (inactivated, deleted):
        assert result.outcome == "applied", result.issues
        assert _warned(result.issues, "resource.delete_leaves_hand_made") == []
    assert ("resource", "or--r-alg", "inactivate") in kept.actions(inactivated.run_id)
    assert ("resource", "or--r-lab", "delete") in deleting.actions(deleted.run_id)


def test_no_resource_deleted_counts_nothing():
    # (no connection at all: a plan that deletes no resource runs no query)
    counted = hand_made_resource_references(None, "district", pl.Series([], dtype=pl.Int64))

    assert counted.height == 0
    assert counted.columns == ["resource_id", "class_assignments", "course_assignments"]


@pytest.mark.slow
def test_an_undo_that_deletes_a_resource_assignments_made_by_hand_point_at_warns(tmp_path):
    """Run 2 brought the content; a teacher assigned a resource by hand in the platform;
    undoing run 2 deletes that resource and leaves the assignment pointing at no resource."""
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    brought = warehouse.sync(with_resources(tiny_district()))
    resource_id = warehouse.row("resources", "or--r-alg")["resource_id"]
    class_made, _ = _hand_made_assignments(warehouse, "r-alg")

    undone = undo_run(warehouse.path, brought.run_id)

    expected = (
        f"resource {resource_id} (r-alg) is deleted, but content assignments made by hand "
        "still point at it: 1 class assignment, 1 course assignment; they are left as they "
        "are, showing no content (delete them by hand)"
    )
    assert undone.issues.select("rule", "severity", "message").rows() == [
        ("resource.delete_leaves_hand_made", "warning", expected)
    ]
    assert warehouse.query(
        "select rule, message from audit.issues where run_id = ?", [undone.run_id]
    ).rows() == [("resource.delete_leaves_hand_made", expected)]
    assert warehouse.query(
        "select resource_id from lms.class_resources where class_resource_id = ?", [class_made]
    ).rows() == [(resource_id,)]


def test_the_same_feed_again_deletes_nothing_and_warns_of_nothing(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    warehouse.sync(district, settings=DELETE_RESOURCES)
    _hand_made_assignments(warehouse, "r-lab")
    without_lab = district | {
        "resources": district["resources"].filter(pl.col("sourcedId") != "r-lab"),
        "classResources": district["classResources"].filter(pl.col("sourcedId") != "cr2"),
        "courseResources": district["courseResources"].filter(pl.col("sourcedId") != "kr2"),
    }
    warehouse.sync(without_lab, settings=DELETE_RESOURCES)

    # recalled from the last run: its issues but those of what it changed in lms
    again = warehouse.sync(without_lab, settings=DELETE_RESOURCES)

    assert again.outcome == "applied", again.issues
    assert warehouse.actions(again.run_id) == set()
    assert _warned(again.issues, "resource.delete_leaves_hand_made") == []


@pytest.mark.parametrize("removal", ["delta", "bulk"])
def test_validate_against_the_warehouse_warns_as_the_sync_does(tmp_path, removal):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    warehouse.sync(district)
    if removal == "delta":
        frames, modes = {"resources": _marked("resources", "r-alg")}, {"resources": "delta"}
    else:
        frames = {"resources": district["resources"].filter(pl.col("sourcedId") != "r-alg")}
        modes = None
    feed = write_feed(tmp_path / "checked.zip", frames, modes=modes)

    _, validated = validate(feed, None, warehouse.path, warehouse.tenant)
    synced = warehouse.sync(frames, modes=modes)

    assert len(_warned(validated.issues, "reference.removed")) == 2
    assert _warned(synced.issues, "reference.removed") == _warned(
        validated.issues, "reference.removed"
    )
    assert _messages(synced.issues, "reference.removed") == _messages(
        validated.issues, "reference.removed"
    )
