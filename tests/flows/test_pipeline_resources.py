"""Content assignment end to end: resources, and their assignments to classes (on the class's
section) and to courses (on the org base course of the course's title at its org), with the
same actions, policies, history and audit as every other lms table, planned incrementally as
the full plan would."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.feeds import frame, tiny_district, with_resources
from tests.syncing import Warehouse

RESOURCE_TABLES = ("resources", "class_resources", "course_resources")


def drop(district, file: str, sourced_id: str):
    return district | {file: district[file].filter(pl.col("sourcedId") != sourced_id)}


def assigned_courses(warehouse: Warehouse, table: str) -> dict[str, tuple[str, str, str]]:
    """Each assignment's resource and the external ID and kind of the course it is on."""
    rows = warehouse.query(
        f"""
        select assignment.external_id, resource.external_id, course.external_id, course.kind
        from lms.{table} as assignment
        left join lms.resources as resource using (resource_id)
        left join lms.courses as course using (course_id)
        order by all
        """
    ).rows()
    return {external_id: rest for external_id, *rest in rows}


def test_resources_and_their_class_and_course_assignments_are_created(tmp_path):
    warehouse = Warehouse(tmp_path)
    first = warehouse.sync(with_resources(tiny_district()))
    assert first.outcome == "applied"
    resources = warehouse.table("resources").select(
        "external_id", "vendor_resource_id", "title", "roles", "importance", "vendor_id", "status"
    )
    assert resources.rows() == [
        (
            "or--r-alg",
            "VR-ALG",
            "Algebra I (digital edition)",
            "student,teacher",
            "primary",
            "publisher",
            "active",
        ),
        ("or--r-lab", "VR-LAB", "Virtual Lab", None, None, None, "active"),
    ]
    assert assigned_courses(warehouse, "class_resources") == {
        "or--cr1": ["or--r-alg", "or--k1", "section"],
        "or--cr2": ["or--r-lab", "or--k3", "section"],
    }
    # a course's assignment is on the org base course of its title at the course's org
    assert assigned_courses(warehouse, "course_resources") == {
        "or--kr1": ["or--r-alg", "or--obc--s1--Algebra I", "org_base"],
        "or--kr2": ["or--r-lab", "or--obc--s2--Biology", "org_base"],
    }
    assert warehouse.row("class_resources", "or--cr1")["title"] == "Unit 1"
    created = warehouse.changes(first.run_id).filter(pl.col("entity").str.ends_with("resource"))
    assert created.select("entity", "external_id", "action").rows() == [
        ("class_resource", "or--cr1", "create"),
        ("class_resource", "or--cr2", "create"),
        ("course_resource", "or--kr1", "create"),
        ("course_resource", "or--kr2", "create"),
        ("resource", "or--r-alg", "create"),
        ("resource", "or--r-lab", "create"),
    ]
    # the same feed again changes nothing, planned or recalled
    assert warehouse.sync(with_resources(tiny_district()), recall=False).summary.is_empty()


