"""The desired lms state, computed from the SIS's records (the source state).

Every managed row gets `external_id = 'or--' || sourcedId`; observer links and base courses
follow the schemes in docs/explanation/sync.md and docs/explanation/course-hierarchy.md. Each
function is pure: frames in, frame out.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from rosterflow.schemas.changes import PlanError
from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.identity import login
from rosterflow.schemas.issues import ISSUE_SCHEMA, issues_from
from rosterflow.schemas.lms import ENTITIES, desired_schema
from rosterflow.schemas.records import empty_source
from rosterflow.schemas.references import stated
from rosterflow.schemas.settings import Hierarchy
from rosterflow.schemas.spec import OBSERVER_ROLES
from rosterflow.transforms.grades import grade_levels
from rosterflow.transforms.hierarchy import (
    MANAGED,
    base_course_enrollments,
    course_hierarchy,
    org_base_external_id,
)


def managed_id(column: str) -> pl.Expr:
    return pl.lit(MANAGED) + pl.col(column)


def _status(inactive: pl.Expr) -> pl.Expr:
    return pl.when(inactive).then(pl.lit("inactive")).otherwise(pl.lit("active"))


def _first_item(column: str) -> pl.Expr:
    return pl.col(column).str.split(",").list.first().str.strip_chars()


def desired_domains(orgs: pl.LazyFrame) -> pl.LazyFrame:
    """A domain per org, under its parent org's domain while that org is a record: a parent
    the SIS removed (its record gone, its domain perhaps kept, inactive, by `[policy]
    domains`) is none, as the course hierarchy's chain stops there too, and as a warehouse
    that never held the parent has it."""
    parent_known = pl.col("parentSourcedId").is_in(pl.col("sourcedId").implode())
    return orgs.select(
        managed_id("sourcedId").alias("external_id"),
        pl.col("name"),
        pl.col("type").alias("kind"),
        pl.when(parent_known)
        .then(managed_id("parentSourcedId"))
        .alias("parent_domain_external_id"),
        _status(pl.col("status") == "inactive").fill_null("active").alias("status"),
    )


def desired_users(
    users: pl.LazyFrame, grades: pl.LazyFrame, identity_key: str = "sourcedId"
) -> pl.LazyFrame:
    """Users in the domain of their first org; `enabledUser=false` makes an inactive user;
    students with their grade level (`transforms.grades`: `sourcedId, grade_level`); each
    user's login the field `[identity] key` names (`schemas.identity`).

    Administrators are ordinary users: the sync never grants platform administration.
    """
    return users.join(grades, on="sourcedId", how="left").select(
        managed_id("sourcedId").alias("external_id"),
        (pl.lit(MANAGED) + _first_item("orgSourcedIds")).alias("domain_external_id"),
        pl.col("role"),
        pl.col("username"),
        pl.col("givenName").alias("given_name"),
        pl.col("familyName").alias("family_name"),
        pl.col("email"),
        pl.col("grade_level"),
        login(identity_key),
        _status((pl.col("enabledUser") == "false") | (pl.col("status") == "inactive"))
        .fill_null("active")
        .alias("status"),
    )


def desired_section_enrollments(
    enrollments: pl.LazyFrame, users: pl.LazyFrame, classes: pl.LazyFrame
) -> pl.LazyFrame:
    """One enrollment per enrollment row whose user and class exist."""
    return (
        enrollments.join(
            users.select(pl.col("sourcedId").alias("userSourcedId")), on="userSourcedId", how="semi"
        )
        .join(
            classes.select(pl.col("sourcedId").alias("classSourcedId")),
            on="classSourcedId",
            how="semi",
        )
        .select(
            managed_id("sourcedId").alias("external_id"),
            managed_id("userSourcedId").alias("user_external_id"),
            managed_id("classSourcedId").alias("course_external_id"),
            pl.col("role"),
            (pl.col("primary") == "true").fill_null(False).alias("is_primary"),
            pl.col("beginDate").str.to_date("%Y-%m-%d", strict=False).alias("begin_date"),
            pl.col("endDate").str.to_date("%Y-%m-%d", strict=False).alias("end_date"),
            _status(pl.col("status") == "inactive").fill_null("active").alias("status"),
        )
    )


def _agents(users: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (user, sourcedId named in their agentSourcedIds)."""
    return (
        users.select("sourcedId", "role", pl.col("agentSourcedIds").str.split(",").alias("agent"))
        .explode("agent")
        .with_columns(pl.col("agent").str.strip_chars())
        .filter(pl.col("agent").is_not_null() & (pl.col("agent") != ""))
    )


