"""The synthetic district: deterministic, spec-shaped, self-consistent, and clean to the validator."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.spec import CEDS_GRADES, FILE_SPECS, OBSERVER_ROLES, SYNCED_FILES, Kind
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed

STUDENTS = 1_000
SEED = 3


@pytest.fixture(scope="module")
def feed() -> dict[str, pl.DataFrame]:
    return generate_feed(STUDENTS, seed=SEED)


def ids(frame: pl.DataFrame, **equal: str) -> list[str]:
    return frame.filter(**equal)["sourcedId"].to_list()


def exploded(frame: pl.DataFrame, column: str, alias: str = "item") -> pl.DataFrame:
    """One row per item of a comma-separated list column, beside the row's sourcedId."""
    return (
        frame.select("sourcedId", pl.col(column).str.split(",").alias(alias))
        .explode(alias)
        .drop_nulls(alias)
        .with_columns(pl.col(alias).str.strip_chars())
    )


# --- determinism ----------------------------------------------------------------------------


def test_same_inputs_give_identical_frames():
    first, second = generate_feed(700, seed=11), generate_feed(700, seed=11)
    assert first.keys() == second.keys()
    for name in first:
        assert_frame_equal(first[name], second[name])


def test_different_seeds_give_different_districts():
    first, second = generate_feed(700, seed=1), generate_feed(700, seed=2)
    assert not first["users"].equals(second["users"])
    assert not first["enrollments"].equals(second["enrollments"])
    # the names differ, not just the order
    assert set(first["users"]["givenName"] + first["users"]["familyName"]) != set(
        second["users"]["givenName"] + second["users"]["familyName"]
    )


# --- shape ----------------------------------------------------------------------------------


def test_files_and_columns_follow_the_spec(feed):
    assert set(feed) == set(SYNCED_FILES)
    for name, frame in feed.items():
        assert frame.columns == list(FILE_SPECS[name].header), name
        assert all(dtype == pl.String for dtype in frame.dtypes), name
        assert frame.height > 0, name


def test_empty_values_are_null_and_bulk_columns_blank(feed):
    for name, frame in feed.items():
        empty_strings = frame.select(pl.col(pl.String).eq("").any()).row(0)
        assert not any(empty_strings), name
        assert frame["status"].null_count() == frame.height, name
        assert frame["dateLastModified"].null_count() == frame.height, name


def test_sourced_ids_are_present_and_unique(feed):
    for name, frame in feed.items():
        assert frame["sourcedId"].null_count() == 0, name
        assert frame["sourcedId"].is_unique().all(), name


def test_required_values_and_value_rules(feed):
    for name, frame in feed.items():
        for column in FILE_SPECS[name].columns:
            values = frame[column.name]
            if column.required:
                assert values.null_count() == 0, (name, column.name)
            present = values.drop_nulls()
            if column.kind is Kind.ENUM:
                assert present.is_in(list(column.values)).all(), (name, column.name)
            elif column.kind is Kind.BOOL:
                assert present.is_in(["true", "false"]).all(), (name, column.name)
            elif column.kind is Kind.DATE:
                assert present.str.contains(r"^\d{4}-\d{2}-\d{2}$").all(), (name, column.name)
                present.str.to_date("%Y-%m-%d")  # raises on an impossible date
            elif column.kind is Kind.GRADES:
                grades = present.str.split(",").explode()
                assert grades.is_in(list(CEDS_GRADES)).all(), (name, column.name)
            elif column.kind is Kind.USER_IDS:
                pattern = r"^\{[^{}:]+:[^{}]+\}(,\{[^{}:]+:[^{}]+\})*$"
                assert present.str.contains(pattern).all(), (name, column.name)


# --- references -----------------------------------------------------------------------------

REFERENCES = [
    (name, column.name, column.target)
    for name in SYNCED_FILES
    for column in FILE_SPECS[name].of_kind(Kind.REF, Kind.REF_LIST)
]


@pytest.mark.parametrize(("name", "column", "target"), REFERENCES)
def test_every_reference_resolves(feed, name, column, target):
    refs = exploded(feed[name], column, "ref")
    unresolved = refs.join(
        feed[target].select(pl.col("sourcedId").alias("ref")), on="ref", how="anti"
    )
    assert unresolved.height == 0, unresolved.head()


def test_org_tree_is_state_districts_schools(feed):
    orgs = feed["orgs"]
    parent_type = orgs.join(
        orgs.select(pl.col("sourcedId").alias("parentSourcedId"), pl.col("type").alias("parent")),
        on="parentSourcedId",
        how="left",
    )
    assert orgs.filter(type="state").height == 1
    assert parent_type.filter(type="district")["parent"].eq("state").all()
    assert parent_type.filter(type="school")["parent"].eq("district").all()
    assert orgs.filter(type="school").height >= 2