@pytest.mark.slow
def test_edits_and_departures_follow_the_policies_and_the_history_keeps_each_version(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    warehouse.sync(district)
    retitled = district | {
        "resources": district["resources"].with_columns(
            pl.when(pl.col("sourcedId") == "r-alg")
            .then(pl.lit("Algebra I, 2nd edition"))
            .otherwise("title")
            .alias("title")
        )
    }
    # r-lab leaves with its assignments: the resource is inactivated (the default), the
    # assignments deleted (the default), so the class no longer shows it
    changed = drop(
        drop(drop(retitled, "resources", "r-lab"), "classResources", "cr2"),
        "courseResources",
        "kr2",
    )
    second = warehouse.sync(changed)
    assert second.planning == "incremental"
    assert warehouse.actions(second.run_id) == {
        ("resource", "or--r-alg", "update"),
        ("resource", "or--r-lab", "inactivate"),
        ("class_resource", "or--cr2", "delete"),
        ("course_resource", "or--kr2", "delete"),
    }
    detail = warehouse.changes(second.run_id).filter(pl.col("external_id") == "or--r-alg")["detail"]
    assert json.loads(detail[0]) == {
        "title": {"from": "Algebra I (digital edition)", "to": "Algebra I, 2nd edition"}
    }
    assert warehouse.row("resources", "or--r-lab")["status"] == "inactive"
    assert warehouse.query(
        "select * from lms.class_resources where external_id = 'or--cr2'"
    ).is_empty()
    versions = warehouse.query(
        "select title, opened_run_id, closed_run_id from history.resources "
        "where external_id = 'or--r-alg' order by opened_run_id"
    ).rows()
    assert versions == [
        ("Algebra I (digital edition)", 1, second.run_id),
        ("Algebra I, 2nd edition", second.run_id, None),
    ]
    # the same change planned in full gives the same lms
    full = Warehouse(tmp_path / "full")
    (tmp_path / "full").mkdir()
    full.sync(district)
    assert full.sync(changed, full=True).planning == "full"
    for table in RESOURCE_TABLES:
        assert_frame_equal(
            warehouse.table(table).drop("updated_run_id"), full.table(table).drop("updated_run_id")
        )


def test_a_deleted_resource_takes_the_assignments_the_sis_no_longer_sends_with_it(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    warehouse.sync(district)
    # resources.csv comes without r-lab while the assignment files are not sent: their stored
    # rows still name it, but a deleted resource's assignments go with it
    policy = {
        "policy": {"resources": "delete", "class_resources": "keep", "course_resources": "keep"}
    }
    modes = {"classResources": "absent", "courseResources": "absent"}
    run = warehouse.sync(drop(district, "resources", "r-lab"), modes=modes, settings=policy)
    assert run.outcome == "applied"
    changes = warehouse.changes(run.run_id)
    assert changes.select("entity", "external_id", "action").rows() == [
        ("class_resource", "or--cr2", "delete"),
        ("course_resource", "or--kr2", "delete"),
        ("resource", "or--r-lab", "delete"),
    ]
    reasons = {
        json.loads(d)["reason"] for d in changes.filter(pl.col("entity") != "resource")["detail"]
    }
    assert reasons == {"a course or resource it belongs to was deleted"}


def test_a_course_without_an_org_base_course_gets_no_assignment(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(
        with_resources(tiny_district()), settings={"hierarchy": {"org_base_courses": False}}
    )
    assert set(assigned_courses(warehouse, "course_resources")) == set()
    assert set(assigned_courses(warehouse, "class_resources")) == {"or--cr1", "or--cr2"}
    # turned on, the org base courses and the course assignments on them arrive together
    run = warehouse.sync(with_resources(tiny_district()))
    assert run.planning == "full"  # the settings changed
    assert assigned_courses(warehouse, "course_resources")["or--kr1"][1] == "or--obc--s1--Algebra I"


def test_hand_made_content_rows_are_never_touched(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    warehouse.sync(district)
    warehouse.execute(
        "insert into lms.resources (resource_id, tenant, external_id, title) "
        "values (9999, 'district', 'teacher-upload-1', 'My worksheet')"
    )
    warehouse.execute("update lms.resources set title = 'Edited' where external_id = 'or--r-lab'")
    run = warehouse.sync(district)
    # the hand edit of a managed row is reverted; the hand-made row stays as it was
    assert warehouse.actions(run.run_id) == {("resource", "or--r-lab", "update")}
    assert warehouse.row("resources", "or--r-lab")["title"] == "Virtual Lab"
    assert warehouse.row("resources", "teacher-upload-1")["title"] == "My worksheet"


def test_an_assignment_to_a_missing_class_is_an_error_naming_its_row(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    broken = district | {
        "classResources": pl.concat(
            [
                district["classResources"],
                frame(
                    "classResources",
                    {"sourcedId": "cr3", "classSourcedId": "k9", "resourceSourcedId": "r-alg"},
                ),
            ]
        )
    }
    run = warehouse.sync(broken)
    assert run.outcome == "rejected"
    errors = run.issues.filter(pl.col("severity") == "error")
    assert errors.select("file", "line", "field", "value").rows() == [
        ("classResources.csv", 4, "classSourcedId", "k9")
    ]
    assert warehouse.query("select * from lms.resources").is_empty()


def test_a_run_held_before_resources_existed_is_refused_with_what_to_do(tmp_path):
    from rosterflow.flows.operations import approve_run, discard_run
    from rosterflow.warehouse.operations import OperationRefused

    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    warehouse.sync(district)
    without_kim = district | {
        "users": district["users"].filter(pl.col("sourcedId") != "u-s2"),
        "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != "u-s2"),
    }
    held = warehouse.sync(without_kim, settings={"safety": {"max_removal_share": 0.1}})
    assert held.outcome == "held"
    # what a rosterflow without content assignment kept of the plan
    warehouse.execute(
        "delete from audit.held_plans where part = 'changes' and name like '%resource'"
    )
    with pytest.raises(OperationRefused, match=r"held by an older rosterflow.*sync the feed again"):
        approve_run(warehouse.path, held.run_id)
    assert warehouse.row("users", "or--u-s2")["status"] == "active"
    assert discard_run(warehouse.path, held.run_id).outcome == "held"