def desired_observers(users: pl.LazyFrame, touching: pl.Series | None = None) -> pl.LazyFrame:
    """One link per (parent/guardian/relative, student) pair named on either side.

    external_id: `or--obs--<observer sourcedId>--<student sourcedId>`. With `touching` (user
    sourcedIds), only the links whose observer or student is one of them: a link depends on
    the records of its two users alone.
    """
    people = users.select("sourcedId", "role")
    naming = users
    if touching is not None:
        touched = touching.implode()
        # the touched users' own lists, and the lists that name a touched user: each list
        # split in place and its names looked up (no substring pass, which matches every
        # sourcedId that has a touched one as a prefix, and no explode of every list)
        names_touched = (
            pl.col("agentSourcedIds")
            .str.split(",")
            .list.eval(pl.element().str.strip_chars().is_in(touched))
            .list.any()
            .fill_null(False)
            if touching.len()
            else pl.lit(False)  # no user touched: no list to look through
        )
        naming = users.filter(pl.col("sourcedId").is_in(touched) | names_touched)
    named = _agents(naming).join(
        people.rename({"sourcedId": "agent", "role": "agent_role"}), on="agent", how="inner"
    )
    observer_names_student = named.filter(
        pl.col("role").is_in(OBSERVER_ROLES) & (pl.col("agent_role") == "student")
    ).select(
        pl.col("sourcedId").alias("observer"),
        pl.col("agent").alias("student"),
        pl.col("role").alias("relationship"),
    )
    student_names_observer = named.filter(
        (pl.col("role") == "student") & pl.col("agent_role").is_in(OBSERVER_ROLES)
    ).select(
        pl.col("agent").alias("observer"),
        pl.col("sourcedId").alias("student"),
        pl.col("agent_role").alias("relationship"),
    )
    links = pl.concat([observer_names_student, student_names_observer]).unique(
        ["observer", "student"]
    )
    if touching is not None:
        links = links.filter(
            pl.col("observer").is_in(touching.implode())
            | pl.col("student").is_in(touching.implode())
        )
    return links.select(
        pl.format("or--obs--{}--{}", "observer", "student").alias("external_id"),
        managed_id("observer").alias("observer_user_external_id"),
        managed_id("student").alias("student_user_external_id"),
        pl.col("relationship"),
        pl.lit("active").alias("status"),
    )


def refuse_shared_observer_ids(users: pl.DataFrame, links: pl.DataFrame) -> None:
    """Refuse observer links two of which have one external ID: its parts are joined by '--',
    so the link of parent `p--x` to student `y` and that of parent `p` to student `x--y` are
    both `or--obs--p--x--y`. Written, they would be two managed rows of one external ID, which
    every later run refuses (`transforms.plan`): the run is refused before, naming them.
    `links` are the links a run plans (`desired_observers` of `users`, or of the users it
    touched). Of two links that share an external ID, each has a user whose sourcedId holds
    '--' or starts or ends with '-': only then are all the links derived and compared."""
    parties = pl.concat(
        [links["observer_user_external_id"], links["student_user_external_id"]]
    ).str.strip_prefix(MANAGED)
    if not (
        parties.str.contains("--", literal=True)
        | parties.str.starts_with("-")
        | parties.str.ends_with("-")
    ).any():
        return
    shared = (
        desired_observers(users.lazy())
        .filter(pl.col("external_id").is_duplicated())
        .sort("external_id", "observer_user_external_id")
        .collect()
    )
    if shared.height == 0:
        return
    external_id = shared["external_id"][0]
    pairs = shared.filter(pl.col("external_id") == external_id).select(
        pl.format(
            "the link of {} {} to student {}",
            "relationship",
            pl.col("observer_user_external_id").str.strip_prefix(MANAGED),
            pl.col("student_user_external_id").str.strip_prefix(MANAGED),
        )
    )
    more = shared["external_id"].n_unique() - 1
    others = f" (and {more:,} more such external ID{'s' if more > 1 else ''})" if more else ""
    raise PlanError(
        f"users.csv: {' and '.join(pairs.to_series())} have one external ID, {external_id!r}"
        f"{others}: a sourcedId holding '--' reads as two parts of it. Change one of those "
        "sourcedIds in the SIS, then sync again"
    )


