"""Grade levels end to end: set on each student by the first sync, updated (and recorded as
updates) when the grades of a class or a course change, planned incrementally like the full
plan would."""

from __future__ import annotations

import json

import polars as pl
import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.warehouse.schema import WarehouseError, connect
from tests.feeds import tiny_district, with_cell, write_feed

TENANT = "north"


def grade_levels(warehouse) -> dict[str, str | None]:
    with connect(warehouse, read_only=True) as con:
        return dict(
            con.sql("select external_id, grade_level from lms.users order by all").fetchall()
        )


def _set(district, file: str, sourced_id: str, column: str, value: str | None):
    index = district[file]["sourcedId"].to_list().index(sourced_id)
    return with_cell(district, file, index, column, value)


@pytest.mark.slow
def test_students_get_the_highest_grade_of_their_classes_and_changes_are_updates(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    district = tiny_district()
    first = run_sync(write_feed(tmp_path / "1.zip", district), warehouse, Settings(), tenant=TENANT)
    assert first.outcome == "applied"
    # k1 and k2 name no grades: their course's (Algebra I, 09); k3's course is Biology, 09,10
    assert grade_levels(warehouse) == {
        "or--u-p1": None,
        "or--u-s1": "09",
        "or--u-s2": "10",
        "or--u-t1": None,
        "or--u-t2": None,
    }

    # the class's own grades win over its course's; a course's new grades reach its classes
    regraded = _set(district, "classes", "k1", "grades", "K-5")
    regraded = _set(regraded, "courses", "c-bio", "grades", "11")
    second = run_sync(
        write_feed(tmp_path / "2.zip", regraded), warehouse, Settings(), tenant=TENANT
    )
    assert second.outcome == "applied" and second.planning == "incremental"
    assert grade_levels(warehouse)["or--u-s1"] == "05"
    assert grade_levels(warehouse)["or--u-s2"] == "11"
    with connect(warehouse, read_only=True) as con:
        updates = con.sql(
            "select external_id, detail from audit.changes "
            "where run_id = ? and entity = 'user' order by external_id",
            params=[second.run_id],
        ).fetchall()
    assert [(e, json.loads(d)) for e, d in updates] == [
        ("or--u-s1", {"grade_level": {"from": "09", "to": "05"}}),
        ("or--u-s2", {"grade_level": {"from": "10", "to": "11"}}),
    ]

    # a student whose classes give no grade takes their own users.csv grades, else NA
    no_grades = _set(regraded, "classes", "k1", "grades", None)
    no_grades = _set(no_grades, "courses", "c-alg", "grades", None)
    no_grades = _set(no_grades, "users", "u-s1", "grades", "KG")
    third = run_sync(
        write_feed(tmp_path / "3.zip", no_grades), warehouse, Settings(), tenant=TENANT
    )
    full = run_sync(
        write_feed(tmp_path / "3.zip", no_grades), tmp_path / "f.duckdb", Settings(), tenant=TENANT
    )
    assert third.planning == "incremental" and full.planning == "full"
    assert grade_levels(warehouse) == grade_levels(tmp_path / "f.duckdb")
    assert grade_levels(warehouse)["or--u-s1"] == "KG"
    dropped = _set(no_grades, "users", "u-s1", "grades", None)
    run_sync(write_feed(tmp_path / "4.zip", dropped), warehouse, Settings(), tenant=TENANT)
    assert grade_levels(warehouse)["or--u-s1"] == "NA"

    # history keeps each grade a student had
    with connect(warehouse, read_only=True) as con:
        history = (
            con.sql(
                "select grade_level from history.users where external_id = 'or--u-s1' "
                "order by valid_from"
            )
            .pl()
            .get_column("grade_level")
        )
    assert history.to_list() == ["09", "05", "KG", "NA"]


def test_a_warehouse_without_stored_grade_levels_is_planned_in_full_once(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    district = tiny_district()
    run_sync(write_feed(tmp_path / "1.zip", district), warehouse, Settings(), tenant=TENANT)
    with connect(warehouse) as con:  # as a run of rosterflow before grade levels left it
        con.execute("delete from oneroster.derived where name = 'grade_levels'")
    changed = _set(district, "users", "u-t1", "givenName", "Augusta")
    again = run_sync(write_feed(tmp_path / "2.zip", changed), warehouse, Settings(), tenant=TENANT)
    assert again.planning == "full"
    assert "grade levels" in (again.planning_note or "")
    then = run_sync(
        write_feed(tmp_path / "3.zip", _set(changed, "users", "u-t2", "givenName", "A")),
        warehouse,
        Settings(),
        tenant=TENANT,
    )
    assert then.planning == "incremental"
    assert pl.Series(grade_levels(warehouse).values()).drop_nulls().to_list() == ["09", "10"]


# undoes migration 6 (which binds audit.changes anew)
WITHOUT_RESOURCES = "".join(
    f"drop view history.{table}; drop table history.{table}_closed; drop table lms.{table};"
    for table in ("resources", "class_resources", "course_resources")
)
# undoes migrations 7 and 8
WITHOUT_GRADEBOOK = (
    "drop table history.line_items; drop table history.scores; drop table lms.line_items;"
    "drop table lms.scores; drop table audit.grade_runs; drop table audit.grade_exclusions;"
    "drop table audit.grade_pushes;"
)


def test_a_version_4_warehouse_gets_grade_levels_and_keeps_its_history(tmp_path):
    from rosterflow.warehouse.schema import latest_version, schema_version

    warehouse = tmp_path / "w.duckdb"
    district = tiny_district()
    for number, given in enumerate(("Sam", "Samuel"), start=1):
        renamed = _set(district, "users", "u-s1", "givenName", given)
        feed = write_feed(tmp_path / f"{number}.zip", renamed)
        assert run_sync(feed, warehouse, Settings(), tenant=TENANT).outcome == "applied"
    with connect(warehouse) as con:  # back to what rosterflow before grade levels wrote
        con.execute(WITHOUT_GRADEBOOK + WITHOUT_RESOURCES)
        con.execute(
            """
            drop view history.users;
            alter table lms.users drop column grade_level;
            alter table history.users_closed drop column grade_level;
            create view history.users as select * from history.users_closed union all
            select current_rows.*, runs.started_at, null::timestamp, current_rows.updated_run_id,
                null::bigint
            from lms.users as current_rows
            join audit.sync_runs as runs on runs.run_id = current_rows.updated_run_id
            where current_rows.origin = 'sync';
            delete from audit.schema_migrations where version >= 5;
            delete from oneroster.derived where name = 'grade_levels';
            """
        )
        assert schema_version(con) == 4

    with pytest.raises(WarehouseError, match="schema version 4"):
        connect(warehouse, read_only=True)  # a reader never migrates
    with connect(warehouse) as con:  # migrated on open
        assert schema_version(con) == latest_version()
        names = con.sql(
            "select given_name, grade_level, closed_run_id is null from history.users "
            "where external_id = 'or--u-s1' order by valid_from"
        ).fetchall()
    assert names == [("Sam", None, False), ("Samuel", None, True)]

    again = run_sync(feed, warehouse, Settings(), tenant=TENANT)
    assert again.planning == "full"
    assert grade_levels(warehouse)["or--u-s1"] == "09"
    with connect(warehouse, read_only=True) as con:
        assert con.sql(
            "select given_name, grade_level from history.users "
            "where external_id = 'or--u-s1' order by valid_from"
        ).fetchall() == [("Sam", None), ("Samuel", None), ("Samuel", "09")]
