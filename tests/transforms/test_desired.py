"""The desired lms state from the SIS's records: one literal frame in, one expected frame out."""

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.lms import ENTITIES, desired_schema
from rosterflow.schemas.settings import Hierarchy
from rosterflow.transforms.desired import (
    desired_class_resources,
    desired_course_resources,
    desired_domains,
    desired_observers,
    desired_resources,
    desired_section_enrollments,
    desired_state,
    desired_users,
)
from tests.feeds import frame, tiny_district


def user(sid: str, role: str = "student", **fields: str | None) -> dict[str, str | None]:
    return {"sourcedId": sid, "role": role, "orgSourcedIds": "s1", "enabledUser": "true"} | fields


def users(*rows: dict[str, str | None]) -> pl.LazyFrame:
    return frame("users", *rows).lazy()


def links(*pairs: tuple[str, str, str]) -> pl.DataFrame:
    """Expected observer links from (observer, student, relationship) triples."""
    return pl.DataFrame(
        [
            {
                "external_id": f"or--obs--{observer}--{student}",
                "observer_user_external_id": f"or--{observer}",
                "student_user_external_id": f"or--{student}",
                "relationship": relationship,
                "status": "active",
            }
            for observer, student, relationship in pairs
        ],
        schema=dict.fromkeys(
            (
                "external_id",
                "observer_user_external_id",
                "student_user_external_id",
                "relationship",
                "status",
            ),
            pl.String,
        ),
    )


def observers_of(*rows: dict[str, str | None]) -> pl.DataFrame:
    return desired_observers(users(*rows)).collect().sort("external_id")


# domains


def test_orgs_become_domains_with_managed_external_ids_and_parents():
    orgs = frame(
        "orgs",
        {"sourcedId": "d1", "name": "District 1", "type": "district"},
        {"sourcedId": "s1", "name": "North High", "type": "school", "parentSourcedId": "d1"},
    )
    expected = pl.DataFrame(
        {
            "external_id": ["or--d1", "or--s1"],
            "name": ["District 1", "North High"],
            "kind": ["district", "school"],
            "parent_domain_external_id": [None, "or--d1"],
            "status": ["active", "active"],
        }
    )
    assert_frame_equal(desired_domains(orgs.lazy()).collect(), expected)


def test_a_domain_whose_parent_org_is_no_record_has_no_parent():
    """The SIS removed d1 (a delta's tobedeleted, or marked so in a bulk file): its schools'
    domains lose their parent, where they kept d1's domain, which `[policy] domains =
    "inactivate"` keeps, inactive; a warehouse that never held d1 had them without one."""
    orgs = frame(
        "orgs",
        {"sourcedId": "st", "name": "State", "type": "state"},
        {"sourcedId": "s1", "name": "North High", "type": "school", "parentSourcedId": "d1"},
        {"sourcedId": "s2", "name": "South High", "type": "school", "parentSourcedId": "st"},
    )
    parents = desired_domains(orgs.lazy()).collect()["parent_domain_external_id"]
    assert parents.to_list() == [None, None, "or--st"]


@pytest.mark.parametrize(
    ("status", "expected"), [(None, "active"), ("active", "active"), ("inactive", "inactive")]
)
def test_an_org_with_status_inactive_gives_an_inactive_domain(status, expected):
    orgs = frame("orgs", {"sourcedId": "s1", "name": "N", "type": "school", "status": status})
    assert desired_domains(orgs.lazy()).collect()["status"].to_list() == [expected]


# users

NO_GRADES = pl.LazyFrame(schema={"sourcedId": pl.String, "grade_level": pl.String})


def test_users_carry_their_names_role_and_email_under_managed_external_ids():
    row = user(
        "u1",
        "teacher",
        username="ada",
        givenName="Ada",
        familyName="Lovelace",
        email="ada@example.org",
    )
    expected = pl.DataFrame(
        {
            "external_id": ["or--u1"],
            "domain_external_id": ["or--s1"],
            "role": ["teacher"],
            "username": ["ada"],
            "given_name": ["Ada"],
            "family_name": ["Lovelace"],
            "email": ["ada@example.org"],
            "grade_level": pl.Series([None], dtype=pl.String),
            "login": ["u1"],
            "status": ["active"],
        }
    )
    assert_frame_equal(desired_users(users(row), NO_GRADES).collect(), expected)


@pytest.mark.parametrize(
    ("org_sourced_ids", "domain"),
    [("s1", "or--s1"), ("s2,s1", "or--s2"), ("s2, s1", "or--s2"), (" s3 ,s1", "or--s3")],
)
def test_a_user_is_in_the_domain_of_the_first_org(org_sourced_ids, domain):
    found = desired_users(users(user("u1", orgSourcedIds=org_sourced_ids)), NO_GRADES).collect()
    assert found["domain_external_id"].to_list() == [domain]