def desired_resources(resources: pl.LazyFrame) -> pl.LazyFrame:
    return resources.select(
        managed_id("sourcedId").alias("external_id"),
        pl.col("vendorResourceId").alias("vendor_resource_id"),
        pl.col("title"),
        pl.col("roles"),
        pl.col("importance"),
        pl.col("vendorId").alias("vendor_id"),
        pl.col("applicationId").alias("application_id"),
        _status(pl.col("status") == "inactive").fill_null("active").alias("status"),
    )


def _assignment(rows: pl.LazyFrame, course_external_id: pl.Expr) -> pl.LazyFrame:
    return rows.select(
        managed_id("sourcedId").alias("external_id"),
        managed_id("resourceSourcedId").alias("resource_external_id"),
        course_external_id.alias("course_external_id"),
        pl.col("title"),
        _status(pl.col("status") == "inactive").fill_null("active").alias("status"),
    )


def _with_resource(rows: pl.LazyFrame, resources: pl.LazyFrame) -> pl.LazyFrame:
    return rows.join(
        resources.select(pl.col("sourcedId").alias("resourceSourcedId")),
        on="resourceSourcedId",
        how="semi",
    )


def desired_class_resources(
    class_resources: pl.LazyFrame, classes: pl.LazyFrame, resources: pl.LazyFrame
) -> pl.LazyFrame:
    """One assignment per classResources row whose class and resource exist, on the class's
    section."""
    assigned = _with_resource(class_resources, resources).join(
        classes.select(pl.col("sourcedId").alias("classSourcedId")),
        on="classSourcedId",
        how="semi",
    )
    return _assignment(assigned, managed_id("classSourcedId"))


def _on_base_courses(
    course_resources: pl.LazyFrame,
    courses: pl.LazyFrame,
    resources: pl.LazyFrame,
    *kept: pl.Expr,
) -> pl.LazyFrame:
    """The courseResources rows whose resource and course exist, with `base_course`: the
    external ID of the org base course of the course's title at the course's org (and `kept`,
    of the course's columns)."""
    return _with_resource(course_resources, resources).join(
        courses.select(
            pl.col("sourcedId").alias("courseSourcedId"),
            org_base_external_id("orgSourcedId", "title").alias("base_course"),
            *kept,
        ),
        on="courseSourcedId",
        how="inner",
    )


def desired_course_resources(
    course_resources: pl.LazyFrame,
    courses: pl.LazyFrame,
    resources: pl.LazyFrame,
    desired_course_ids: pl.Series,
) -> pl.LazyFrame:
    """One assignment per courseResources row whose resource exists, on the org base course of
    the course's title at the course's org, where that base course is desired
    (`desired_course_ids`: the external IDs of the desired courses). A course without one (no
    class of that title under its org, or `org_base_courses = false`) gets no assignment
    (`unplaced_course_assignment_issues` warns of it)."""
    assigned = _on_base_courses(course_resources, courses, resources).filter(
        pl.col("base_course").is_in(desired_course_ids.implode())
    )
    return _assignment(assigned, pl.col("base_course"))


