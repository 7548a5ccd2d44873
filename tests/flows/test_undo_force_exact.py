"""An undo leaves the warehouse exact: no managed lms row points at a row that does not exist.

Undoing a run deletes the rows it created; rows a later run made that point at them (an
enrollment of the user the run created, the users of the school it created, the assignments of
its resource) go with them, in the undo's own changes, so that undoing the undo brings them
back. A row the undo would bring back pointing at a row a later run deleted stays as it is.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from rosterflow.flows.operations import undo_run
from rosterflow.schemas.lms import ENTITIES
from rosterflow.warehouse.operations import OperationRefused
from tests.feeds import _enrollment, _user, frame, tiny_district, with_resources
from tests.flows.test_operations import assert_same_lms, lms
from tests.syncing import Warehouse

GUARD_OFF = {"safety": {"max_removal_share": 1.0, "max_school_removal_share": 1.0}}
TABLES = tuple(e.table for e in ENTITIES.values())


def dangling(w: Warehouse) -> dict[str, int]:
    """Per `table.column` of every reference of every lms table: how many managed rows point
    at a row its target table does not hold (none, in an exact warehouse)."""
    checks = [
        f"select '{entity.table}.{ref}' as reference, count(*) as rows "
        f"from lms.{entity.table} as pointing "
        f"where starts_with(pointing.external_id, 'or-') and pointing.{ref} is not null "
        f"and not exists (select 1 from lms.{ENTITIES[target].table} as target "
        f"where target.{ENTITIES[target].id} = pointing.{ref})"
        for entity in ENTITIES.values()
        for ref, target in entity.references.items()
    ]
    found = w.query(" union all ".join(checks))
    return {reference: rows for reference, rows in found.iter_rows() if rows}


def added(frames: dict[str, pl.DataFrame], name: str, *rows: dict) -> dict[str, pl.DataFrame]:
    return frames | {name: pl.concat([frames[name], frame(name, *rows)])}


def undo_deletions(w: Warehouse, run_id: int) -> dict[str, str]:
    """external ID -> the reason of each row the undo run `run_id` deleted."""
    deleted = w.query(
        "select external_id, detail from audit.changes where run_id = ? and action = 'delete'",
        [run_id],
    )
    return {row: json.loads(detail)["reason"] for row, detail in deleted.iter_rows()}


NEW_STUDENT = _user("u-new", "student", "s1", given="New", family="Kid") | {"grades": "09"}


@pytest.mark.slow  # (three syncs and two undos, 2.5 s: the forced undo below is the one check)
def test_an_undo_refuses_then_with_force_deletes_what_a_later_run_made_on_a_row_it_deletes(
    tmp_path,
):
    """The later run enrolled the student the undone run created and linked a parent to her,
    changing no row the undone run changed: undoing it would delete the later run's rows
    too, which is overwriting the later run, refused without --force as a change of the same
    rows is."""
    w = Warehouse(tmp_path)
    district = tiny_district()
    w.sync(district, settings=GUARD_OFF)
    arrived = added(district, "users", NEW_STUDENT)
    created = w.sync(arrived, settings=GUARD_OFF)
    enrolled = added(
        added(arrived, "enrollments", _enrollment("e-new", "k1", "s1", "u-new", "student")),
        "users",
        _user("u-p2", "parent", "s1", given="Pa", family="Kid", agents="u-new"),
    )
    later = w.sync(enrolled, settings=GUARD_OFF)
    assert w.actions(later.run_id) == {
        ("enrollment", "or--e-new", "create"),
        ("observer", "or--obs--u-p2--u-new", "create"),
        ("user", "or--u-p2", "create"),
    }
    after_later = lms(w)
    runs_before = w.query("select count(*) from audit.sync_runs").item()

    with pytest.raises(OperationRefused) as refused:
        undo_run(w.path, created.run_id)
    assert str(refused.value) == (
        f"later run(s) {later.run_id} made rows pointing at rows undoing run {created.run_id} "
        "deletes (1 row of lms.enrollments, 1 of lms.observers); undoing run "
        f"{created.run_id} would delete them too. Undo the later runs first (newest first), "
        "or give --force to delete them with it"
    )
    # refused: nothing written, not even a run
    assert w.query("select count(*) from audit.sync_runs").item() == runs_before
    assert_same_lms(lms(w), after_later)

    undone = undo_run(w.path, created.run_id, force=True)

    assert dangling(w) == {}
    assert undo_deletions(w, undone.run_id) == {
        "or--u-new": f"undo of run {created.run_id}: the run created it",
        "or--e-new": f"undo of run {created.run_id}: the user or course it points at was deleted",
        "or--obs--u-p2--u-new": f"undo of run {created.run_id}: the user it points at was deleted",
    }
    assert (
        "(--force); deleted with the rows they point at: 1 row of lms.enrollments, 1 of lms.observers"
        in undone.message
    )
    # the parent the later run created points at nothing deleted: it stays
    assert w.row("users", "or--u-p2")["status"] == "active"

    # the undo is a run like any: undoing it brings back every row it deleted, under its id
    undo_run(w.path, undone.run_id)

    assert_same_lms(lms(w), after_later)
    assert dangling(w) == {}


def test_a_forced_undo_deletes_what_points_at_the_school_course_and_resource_it_deletes(
    tmp_path,
):
    """The undone run created a school, a course with a class, a resource and a student; the
    later run changed the student (so --force), and made a teacher in the school, a class of
    the course (with its base courses), enrollments in both classes and assignments of the
    resource and to the course. A row made by hand pointing at the student is left alone."""
    w = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    w.sync(district, settings=GUARD_OFF)
    arrived = added(
        district,
        "orgs",
        {"sourcedId": "s3", "name": "East", "type": "school", "parentSourcedId": "d1"},
    )
    arrived = added(
        arrived,
        "courses",
        {
            "sourcedId": "c-chem",
            "title": "Chemistry",
            "courseCode": "CHEM",
            "orgSourcedId": "s3",
            "schoolYearSourcedId": "y1",
        },
    )
    arrived = added(
        arrived,
        "classes",
        {
            "sourcedId": "k4",
            "title": "Chemistry - 1",
            "courseSourcedId": "c-chem",
            "classType": "scheduled",
            "schoolSourcedId": "s3",
            "termSourcedIds": "t1",
        },
    )
    arrived = added(arrived, "users", NEW_STUDENT | {"orgSourcedIds": "s3"})
    arrived = added(
        arrived, "resources", {"sourcedId": "r-chem", "vendorResourceId": "VR-CHEM", "title": "Lab"}
    )
    created = w.sync(arrived, settings=GUARD_OFF)
    assert created.outcome == "applied", created.message

    grown = added(
        arrived,
        "users",
        _user("u-late", "teacher", "s3", given="Late", family="Comer"),
        _user("u-p2", "parent", "s1", given="Pa", family="Kid", agents="u-new"),
    )
    grown = grown | {
        "users": grown["users"].with_columns(
            pl.when(pl.col("sourcedId") == "u-new")
            .then(pl.lit("Newt"))
            .otherwise(pl.col("givenName"))
            .alias("givenName")
        )
    }
    grown = added(
        grown,
        "classes",
        {
            "sourcedId": "k5",
            "title": "Chemistry - 2",
            "courseSourcedId": "c-chem",
            "classType": "scheduled",
            "schoolSourcedId": "s3",
            "termSourcedIds": "t2",
        },
    )
    grown = added(
        grown,
        "enrollments",
        _enrollment("e7", "k4", "s3", "u-new", "student"),
        _enrollment("e8", "k5", "s3", "u-late", "teacher", "true"),
        _enrollment("e9", "k1", "s1", "u-new", "student"),
    )
    grown = added(
        grown,
        "classResources",
        {"sourcedId": "cr3", "classSourcedId": "k1", "resourceSourcedId": "r-chem"},
        {"sourcedId": "cr4", "classSourcedId": "k5", "resourceSourcedId": "r-alg"},
    )
    grown = added(
        grown,
        "courseResources",
        {"sourcedId": "kr3", "courseSourcedId": "c-alg", "resourceSourcedId": "r-chem"},
    )
    later = w.sync(grown, settings=GUARD_OFF)
    assert later.outcome == "applied", later.message
    student = w.row("users", "or--u-new")["user_id"]
    w.execute(
        "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, course_id, "
        "role, status, origin) values (9000, 'district', 'hand-1', ?, "
        "(select course_id from lms.courses where external_id = 'or--k1'), 'student', "
        "'active', 'manual')",
        [student],
    )
    after_later = lms(w)
    made_later = set(w.changes(later.run_id)["external_id"]) - {"or--u-new"}

    forced = undo_run(w.path, created.run_id, force=True)

    # every reference of every table holds, but the hand-made enrollment's (never touched)
    assert dangling(w) == {}
    assert w.row("enrollments", "hand-1")["user_id"] == student
    assert set(forced.issues["rule"]) == {"user.delete_leaves_hand_made"}
    deleted = undo_deletions(w, forced.run_id)
    # what the undone run created, and everything the later run made on it but the parent,
    # who points at nothing deleted (her link to the student goes)
    assert set(deleted) == set(w.changes(created.run_id)["external_id"]) | made_later - {"or--u-p2"}
    assert w.row("users", "or--u-p2")["status"] == "active"
    assert deleted["or--u-late"].endswith("the domain it points at was deleted")
    assert deleted["or--k5"].endswith("the domain or course it points at was deleted")
    assert deleted["or--cr3"].endswith("the resource or course it points at was deleted")
    assert (
        "(--force); deleted with the rows they point at: 1 row of lms.users, 3 of lms.courses, "
        "5 of lms.enrollments, 1 of lms.observers, 2 of lms.class_resources, "
        "1 of lms.course_resources"
    ) in forced.message

    undo_run(w.path, forced.run_id)

    assert_same_lms(lms(w), after_later)
    assert dangling(w) == {}


@pytest.mark.slow
def test_an_undo_leaves_as_it_is_a_row_it_would_bring_back_pointing_at_a_row_gone_since(
    tmp_path,
):
    """The undone run deleted an enrollment of a student a later run deleted: bringing the
    enrollment back would point it at no user."""
    config = {"policy": {"users": "delete", "enrollments": "delete"}} | GUARD_OFF
    w = Warehouse(tmp_path)
    district = tiny_district()
    w.sync(district, settings=config)
    unenrolled = district | {
        "enrollments": district["enrollments"].filter(pl.col("sourcedId") != "e4")
    }
    done = w.sync(unenrolled, settings=config)
    assert w.actions(done.run_id) == {("enrollment", "or--e4", "delete")}
    left = unenrolled | {
        "users": district["users"].filter(pl.col("sourcedId") != "u-s2"),
        "enrollments": unenrolled["enrollments"].filter(pl.col("userSourcedId") != "u-s2"),
    }
    w.sync(left, settings=config)
    after_later = lms(w)

    undone = undo_run(w.path, done.run_id)

    assert dangling(w) == {}
    assert_same_lms(lms(w), after_later)
    assert (
        "not brought back, as a row they would point at is gone: 1 row of lms.enrollments"
        in undone.message
    )