@pytest.mark.parametrize(
    ("enabled", "status", "expected"),
    [
        ("true", None, "active"),
        ("true", "active", "active"),
        (None, None, "active"),
        ("false", None, "inactive"),
        ("false", "active", "inactive"),
        ("true", "inactive", "inactive"),
        (None, "inactive", "inactive"),
    ],
)
def test_a_disabled_or_inactive_user_is_inactive(enabled, status, expected):
    found = desired_users(
        users(user("u1", enabledUser=enabled, status=status)), NO_GRADES
    ).collect()
    assert found["status"].to_list() == [expected]


def test_administrators_are_ordinary_users_with_their_oneroster_role():
    found = desired_users(users(user("a1", "administrator")), NO_GRADES).collect()
    assert found.select("external_id", "role").rows() == [("or--a1", "administrator")]


# enrollments


def enrollment(sid: str, user_: str, class_: str, **fields: str | None) -> dict[str, str | None]:
    row = {"sourcedId": sid, "userSourcedId": user_, "classSourcedId": class_, "role": "student"}
    return row | fields


CLASSES = frame("classes", {"sourcedId": "k1"}, {"sourcedId": "k2"}).lazy()
USERS = users(user("u1"), user("t1", "teacher"))


def section_enrollments(*rows: dict[str, str | None]) -> pl.DataFrame:
    found = desired_section_enrollments(frame("enrollments", *rows).lazy(), USERS, CLASSES)
    return found.collect().sort("external_id")


def test_enrollment_rows_become_enrollments_with_dates_and_primary_flag():
    found = section_enrollments(
        enrollment(
            "e1",
            "t1",
            "k1",
            role="teacher",
            primary="true",
            beginDate="2026-08-15",
            endDate="2027-06-15",
        ),
        enrollment("e2", "u1", "k2", status="inactive"),
    )
    expected = pl.DataFrame(
        {
            "external_id": ["or--e1", "or--e2"],
            "user_external_id": ["or--t1", "or--u1"],
            "course_external_id": ["or--k1", "or--k2"],
            "role": ["teacher", "student"],
            "is_primary": [True, False],
            "begin_date": [date(2026, 8, 15), None],
            "end_date": [date(2027, 6, 15), None],
            "status": ["active", "inactive"],
        }
    )
    assert_frame_equal(found, expected)


@pytest.mark.parametrize(
    ("primary", "is_primary"), [("true", True), ("false", False), (None, False)]
)
def test_primary_true_false_or_empty_gives_is_primary(primary, is_primary):
    found = section_enrollments(enrollment("e1", "t1", "k1", primary=primary))
    assert found["is_primary"].to_list() == [is_primary]


def test_an_enrollment_whose_user_or_class_does_not_exist_is_dropped():
    found = section_enrollments(
        enrollment("e1", "u1", "k1"),
        enrollment("e2", "nobody", "k1"),
        enrollment("e3", "u1", "no-class"),
        enrollment("e4", "nobody", "no-class"),
    )
    assert found["external_id"].to_list() == ["or--e1"]


# observer links


def test_a_parent_naming_a_student_gives_one_link_with_the_parents_role():
    found = observers_of(user("p1", "parent", agentSourcedIds="s1"), user("s1"))
    assert_frame_equal(found, links(("p1", "s1", "parent")))


def test_a_student_naming_a_guardian_gives_one_link_with_the_guardians_role():
    found = observers_of(user("s1", agentSourcedIds="g1"), user("g1", "guardian"))
    assert_frame_equal(found, links(("g1", "s1", "guardian")))


def test_a_parent_and_student_naming_each_other_give_exactly_one_link():
    found = observers_of(
        user("p1", "parent", agentSourcedIds="s1"),
        user("s1", agentSourcedIds="p1"),
    )
    assert_frame_equal(found, links(("p1", "s1", "parent")))


def test_one_link_per_observer_and_student_pair_across_both_sides():
    found = observers_of(
        user("r1", "relative", agentSourcedIds="s1, s2"),
        user("s1", agentSourcedIds="r1,p1"),
        user("s2"),
        user("p1", "parent", agentSourcedIds=" s2 "),
    )
    expected = links(
        ("p1", "s1", "parent"),
        ("p1", "s2", "parent"),
        ("r1", "s1", "relative"),
        ("r1", "s2", "relative"),
    )
    assert_frame_equal(found, expected)


@pytest.mark.parametrize(
    "people",
    [
        pytest.param([user("t1", "teacher", agentSourcedIds="s1"), user("s1")], id="teacher"),
        pytest.param([user("s1", agentSourcedIds="t1"), user("t1", "teacher")], id="to-teacher"),
        pytest.param([user("p1", "parent", agentSourcedIds="ghost")], id="unknown-student"),
        pytest.param([user("s1", agentSourcedIds="ghost")], id="unknown-agent"),
        pytest.param([user("p1", "parent", agentSourcedIds="p2"), user("p2", "parent")], id="pp"),
        pytest.param([user("s1", agentSourcedIds="s2"), user("s2")], id="student-student"),
        pytest.param([user("p1", "parent", agentSourcedIds=" , "), user("s1")], id="blank"),
    ],
)
def test_no_link_without_a_known_observer_and_student_pair(people):
    assert observers_of(*people).is_empty()