def unplaced_course_assignment_issues(
    sent: pl.DataFrame | None,
    records: Mapping[str, pl.DataFrame],
    desired_course_ids: pl.Series,
    hierarchy: Hierarchy,
) -> pl.DataFrame:
    """A warning on each course assignment a run's courseResources.csv states (`sent`: its
    validated rows, with their lines) that `desired_course_resources` does not make although
    its course and resource are records (`records`: the SIS's records after the feed): its
    course has no org base course among the desired courses (`desired_course_ids`), because
    `[hierarchy] org_base_courses = false`, the course's org is no org of the SIS, or no class
    of that course title is at a school under that org. An assignment naming a course or
    resource found nowhere is the reference check's. Only a run sending courseResources.csv
    rows looks: the others pay nothing."""
    if sent is None or sent.height == 0:
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    assigned = _on_base_courses(
        sent.lazy().filter(stated()),
        records["courses"].lazy(),
        records_of(records, "resources").lazy(),
        pl.col("orgSourcedId").alias("course_org"),
        pl.col("title").alias("course_title"),  # (an assignment has a title of its own)
    ).filter(pl.col("base_course").is_not_null())  # (a course without org or title is rejected)
    # the desired courses (every section and base course) probe the few base courses named,
    # rather than each assignment probing a set built of them all
    placed = (
        desired_course_ids.to_frame("base_course")
        .lazy()
        .join(assigned.select("base_course").unique(), on="base_course", how="semi")
    )
    unplaced = assigned.join(placed, on="base_course", how="anti")
    org, title = pl.col("course_org"), pl.col("course_title")
    why = (
        pl.when(pl.lit(not hierarchy.org_base_courses))
        .then(
            pl.lit(
                "[hierarchy] org_base_courses = false makes none; assign the content to the "
                "course's classes with classResources.csv"
            )
        )
        .when(~org.is_in(records["orgs"]["sourcedId"].implode()))
        .then(
            pl.format(
                "its org {} is no org of the SIS (not in orgs.csv nor stored); it is made once "
                "that org is sent, with a class of a course titled '{}' at a school under it",
                org,
                title,
            )
        )
        .otherwise(
            pl.format(
                "no class of a course titled '{}' is at a school under its org {}; it is made "
                "once one is, or assign the content to the course's classes with "
                "classResources.csv",
                title,
                org,
            )
        )
    )
    # (in line order: the join gives its rows in no set order, and a run planned in full and
    # one planned incrementally must give the same issues)
    return issues_from(
        unplaced.sort(LINE),
        file="courseResources.csv",
        field="courseSourcedId",
        value=pl.col("courseSourcedId"),
        rule="course_resource.no_org_base",
        severity="warning",
        message=pl.format(
            "not made: a course assignment is made on the org base course of its course's "
            "title at its course's org, and course {} has none: {}",
            pl.col("courseSourcedId"),
            why,
        ),
    ).collect()


def records_of(source: Mapping[str, pl.DataFrame], name: str) -> pl.DataFrame:
    """The records of one file; none for a file the source lacks (a tenant without content)."""
    return source[name] if name in source else empty_source(name)


def source_grade_levels(source: Mapping[str, pl.DataFrame]) -> pl.LazyFrame:
    """Every student's grade level, from the tenant's records."""
    return grade_levels(
        *(source[name].lazy() for name in ("users", "enrollments", "classes", "courses"))
    )


def desired_frame(name: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    """`frame` with exactly the columns and types of a desired frame of entity `name`."""
    schema = desired_schema(ENTITIES[name])
    return frame.select(list(schema)).cast(schema)


def desired_state(
    source: Mapping[str, pl.DataFrame],
    hierarchy: Hierarchy,
    courses: pl.DataFrame | None = None,
    grades: pl.DataFrame | None = None,
    identity_key: str = "sourcedId",
) -> dict[str, pl.DataFrame]:
    """Everything the lms should hold for a tenant, from its source state: entity name ->
    desired frame (columns: schemas.lms.desired_schema). `courses` is the course
    hierarchy of that state and `grades` its students' grade levels, if already derived;
    `identity_key` the users.csv field users sign in with."""
    orgs, users, classes = (source[n].lazy() for n in ("orgs", "users", "classes"))
    if courses is None:
        courses = course_hierarchy(
            source["orgs"],
            source["courses"],
            source["classes"],
            source["users"],
            source["enrollments"],
            hierarchy,
        )
    resources = records_of(source, "resources").lazy()
    enrollments = pl.concat(
        [
            desired_section_enrollments(source["enrollments"].lazy(), users, classes),
            base_course_enrollments(courses.lazy()),
        ]
    )
    frames = {
        "domain": desired_domains(orgs),
        "user": desired_users(
            users,
            source_grade_levels(source) if grades is None else grades.lazy(),
            identity_key,
        ),
        "course": courses.lazy().drop("teacher_id"),
        "enrollment": enrollments,
        "observer": desired_observers(users),
        "resource": desired_resources(resources),
        "class_resource": desired_class_resources(
            records_of(source, "classResources").lazy(), classes, resources
        ),
        "course_resource": desired_course_resources(
            records_of(source, "courseResources").lazy(),
            source["courses"].lazy(),
            resources,
            courses["external_id"],
        ),
    }
    collected = dict(
        zip(
            frames,
            pl.collect_all([desired_frame(name, frame) for name, frame in frames.items()]),
            strict=True,
        )
    )
    refuse_shared_observer_ids(source["users"], collected["observer"])
    return collected
