"""Domain rules of a sync over several runs, at their edges: the guards, school moves and the
hierarchy, each run also planned in full on a copy of the warehouse (incremental equals full)."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from tests.feeds import _enrollment, _user, frame, tiny_district
from tests.syncing import Warehouse, counts

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

# what a run leaves that a reader sees, less when it ran (valid_from, valid_to)
VISIBLE = {
    "lms": "select * from lms.{table} order by all",
    "history": "select * exclude (valid_from, valid_to) from history.{table} order by all",
}

# the guards at their defaults, but the tenant's share out of the way: only the school's counts
SCHOOL_GUARD_ONLY = {"safety": {"max_removal_share": 1}}


def with_graduates(students: int, graduates: int, inactive: bool) -> dict[str, pl.DataFrame]:
    """tiny_district with a school for graduates, `students` more students at North High (s1),
    of whom the first `graduates` are at the graduates' school instead (disabled when
    `inactive`), and 25 students graduated earlier, active there."""
    district = tiny_district()
    graduated = {
        "sourcedId": "grad",
        "name": "Graduated",
        "type": "school",
        "parentSourcedId": "d1",
    }
    rows = []
    for i in range(students):
        row = _user(f"a{i}", "student", "s1", given=f"A{i}", family="North")
        if i < graduates:
            row |= {"orgSourcedIds": "grad", "enabledUser": "false" if inactive else "true"}
        rows.append(row)
    rows += [_user(f"g{i}", "student", "grad", given=f"G{i}", family="Old") for i in range(25)]
    return district | {
        "orgs": pl.concat([district["orgs"], frame("orgs", graduated)]),
        "users": pl.concat([district["users"], frame("users", *rows)]),
    }


def test_users_moved_and_disabled_are_taken_from_the_school_they_leave(tmp_path):
    # 30 of North High's students graduate: moved to the graduates' school and disabled in the
    # same run. North High loses them (30 of 44, above the school share of 0.5), the
    # graduates' school loses nobody: the run is held for North High
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(with_graduates(40, 0, False)).outcome == "applied"
    result = warehouse.sync(with_graduates(40, 30, True), settings=SCHOOL_GUARD_ONLY)
    assert result.outcome == "held", result.message
    assert "30 of the 44 active managed users of North High (68%)" in result.message


def test_a_school_that_users_join_disabled_is_not_said_to_lose_them(tmp_path):
    # 15 of North High's 44 users graduate (35%, under the school share): the 25 active
    # users of the graduates' school stay, so no school is over its share
    warehouse = Warehouse(tmp_path)
    warehouse.sync(with_graduates(40, 0, False))
    result = warehouse.sync(with_graduates(40, 15, True), settings=SCHOOL_GUARD_ONLY)
    assert result.outcome == "applied", result.message
    moved = warehouse.query(
        "select count(*) from lms.users u join lms.domains d using (domain_id) "
        "where d.external_id = 'or--grad' and u.status = 'inactive'"
    )
    assert moved.item() == 15


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_the_school_guard_judges_an_incremental_run_as_a_full_one(tmp_path, full):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(with_graduates(40, 0, False))
    result = warehouse.sync(with_graduates(40, 30, True), settings=SCHOOL_GUARD_ONLY, full=full)
    assert result.planning == ("full" if full else "incremental")
    assert result.outcome == "held"
    assert "of North High" in result.message


def test_the_same_run_planned_in_full_leaves_the_same_rows(tmp_path):
    (tmp_path / "incremental").mkdir()
    incremental = Warehouse(tmp_path / "incremental")
    incremental.sync(with_graduates(40, 0, False))
    (tmp_path / "full").mkdir()
    shutil.copy(incremental.path, tmp_path / "full" / "warehouse.duckdb")
    full = Warehouse(tmp_path / "full")
    graduated = with_graduates(40, 15, True)
    assert incremental.sync(graduated, settings=SCHOOL_GUARD_ONLY).planning == "incremental"
    assert full.sync(graduated, settings=SCHOOL_GUARD_ONLY, full=True).planning == "full"
    assert visible(incremental) == visible(full)


def visible(warehouse: Warehouse) -> dict[str, pl.DataFrame]:
    """The lms and history tables, the changes and the issues, each sorted."""
    tables = warehouse.query(
        "select schema_name, table_name from duckdb_tables() "
        "where schema_name in ('lms', 'history') order by all"
    )
    found = {
        f"{schema}.{table}": warehouse.query(VISIBLE[schema].format(table=table))
        for schema, table in tables.iter_rows()
    }
    for table in ("changes", "issues"):
        found[f"audit.{table}"] = warehouse.query(f"select * from audit.{table} order by all")
    return {name: rows.to_dicts() for name, rows in found.items()}


def re_keyed(district: dict[str, pl.DataFrame], old: str, new: str) -> dict[str, pl.DataFrame]:
    """`district` with user `old` sent under the sourcedId `new` (the SIS re-keyed them)."""
    renamed = pl.col("sourcedId").replace(old, new)
    return district | {
        "users": district["users"].with_columns(
            renamed, pl.col("agentSourcedIds").replace(old, new)
        ),
        "enrollments": district["enrollments"].with_columns(
            pl.col("userSourcedId").replace(old, new)
        ),
    }


BY_USERNAME = {"identity": {"key": "username"}, "safety": {"max_removal_share": 1}}


def test_a_re_keyed_student_gets_a_second_account_of_the_same_login(tmp_path):
    # as docs/explanation/users.md says: the inactivated account keeps its login
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district(), settings=BY_USERNAME)
    result = warehouse.sync(re_keyed(tiny_district(), "u-s1", "u-s9"), settings=BY_USERNAME)
    assert result.outcome == "applied", result.message
    accounts = warehouse.query(
        "select external_id, status from lms.users where login = 'sam.stone' order by 1"
    )
    assert accounts.rows() == [("or--u-s1", "inactive"), ("or--u-s9", "active")]


def test_an_account_given_the_re_keyed_external_id_is_kept_for_the_new_record(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district(), settings=BY_USERNAME)
    user_id = warehouse.row("users", "or--u-s1")["user_id"]
    warehouse.execute("update lms.users set external_id = 'or--u-s9' where user_id = ?", [user_id])
    result = warehouse.sync(re_keyed(tiny_district(), "u-s1", "u-s9"), settings=BY_USERNAME)
    assert result.outcome == "applied", result.message
    accounts = warehouse.query(
        "select user_id, external_id, status from lms.users where login = 'sam.stone'"
    )
    assert accounts.rows() == [(user_id, "or--u-s9", "active")]
    assert not {("user", "create"), ("user", "inactivate")} & set(counts(result))


def test_a_section_deleted_leaves_the_platform_s_line_items_as_they_are(tmp_path):
    # as docs/explanation/course-hierarchy.md says: the run is not held, the line item never
    # touched (it points at no course now)
    warehouse = Warehouse(tmp_path)
    delete = {"policy": {"courses": "delete"}}
    warehouse.sync(tiny_district(), settings=delete)
    section = warehouse.row("courses", "or--k3")["course_id"]
    warehouse.execute(
        "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
        "points_possible) values (900, 'district', ?, 'Quiz 1', date '2027-01-10', 10)",
        [section],
    )
    district = tiny_district()
    without_k3 = district | {
        "classes": district["classes"].filter(pl.col("sourcedId") != "k3"),
        "enrollments": district["enrollments"].filter(pl.col("classSourcedId") != "k3"),
    }
    result = warehouse.sync(without_k3, settings=delete | {"safety": {"max_removal_share": 1}})
    assert result.outcome == "applied", result.message
    assert counts(result)[("course", "delete")] == 6  # the section and the Biology bases
    assert warehouse.query("select course_id from lms.line_items").item() == section


def with_colliding_teacher_bases(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`district` with teacher `t--a` teaching "X" and teacher `t` teaching "a--X" at North
    High: both teacher bases would be `or--tbc--s1--t--a--X`."""
    teachers = [_user(sid, "teacher", "s1", given="T", family=sid) for sid in ("t--a", "t")]
    courses = [
        {"sourcedId": sid, "title": title, "courseCode": sid, "orgSourcedId": "s1"}
        for sid, title in (("c-x", "X"), ("c-ax", "a--X"))
    ]
    classes = [
        {"sourcedId": sid, "title": sid, "courseSourcedId": course, "schoolSourcedId": "s1"}
        | {"classType": "scheduled", "termSourcedIds": "t1"}
        for sid, course in (("k-x", "c-x"), ("k-ax", "c-ax"))
    ]
    enrollments = [
        _enrollment(sid, class_, "s1", teacher, "teacher", "true")
        for sid, class_, teacher in (("e-x", "k-x", "t--a"), ("e-ax", "k-ax", "t"))
    ]
    return district | {
        "users": pl.concat([district["users"], frame("users", *teachers)]),
        "courses": pl.concat([district["courses"], frame("courses", *courses)]),
        "classes": pl.concat([district["classes"], frame("classes", *classes)]),
        "enrollments": pl.concat([district["enrollments"], frame("enrollments", *enrollments)]),
    }


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_base_courses_whose_external_ids_collide_refuse_the_run(tmp_path, full):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    before = visible(warehouse)
    result = warehouse.sync(with_colliding_teacher_bases(tiny_district()), full=full)
    assert result.outcome == "rejected"
    assert "'or--tbc--s1--t--a--X'" in result.message
    assert "the teacher base course of 'X' at s1, teacher t--a" in result.message
    assert "the teacher base course of 'a--X' at s1, teacher t" in result.message
    # nothing written: the next feed without the collision syncs (no duplicated managed IDs)
    assert {k: v for k, v in visible(warehouse).items() if k != "audit.issues"} == {
        k: v for k, v in before.items() if k != "audit.issues"
    }
    assert warehouse.sync(tiny_district(), recall=False).outcome == "applied"
