"""The hierarchy and school moves through the whole sync: enrollments per level, moves,
re-pointing a managed base course at a hand-made one, and idempotence."""

import polars as pl
import pytest

from tests.feeds import _enrollment, faq_district, tiny_district, with_cell
from tests.syncing import Warehouse, counts


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(tmp_path)


def enrolled(warehouse: Warehouse, course_external_id: str) -> set[tuple[str, str, bool]]:
    rows = warehouse.query(
        "select u.external_id, e.role, e.is_primary from lms.enrollments e "
        "join lms.users u using (user_id) join lms.courses c using (course_id) "
        "where c.external_id = ? and e.status = 'active'",
        [course_external_id],
    )
    return set(rows.iter_rows())


def test_faq_example_synced_builds_each_level_with_its_domains_and_enrollments(warehouse):
    result = warehouse.sync(faq_district())
    assert counts(result)[("course", "create")] == 6 + 3 + 6 + 10
    courses = warehouse.query(
        "select c.external_id, c.kind, d.external_id as domain, b.external_id as base "
        "from lms.courses c join lms.domains d using (domain_id) "
        "left join lms.courses b on b.course_id = c.base_course_id"
    )
    by_id = {row[0]: row[1:] for row in courses.iter_rows()}
    assert by_id["or--obc--ST--Math 6"] == ("org_base", "or--ST", None)
    assert by_id["or--obc--D1--Math 6"] == ("org_base", "or--D1", "or--obc--ST--Math 6")
    assert by_id["or--tbc--S3--T3--Math 6"] == ("teacher_base", "or--S3", "or--obc--S3--Math 6")
    assert by_id["or--sbc--S3--T3--spring--Math 6"] == (
        "session_base",
        "or--S3",
        "or--tbc--S3--T3--Math 6",
    )
    assert by_id["or--k-t3-spring-2"] == ("section", "or--S3", "or--sbc--S3--T3--spring--Math 6")
    assert enrolled(warehouse, "or--obc--D1--Math 6") == set()
    assert enrolled(warehouse, "or--tbc--S1--T1--Math 6") == {("or--T1", "teacher", True)}
    assert enrolled(warehouse, "or--sbc--S1--T1--fall--Math 6") == {("or--T1", "teacher", True)}
    assert enrolled(warehouse, "or--k-t1-fall-1") == {
        ("or--T1", "teacher", True),
        ("or--T9", "teacher", False),
        ("or--P0", "student", False),
    }
    assert warehouse.sync(faq_district(), recall=False).summary.height == 0


def test_turning_session_base_courses_off_re_derives_sections(warehouse):
    warehouse.sync(faq_district())
    settings = {
        "hierarchy": {"session_base_courses": False},
        "policy": {"courses": "delete"},
        "safety": {"max_removal_share": 1},
    }
    result = warehouse.sync(faq_district(), settings=settings)
    summary = counts(result)
    assert summary[("course", "delete")] == 6  # the session bases
    assert summary[("course", "update")] == 10  # every section now derives from its teacher base
    base = warehouse.query(
        "select b.external_id from lms.courses c join lms.courses b on b.course_id = c.base_course_id "
        "where c.external_id = 'or--k-t2-fall-1'"
    )
    assert base.item() == "or--tbc--S2--T2--Math 6"


def test_student_who_changes_school_is_moved_with_their_history(warehouse):
    warehouse.sync(tiny_district())
    user_id = warehouse.row("users", "or--u-s1")["user_id"]
    moved = with_cell(tiny_district(), "users", 2, "orgSourcedIds", "s2")
    moved["enrollments"] = pl.concat(
        [
            moved["enrollments"].filter(pl.col("sourcedId") != "e2"),
            tiny_district()["enrollments"]
            .head(0)
            .vstack(
                pl.DataFrame(
                    [_enrollment("e7", "k3", "s2", "u-s1", "student")],
                    schema=moved["enrollments"].schema,
                )
            ),
        ]
    )
    result = warehouse.sync(moved)
    assert warehouse.actions(result.run_id) == {
        ("user", "or--u-s1", "move"),
        ("enrollment", "or--e2", "inactivate"),
        ("enrollment", "or--e7", "create"),
    }
    after = warehouse.row("users", "or--u-s1")
    assert after["user_id"] == user_id
    assert after["domain_id"] == warehouse.row("domains", "or--s2")["domain_id"]
    versions = warehouse.query(
        "select d.external_id from history.users h join lms.domains d using (domain_id) "
        "where h.user_id = ? order by h.valid_from",
        [user_id],
    )
    assert versions["external_id"].to_list() == ["or--s1", "or--s2"]
    detail = warehouse.query("select detail from audit.changes where action = 'move'").item()
    assert '"domain_id"' in detail


def test_moved_managed_external_id_re_points_derived_courses_to_the_hand_made_course(warehouse):
    warehouse.sync(tiny_district())
    role = "or--tbc--s1--u-t1--Algebra I"
    old = warehouse.row("courses", role)
    warehouse.execute(
        "update lms.courses set external_id = 'retired-algebra' where external_id = ?", [role]
    )
    warehouse.execute(
        "insert into lms.courses (course_id, tenant, external_id, domain_id, kind, title, status) "
        "values (900, 'district', ?, ?, 'teacher_base', 'Ada''s Algebra', 'active')",
        [role, old["domain_id"]],
    )
    result = warehouse.sync(tiny_district())
    assert warehouse.actions(result.run_id) == {
        ("course", role, "adopt"),
        ("course", "or--sbc--s1--u-t1--t1--Algebra I", "update"),
        ("enrollment", role + "--teacher", "update"),
    }
    derived = warehouse.row("courses", "or--sbc--s1--u-t1--t1--Algebra I")
    assert derived["base_course_id"] == 900
    untouched = warehouse.query("select * from lms.courses where external_id = 'retired-algebra'")
    assert untouched.row(0, named=True) == old | {"external_id": "retired-algebra"}
    assert warehouse.sync(tiny_district(), recall=False).summary.height == 0


def test_school_that_leaves_the_feed_is_inactivated_and_its_people_move(warehouse):
    warehouse.sync(tiny_district())
    merged = tiny_district()  # North High (s1) closes; everyone and every class moves to s2
    merged["orgs"] = merged["orgs"].filter(pl.col("sourcedId") != "s1")
    merged["users"] = merged["users"].with_columns(
        pl.col("orgSourcedIds").str.replace_all("s1,s2", "s2").str.replace_all("s1", "s2")
    )
    merged["classes"] = merged["classes"].with_columns(pl.lit("s2").alias("schoolSourcedId"))
    merged["courses"] = merged["courses"].with_columns(pl.lit("s2").alias("orgSourcedId"))
    merged["enrollments"] = merged["enrollments"].with_columns(
        pl.lit("s2").alias("schoolSourcedId")
    )
    result = warehouse.sync(merged, settings={"safety": {"max_removal_share": 1}})
    assert result.outcome == "applied", result.message
    actions = warehouse.actions(result.run_id)
    assert ("domain", "or--s1", "inactivate") in actions
    assert {("user", f"or--{u}", "move") for u in ("u-t1", "u-s1", "u-s2", "u-p1")} <= actions
    assert warehouse.row("domains", "or--s1")["status"] == "inactive"
    south = warehouse.row("domains", "or--s2")["domain_id"]
    assert warehouse.row("users", "or--u-s1")["domain_id"] == south
    assert warehouse.row("courses", "or--k1")["domain_id"] == south