def test_sessions_are_a_year_with_two_terms(feed):
    sessions = feed["academicSessions"]
    (year,) = ids(sessions, type="schoolYear")
    terms = sessions.filter(pl.col("type").is_in(["term", "semester"]))
    assert terms.height == 2
    assert terms["parentSourcedId"].eq(year).all()
    assert sessions["schoolYear"].eq("2027").all()
    assert (sessions["startDate"] < sessions["endDate"]).all()


def test_courses_and_classes_belong_to_schools(feed):
    schools = ids(feed["orgs"], type="school")
    courses, classes = feed["courses"], feed["classes"]
    assert courses["orgSourcedId"].is_in(schools).all()
    assert classes["schoolSourcedId"].is_in(schools).all()
    # a class is at its course's school
    mismatched = classes.join(
        courses.select(pl.col("sourcedId").alias("courseSourcedId"), "orgSourcedId"),
        on="courseSourcedId",
    ).filter(pl.col("schoolSourcedId") != pl.col("orgSourcedId"))
    assert mismatched.height == 0
    # every enrollment is at its class's school
    misplaced = (
        feed["enrollments"]
        .join(
            classes.select(
                pl.col("sourcedId").alias("classSourcedId"), pl.col("schoolSourcedId").alias("at")
            ),
            on="classSourcedId",
        )
        .filter(pl.col("schoolSourcedId") != pl.col("at"))
    )
    assert misplaced.height == 0


# --- classes and teaching -------------------------------------------------------------------


def test_each_class_has_exactly_one_primary_teacher(feed):
    primaries = (
        feed["enrollments"].filter(role="teacher", primary="true").group_by("classSourcedId").len()
    )
    assert primaries.height == feed["classes"].height
    assert primaries["len"].eq(1).all()


def test_some_classes_are_co_taught_multi_term_or_homerooms(feed):
    classes, enrollments = feed["classes"], feed["enrollments"]
    teachers_per_class = enrollments.filter(role="teacher").group_by("classSourcedId").len()
    co_taught = teachers_per_class.filter(pl.col("len") == 2).height
    assert 0 < co_taught < classes.height / 4
    assert teachers_per_class["len"].max() == 2
    assert enrollments.filter(role="teacher", primary="false").height == co_taught

    multi_term = classes.filter(pl.col("termSourcedIds").str.contains(",")).height
    assert 0 < multi_term < classes.height / 2
    assert 0 < classes.filter(classType="homeroom").height < classes.height / 4


def test_teachers_teach_several_classes_with_distinct_titles_at_their_school(feed):
    teaching = (
        feed["enrollments"]
        .filter(role="teacher")
        .join(
            feed["classes"].select(pl.col("sourcedId").alias("classSourcedId"), "title"),
            on="classSourcedId",
        )
    )
    assert not teaching.select(pl.struct("userSourcedId", "title").is_duplicated().any()).item()
    # the class's school is one of the teacher's schools, and a teacher teaches at one school
    teacher_schools = exploded(feed["users"], "orgSourcedIds", "schoolSourcedId").rename(
        {"sourcedId": "userSourcedId"}
    )
    elsewhere = teaching.join(teacher_schools, on=["userSourcedId", "schoolSourcedId"], how="anti")
    assert elsewhere.height == 0
    schools_taught = teaching.group_by("userSourcedId").agg(pl.col("schoolSourcedId").n_unique())
    assert schools_taught["schoolSourcedId"].eq(1).all()
    loads = teaching.group_by("userSourcedId").len()["len"]
    assert 3 <= loads.mean() <= 8
    assert loads.min() >= 2


# --- users ----------------------------------------------------------------------------------


def test_user_counts_scale_with_students(feed):
    roles = dict(feed["users"].group_by("role").len().iter_rows())
    assert roles["student"] == STUDENTS
    assert STUDENTS / 30 <= roles["teacher"] <= STUDENTS / 12
    adults = sum(roles.get(r, 0) for r in OBSERVER_ROLES)
    assert STUDENTS * 0.8 <= adults <= STUDENTS * 2
    assert roles["parent"] > roles["guardian"] > 0
    assert 1 <= roles["administrator"] <= 10
    assert set(roles) <= {"student", "teacher", "administrator", *OBSERVER_ROLES}


def test_students_have_a_grade_and_most_users_an_email(feed):
    users = feed["users"]
    students = users.filter(role="student")
    assert students["grades"].null_count() == 0
    assert students["grades"].str.contains(",").sum() == 0
    assert users.filter(role="teacher")["email"].null_count() == 0
    assert users["email"].null_count() < users.height / 10
    assert users["userIds"].str.contains(r"\{LDAP:\d+\}").sum() > STUDENTS
    assert 0 < users.filter(enabledUser="false").height < users.height / 20


