"""Content assignment over a school year, as a district's data team sees it: resources
retitled, removed and re-sent, assigned to more classes and unassigned, classes that leave with
their assignments, courses whose sections change; in bulk feeds and deltas, under each policy.
After every run the lms rows are those the same feed planned in full gives (into a copy of the
warehouse, ids included), the history holds one open version per managed row, and the same feed
again changes nothing. Undo and approval of runs that changed content bring back exactly the
rows they should."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.flows.operations import approve_run, undo_run
from rosterflow.schemas.runs import SyncResult
from tests.feeds import frame, tiny_district, with_resources
from tests.syncing import Warehouse

RESOURCES_PAGE = Path(__file__).resolve().parents[2] / "docs/explanation/resources.md"
CONTENT_TABLES = ("resources", "class_resources", "course_resources")
# the tables an assignment points into, compared with the content tables
COMPARED_TABLES = (*CONTENT_TABLES, "courses")
DELTA_TIME = "2027-01-10T08:00:00.000Z"


def delta(name: str, *rows: dict[str, str | None]) -> pl.DataFrame:
    """Delta rows of file `name`: active unless the row says otherwise."""
    return frame(
        name, *({"status": "active", "dateLastModified": DELTA_TIME} | row for row in rows)
    )


def without(frames: dict[str, pl.DataFrame], file: str, *sourced_ids: str):
    return frames | {file: frames[file].filter(~pl.col("sourcedId").is_in(sourced_ids))}


def open_versions_match_the_rows(warehouse: Warehouse) -> None:
    """Each managed content row has exactly one open version in its history, equal to it, and
    no two versions of a row overlap."""
    for table in CONTENT_TABLES:
        key = f"{table.removesuffix('s')}_id"
        overlapping = warehouse.query(
            f"""
            select {key}, opened_run_id, closed_run_id,
                lead(opened_run_id) over (partition by {key} order by opened_run_id) as next_opened
            from history.{table}
            qualify (closed_run_id is null and next_opened is not null)
                or next_opened < closed_run_id
                or closed_run_id <= opened_run_id
            """
        )
        assert overlapping.is_empty(), (table, overlapping)
        rows = warehouse.query(f"select * from lms.{table} where origin = 'sync' order by all")
        open_versions = warehouse.query(
            f"select * exclude (valid_from, valid_to, opened_run_id, closed_run_id) "
            f"from history.{table} where closed_run_id is null order by all"
        )
        assert_frame_equal(rows, open_versions)


def sync_checked(warehouse: Warehouse, frames: dict[str, pl.DataFrame], **options) -> SyncResult:
    """Sync `frames` as planned, and into a copy of the warehouse planned in full: the lms rows
    must be the same, ids included; then the same feed again must change nothing."""
    copy = warehouse.dir / f"full-{len(list(warehouse.dir.glob('full-*')))}"
    copy.mkdir()
    if warehouse.path.exists():
        shutil.copy(warehouse.path, copy / warehouse.path.name)
    result = warehouse.sync(frames, **options)
    assert result.outcome == "applied", result.issues
    in_full = Warehouse(copy)
    assert in_full.sync(frames, full=True, **options).planning == "full"
    for table in COMPARED_TABLES:
        assert_frame_equal(warehouse.table(table), in_full.table(table))
    open_versions_match_the_rows(warehouse)
    assert warehouse.sync(frames, recall=False, **options).summary.is_empty()
    return result


def content_actions(warehouse: Warehouse, run: SyncResult) -> set[tuple[str, str, str]]:
    return {change for change in warehouse.actions(run.run_id) if "resource" in change[0]}


def test_the_resources_page_says_what_an_assignment_naming_no_record_becomes():
    """The page said every reference "must resolve"; from a delta, one that does not is a
    warning, and the assignment waits for what it names (the test below holds the product
    to it)."""
    page = " ".join(RESOURCES_PAGE.read_text().split())
    assert "must resolve" not in page
    assert re.search(r"resolves nowhere is a warning \(`reference`\), not an error", page)
    assert "no lms row is made for it** until its class (or course) and its resource are sent" in (
        page
    )
    assert "count users and enrollments only" in page
    # a REST pull reads no content: its feed leaves the three files absent
    assert "courseResources.csv `absent`" in page


@pytest.mark.slow
def test_a_delta_assignment_ahead_of_its_class_and_resource_is_made_when_they_arrive(tmp_path):
    warehouse = Warehouse(tmp_path)
    sync_checked(warehouse, with_resources(tiny_district()))
    ahead = sync_checked(
        warehouse,
        {
            "classResources": delta(
                "classResources",
                {"sourcedId": "cr8", "classSourcedId": "k9", "resourceSourcedId": "r-new"},
            ),
            "courseResources": delta(
                "courseResources",
                {"sourcedId": "kr8", "courseSourcedId": "c-new", "resourceSourcedId": "r-new"},
            ),
        },
        modes={"classResources": "delta", "courseResources": "delta"},
    )
    # warned on the line, column and value; nothing made yet
    assert ahead.issues.filter(pl.col("rule") == "reference").select(
        "file", "line", "field", "value", "severity"
    ).sort("file", "field").rows() == [
        ("classResources.csv", 2, "classSourcedId", "k9", "warning"),
        ("classResources.csv", 2, "resourceSourcedId", "r-new", "warning"),
        ("courseResources.csv", 2, "courseSourcedId", "c-new", "warning"),
        ("courseResources.csv", 2, "resourceSourcedId", "r-new", "warning"),
    ]
    assert content_actions(warehouse, ahead) == set()
    said = set(ahead.issues.filter(pl.col("rule") == "reference")["message"])
    assert all(
        message.endswith("; the assignment is made once that record is sent") for message in said
    )

    resource = sync_checked(
        warehouse,
        {"resources": delta("resources", {"sourcedId": "r-new", "vendorResourceId": "VR-NEW"})},
        modes={"resources": "delta"},
    )
    assert content_actions(warehouse, resource) == {("resource", "or--r-new", "create")}
    new_class = {
        "sourcedId": "k9",
        "title": "Algebra I - 9",
        "courseSourcedId": "c-alg",
        "classType": "scheduled",
        "schoolSourcedId": "s1",
        "termSourcedIds": "t1",
    }
    klass = sync_checked(
        warehouse, {"classes": delta("classes", new_class)}, modes={"classes": "delta"}
    )
    assert content_actions(warehouse, klass) == {("class_resource", "or--cr8", "create")}
    new_course = {
        "sourcedId": "c-new",
        "title": "Algebra I",
        "courseCode": "A",
        "orgSourcedId": "d1",
    }
    course = sync_checked(
        warehouse, {"courses": delta("courses", new_course)}, modes={"courses": "delta"}
    )
    # on the org base course of its title at its org (the district)
    assert content_actions(warehouse, course) == {("course_resource", "or--kr8", "create")}
    on = warehouse.query(
        "select course.external_id from lms.course_resources as assignment "
        "join lms.courses as course using (course_id) where assignment.external_id = 'or--kr8'"
    ).item()
    assert on == "or--obc--d1--Algebra I"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("policy", "removed", "sent_again"),
    [
        (
            "inactivate",
            {
                ("resource", "or--r-lab", "inactivate"),
                ("class_resource", "or--cr2", "inactivate"),
                ("course_resource", "or--kr2", "inactivate"),
            },
            {
                ("resource", "or--r-lab", "reactivate"),
                ("class_resource", "or--cr2", "reactivate"),
                ("course_resource", "or--kr2", "reactivate"),
            },
        ),
        (
            "delete",
            {
                ("resource", "or--r-lab", "delete"),
                ("class_resource", "or--cr2", "delete"),
                ("course_resource", "or--kr2", "delete"),
            },
            {
                ("resource", "or--r-lab", "create"),
                ("class_resource", "or--cr2", "create"),
                ("course_resource", "or--kr2", "create"),
            },
        ),
        ("keep", set(), {("resource", "or--r-lab", "update")}),
    ],
)
def test_a_resource_a_delta_removes_and_sends_again_follows_each_policy(
    tmp_path, policy, removed, sent_again
):
    """r-lab marked tobedeleted in a delta that sends no assignment: its stored assignments
    stand on it, so they leave with it as the policy says, and come back when it is sent
    again (retitled)."""
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    settings = {
        "policy": {"resources": policy, "class_resources": policy, "course_resources": policy}
    }
    sync_checked(warehouse, district, settings=settings)
    lab = {"sourcedId": "r-lab", "vendorResourceId": "VR-LAB", "title": "Virtual Lab"}
    removal = sync_checked(
        warehouse,
        {"resources": delta("resources", lab | {"status": "tobedeleted"})},
        modes={"resources": "delta"},
        settings=settings,
    )
    assert content_actions(warehouse, removal) == removed
    again = sync_checked(
        warehouse,
        {"resources": delta("resources", lab | {"title": "Virtual Lab 2"})},
        modes={"resources": "delta"},
        settings=settings,
    )
    assert content_actions(warehouse, again) == sent_again
    assert warehouse.row("resources", "or--r-lab")["title"] == "Virtual Lab 2"


@pytest.mark.slow
def test_a_year_of_content_changes_plans_as_in_full(tmp_path):
    """A generated district through a year of content changes in bulk feeds."""
    warehouse = Warehouse(tmp_path)
    district = generate_feed(300, seed=3)
    first = sync_checked(warehouse, district)
    assert {(e, a) for e, _, a in content_actions(warehouse, first)} == {
        ("resource", "create"),
        ("class_resource", "create"),
        ("course_resource", "create"),
    }
    kept, gone = district["resources"]["sourcedId"].head(2)

    # retitled
    retitled = district | {
        "resources": district["resources"].with_columns(
            title=pl.when(pl.col("sourcedId") == kept)
            .then(pl.lit("New edition"))
            .otherwise("title")
        )
    }
    run = sync_checked(warehouse, retitled)
    assert content_actions(warehouse, run) == {("resource", f"or--{kept}", "update")}

    # removed with every assignment of it: inactivated, its assignments deleted (the defaults)
    removed = retitled | {
        "resources": retitled["resources"].filter(pl.col("sourcedId") != gone),
        **{
            file: retitled[file].filter(pl.col("resourceSourcedId") != gone)
            for file in ("classResources", "courseResources")
        },
    }
    run = sync_checked(warehouse, removed)
    assignments_gone = {
        (entity, f"or--{sourced_id}", "delete")
        for entity, file in (
            ("class_resource", "classResources"),
            ("course_resource", "courseResources"),
        )
        for sourced_id in retitled[file].filter(pl.col("resourceSourcedId") == gone)["sourcedId"]
    }
    assert content_actions(warehouse, run) == {("resource", f"or--{gone}", "inactivate")} | (
        assignments_gone
    )

    # one resource assigned to five more classes (shared with the classes it was on)
    classes = removed["classes"]["sourcedId"].head(5).to_list()
    more = removed | {
        "classResources": pl.concat(
            [
                removed["classResources"],
                frame(
                    "classResources",
                    *(
                        {"sourcedId": f"more-{n}", "classSourcedId": k, "resourceSourcedId": kept}
                        for n, k in enumerate(classes)
                    ),
                ),
            ]
        )
    }
    run = sync_checked(warehouse, more)
    assert content_actions(warehouse, run) == {
        ("class_resource", f"or--more-{n}", "create") for n in range(5)
    }

    # two unassigned
    fewer = without(more, "classResources", "more-0", "more-1")
    run = sync_checked(warehouse, fewer)
    assert content_actions(warehouse, run) == {
        ("class_resource", "or--more-0", "delete"),
        ("class_resource", "or--more-1", "delete"),
    }

    # a class leaves with its assignments
    leaving = classes[2]
    departed = fewer | {
        "classes": fewer["classes"].filter(pl.col("sourcedId") != leaving),
        "enrollments": fewer["enrollments"].filter(pl.col("classSourcedId") != leaving),
        "classResources": fewer["classResources"].filter(pl.col("classSourcedId") != leaving),
    }
    run = sync_checked(warehouse, departed)
    assert ("class_resource", "or--more-2", "delete") in content_actions(warehouse, run)

    # a course retitled: its assignment moves to the org base course of the new title
    course = departed["courseResources"]["courseSourcedId"][0]
    assignment = departed["courseResources"]["sourcedId"][0]
    renamed = departed | {
        "courses": departed["courses"].with_columns(
            title=pl.when(pl.col("sourcedId") == course).then(pl.lit("Renamed")).otherwise("title")
        )
    }
    run = sync_checked(warehouse, renamed)
    assert content_actions(warehouse, run) == {("course_resource", f"or--{assignment}", "update")}

    # a course whose sections all move to another course: its assignment leaves with its
    # org base course
    moving, staying = renamed["courses"]["sourcedId"][3:5]
    moved = renamed | {
        "classes": renamed["classes"].with_columns(
            courseSourcedId=pl.when(pl.col("courseSourcedId") == moving)
            .then(pl.lit(staying))
            .otherwise("courseSourcedId")
        )
    }
    run = sync_checked(warehouse, moved)
    moving_assignments = renamed["courseResources"].filter(pl.col("courseSourcedId") == moving)
    assert {
        (entity, external_id, action)
        for entity, external_id, action in content_actions(warehouse, run)
        if entity == "course_resource"
    } == {("course_resource", f"or--{s}", "delete") for s in moving_assignments["sourcedId"]}


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["delete", "inactivate"])
def test_undo_and_approval_of_runs_that_changed_content(tmp_path, policy):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    settings = {
        "policy": {"resources": policy, "class_resources": policy, "course_resources": policy}
    }
    warehouse.sync(district, settings=settings)
    before = {table: warehouse.table(table) for table in CONTENT_TABLES}
    changed = without(
        without(without(district, "resources", "r-lab"), "classResources", "cr2"),
        "courseResources",
        "kr2",
    )
    changed |= {"resources": changed["resources"].with_columns(title=pl.lit("Retitled"))}
    run = warehouse.sync(changed, settings=settings)
    assert len(content_actions(warehouse, run)) == 4

    # the undo brings back each row as it was, ids included
    assert undo_run(warehouse.path, run.run_id).outcome == "applied"
    for table in CONTENT_TABLES:
        assert_frame_equal(
            warehouse.table(table).drop("updated_run_id"), before[table].drop("updated_run_id")
        )
    open_versions_match_the_rows(warehouse)
    assert warehouse.sync(district, settings=settings).summary.is_empty()

    # the same change held with a student's departure, then approved: as planned in full
    held_feed = without(changed, "users", "u-s2") | {
        "enrollments": changed["enrollments"].filter(pl.col("userSourcedId") != "u-s2")
    }
    guarded = settings | {"safety": {"max_removal_share": 0.1}}
    held = warehouse.sync(held_feed, settings=guarded)
    assert held.outcome == "held"
    for table in CONTENT_TABLES:  # held: nothing written yet
        assert_frame_equal(
            warehouse.table(table).drop("updated_run_id"), before[table].drop("updated_run_id")
        )
    approved = approve_run(warehouse.path, held.run_id)
    assert approved.outcome == "applied"
    assert len(content_actions(warehouse, approved)) == 4
    in_full = Warehouse(tmp_path / "full")
    (tmp_path / "full").mkdir()
    in_full.sync(district, settings=settings)
    in_full.sync(held_feed, settings=settings, full=True)
    for table in COMPARED_TABLES:
        assert_frame_equal(
            warehouse.table(table).drop("updated_run_id"),
            in_full.table(table).drop("updated_run_id"),
        )
    open_versions_match_the_rows(warehouse)
    assert warehouse.sync(held_feed, settings=settings, recall=False).summary.is_empty()