# the whole state


def test_resources_carry_the_vendors_fields_and_an_inactive_one_is_inactive():
    resources = frame(
        "resources",
        {"sourcedId": "r1", "vendorResourceId": "VR-1", "title": "Atlas", "roles": "student"},
        {"sourcedId": "r2", "vendorResourceId": "VR-2", "status": "inactive", "vendorId": "v"},
    )
    expected = pl.DataFrame(
        {
            "external_id": ["or--r1", "or--r2"],
            "vendor_resource_id": ["VR-1", "VR-2"],
            "title": ["Atlas", None],
            "roles": ["student", None],
            "importance": [None, None],
            "vendor_id": [None, "v"],
            "application_id": [None, None],
            "status": ["active", "inactive"],
        },
        schema=desired_schema(ENTITIES["resource"]),
    )
    assert_frame_equal(desired_resources(resources.lazy()).collect(), expected)


ASSIGNMENT = desired_schema(ENTITIES["class_resource"])


def test_a_class_assignment_is_on_the_section_while_its_class_and_resource_exist():
    class_resources = frame(
        "classResources",
        {"sourcedId": "a1", "title": "Unit 1", "classSourcedId": "k1", "resourceSourcedId": "r1"},
        {"sourcedId": "a2", "classSourcedId": "k9", "resourceSourcedId": "r1"},  # no class k9
        {"sourcedId": "a3", "classSourcedId": "k1", "resourceSourcedId": "r9"},  # no resource r9
    )
    classes = frame("classes", {"sourcedId": "k1"})
    resources = frame("resources", {"sourcedId": "r1"})
    expected = pl.DataFrame(
        [("or--a1", "or--r1", "or--k1", "Unit 1", "active")], schema=ASSIGNMENT, orient="row"
    )
    found = desired_class_resources(class_resources.lazy(), classes.lazy(), resources.lazy())
    assert_frame_equal(found.collect(), expected)


def test_a_course_assignment_is_on_the_org_base_course_of_its_title_at_its_org():
    course_resources = frame(
        "courseResources",
        {"sourcedId": "b1", "courseSourcedId": "c-dist", "resourceSourcedId": "r1"},
        {"sourcedId": "b2", "courseSourcedId": "c-school", "resourceSourcedId": "r1"},
        {"sourcedId": "b3", "courseSourcedId": "c-none", "resourceSourcedId": "r1"},
    )
    courses = frame(
        "courses",
        {"sourcedId": "c-dist", "title": "Algebra I", "orgSourcedId": "d1"},
        {"sourcedId": "c-school", "title": "Biology", "orgSourcedId": "s2"},
        {"sourcedId": "c-none", "title": "Latin", "orgSourcedId": "s1"},  # no Latin class
    )
    desired_courses = pl.Series(["or--obc--d1--Algebra I", "or--obc--s2--Biology", "or--k1"])
    expected = pl.DataFrame(
        [
            ("or--b1", "or--r1", "or--obc--d1--Algebra I", None, "active"),
            ("or--b2", "or--r1", "or--obc--s2--Biology", None, "active"),
        ],
        schema=ASSIGNMENT,
        orient="row",
    )
    found = desired_course_resources(
        course_resources.lazy(),
        courses.lazy(),
        frame("resources", {"sourcedId": "r1"}).lazy(),
        desired_courses,
    )
    assert_frame_equal(found.collect().sort("external_id"), expected)


def test_desired_state_gives_every_entity_in_its_desired_schema():
    source = {  # source-state records: run 1, rows in file order from line 2
        name: data.with_columns(
            pl.lit(1, pl.Int64).alias("run_id"),
            (pl.int_range(pl.len()) + 2).cast(pl.Int64).alias("line"),
        )
        for name, data in tiny_district().items()
    }
    state = desired_state(source, Hierarchy())
    assert list(state) == list(ENTITIES)
    for name, found in state.items():
        assert found.schema == pl.Schema(desired_schema(ENTITIES[name])), name
    assert state["domain"]["external_id"].sort().to_list() == [
        "or--d1",
        "or--s1",
        "or--s2",
        "or--st",
    ]
    assert state["user"].height == 5
    assert_frame_equal(state["observer"], links(("u-p1", "u-s1", "parent")))
    sections = state["enrollment"].filter(~pl.col("external_id").str.ends_with("--teacher"))
    assert sections["external_id"].sort().to_list() == [f"or--e{n}" for n in range(1, 7)]