def test_a_few_students_and_teachers_list_two_schools(feed):
    users = feed["users"].with_columns(two=pl.col("orgSourcedIds").str.contains(","))
    for role in ("student", "teacher"):
        of_role = users.filter(role=role)
        assert 0 < of_role["two"].sum() < of_role.height / 10, role
    students_two = users.filter(role="student", two=True)
    assert (
        students_two["orgSourcedIds"].str.split(",").list.eval(pl.element().n_unique()).list.first()
        == 2
    ).all()


def test_agent_links_are_symmetric(feed):
    users = feed["users"]
    links = exploded(users.filter(pl.col("agentSourcedIds").is_not_null()), "agentSourcedIds")
    pairs = set(links.iter_rows())
    assert pairs, "no agent links at all"
    assert {(b, a) for a, b in pairs} == pairs

    role = dict(users.select("sourcedId", "role").iter_rows())
    assert all({role[a], role[b]} & {"student"} for a, b in pairs)
    assert all(role[a] in OBSERVER_ROLES for a, b in pairs if role[b] == "student")
    agents_per_student = links.filter(pl.col("sourcedId").is_in(ids(users, role="student")))
    counts = agents_per_student.group_by("sourcedId").len()["len"]
    assert counts.len() == STUDENTS
    assert counts.min() >= 1
    assert counts.max() <= 2
    assert 1.2 <= counts.mean() <= 1.8
    # siblings share adults: some adult lists more than one student
    assert (
        links.filter(pl.col("sourcedId").is_in(ids(users, role="parent")))["sourcedId"]
        .is_duplicated()
        .any()
    )


# --- enrollments ----------------------------------------------------------------------------


def test_students_take_about_six_classes_at_their_school(feed):
    enrollments = feed["enrollments"].filter(role="student")
    assert enrollments["primary"].eq("false").all()
    per_student = enrollments.group_by("userSourcedId").len()["len"]
    assert per_student.len() == STUDENTS
    assert 4 <= per_student.mean() <= 8
    assert per_student.min() >= 3
    # a student's classes are at their own (first) school
    home = feed["users"].select(
        pl.col("sourcedId").alias("userSourcedId"),
        pl.col("orgSourcedIds").str.split(",").list.first().alias("home"),
    )
    away = enrollments.join(home, on="userSourcedId").filter(
        pl.col("schoolSourcedId") != pl.col("home")
    )
    assert away.height == 0
    assert not enrollments.select(
        pl.struct("userSourcedId", "classSourcedId").is_duplicated().any()
    ).item()


def test_class_sizes_are_plausible(feed):
    sizes = feed["enrollments"].filter(role="student").group_by("classSourcedId").len()["len"]
    assert sizes.len() == feed["classes"].height  # no empty sections
    assert sizes.max() <= 30
    assert 15 <= sizes.mean() <= 30


@pytest.mark.parametrize("students", [1, 2, 37, 600, 2_500])
def test_any_size_is_consistent(students):
    frames = generate_feed(students, seed=students)
    users = frames["users"]
    assert users.filter(role="student").height == students
    assert frames["orgs"].filter(type="school").height >= 2
    for name, frame in frames.items():
        assert frame["sourcedId"].is_unique().all(), name
    for name, column, target in REFERENCES:
        refs = exploded(frames[name], column, "ref")
        assert (
            refs.join(frames[target], left_on="ref", right_on="sourcedId", how="anti").height == 0
        )
    taught = frames["enrollments"].filter(role="student")["userSourcedId"].n_unique()
    assert taught == students


def test_district_and_school_counts_grow_with_students():
    orgs = generate_feed(45_000, seed=0)["orgs"]
    types = dict(orgs.group_by("type").len().iter_rows())
    assert types["state"] == 1
    assert types["district"] == 2
    assert 60 <= types["school"] <= 90


def test_a_district_needs_students():
    with pytest.raises(ValueError, match="at least one student"):
        generate_feed(0)


# --- round trip -----------------------------------------------------------------------------


def test_written_feed_reads_back_and_validates_clean(tmp_path, feed):
    path = write_feed(
        tmp_path / "d.zip",
        feed,
        properties={"source.systemCode": "synthetic", "source.systemName": "rosterflow generator"},
    )
    opened = open_feed(path)
    assert opened.issues.filter(severity="error").height == 0, opened.issues
    assert opened.system_code == "synthetic"
    for name, frame in feed.items():
        assert opened.modes[name] == "bulk"
        assert_frame_equal(opened.rows(name).drop("__line"), frame)
    result = validate_feed(opened)
    assert result.issues.filter(severity="error").height == 0, result.issues
    assert result.issues.filter(severity="warning").height == 0, result.issues


@pytest.mark.slow
def test_state_scale_district_keeps_its_shape():
    # generation time is measured by bench/, not asserted here
    frames = generate_feed(200_000)
    assert frames["users"].filter(role="student").height == 200_000
    per_student = frames["enrollments"].filter(role="student").height / 200_000
    assert 5.5 < per_student < 6.5
