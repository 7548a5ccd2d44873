"""The incremental plan: only the records that changed since the last run, and what depends on
them, planned with the same `plan_entity` as the full plan.

The full plan derives the tenant's whole desired state and joins it against every lms row. When
lms is exactly as the last run left it (its checksum), it holds that run's desired state, so
only the external IDs whose desired row or whose resolved references may differ can change.
Per entity, in dependency order, this module finds those keys, derives their desired rows,
reads their current rows, and plans them:

| entity | a desired row depends on | keys planned |
|---|---|---|
| domain | its org | all (a district has a few hundred) |
| user | its user record; the id of its first org's domain; a student's grade level (the grades of their classes and those classes' courses) | changed users; users whose domain was created or deleted now; students whose grade level differs from the last run's (derived again for the students of changed users and enrollments, the enrollment's student as stored included; for every student when a class or course changed) |
| course | the course hierarchy of the classes, courses, orgs and teacher enrollments | while no org, course or class record changed, the part of the hierarchy the changed teacher enrollments can change (`_course_region`: the sections of the classes whose primary teacher may change, and their teachers' base courses), else the hierarchy whole; or none when none of its inputs changed (`_hierarchy_kept`); each course compared by hash with the last run's: those that differ; courses whose domain was created or deleted now |
| enrollment | its record and whether its user and class exist; a base course's teacher | changed enrollments; enrollments of users or classes that appeared or went; teacher enrollments of courses that changed; rows pointing at a user or course deleted now |
| observer | the records of its two users | links with a changed user on either side, desired or in lms |
| resource | its record | changed resources |
| class resource | its record; whether its class and resource exist; their ids | changed assignments; those of classes or resources that appeared or went, or whose section or resource is created or deleted now; rows pointing at a course or resource deleted now |
| course resource | its record; its course's title and org; whether that org base course is desired; the ids | changed assignments; those of changed courses and of org base courses that changed; resources as for class resources |

It reads the lms rows it needs as it learns which: it yields each read (`schemas.reads`) and is
sent the rows that answer it. References resolve to the ids of the rows planned, else to the
ids lms holds (`IdsOf`); new rows take the same ids as in a full plan (the set of new external
IDs is the same), and the safety guard counts the tenant's active rows in lms. That this plan
equals the full one row for row is checked by `tests/transforms/test_incremental.py`, calling
it directly on a small literal district with one scenario per row of the table above (and
random changes to it), and by `tests/flows/test_pipeline_incremental.py`, through the pipeline
on generated districts under random changes and settings, comparing everything the two runs
leave in the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import polars as pl

from rosterflow.schemas.changes import Plan
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.reads import IdsOf, ManagedActive, PointingAt, Reads, RowsOf
from rosterflow.schemas.records import ROW_HASH, RecordChanges
from rosterflow.schemas.settings import Hierarchy, Identity, Policy
from rosterflow.transforms.adoption import (
    Adoption,
    adoptions,
    as_adopted,
    new_users,
    with_adoption_detail,
)
from rosterflow.transforms.desired import (
    MANAGED,
    desired_class_resources,
    desired_course_resources,
    desired_domains,
    desired_frame,
    desired_observers,
    desired_resources,
    desired_section_enrollments,
    desired_users,
    records_of,
    refuse_shared_observer_ids,
    source_grade_levels,
)
from rosterflow.transforms.grades import grade_levels
from rosterflow.transforms.hierarchy import (
    DESIRED_COURSE_COLUMNS,
    base_course_enrollments,
    class_sections,
    course_hierarchy,
    courses_of_sections,
    org_base_external_id,
    refuse_enrollments_sharing_teacher_ids,
    session_base_external_id,
    teacher_base_external_id,
)
from rosterflow.transforms.plan import deleted_ids, plan_entity, references_outside

GRADES_DEPEND_ON = ("users", "enrollments", "classes", "courses")
# the desired courses of a plan that derives none
_NO_COURSES = pl.DataFrame(schema=dict.fromkeys(DESIRED_COURSE_COLUMNS, pl.String))
_NO_KEYS = pl.Series("external_id", [], pl.String)


def desired_course_hashes(courses: pl.DataFrame) -> pl.DataFrame:
    """`external_id, row_hash` of each desired course (teacher included): what the next run
    compares its own hierarchy with."""
    rows = courses.select(DESIRED_COURSE_COLUMNS)
    return pl.DataFrame(
        {"external_id": rows["external_id"], ROW_HASH: rows.hash_rows(seed=0x0C0_5E5)}
    )


def desired_courses(records: Mapping[str, pl.DataFrame], hierarchy: Hierarchy) -> pl.DataFrame:
    return course_hierarchy(
        records["orgs"],
        records["courses"],
        records["classes"],
        records["users"],
        records["enrollments"],
        hierarchy,
    )


@dataclass
class IncrementalPlan:
    plan: Plan
    course_hashes: pl.DataFrame  # of this run's desired courses, for the next run
    grades: pl.DataFrame  # this run's students' grade levels, for the next run
    keys: dict[str, int]  # entity -> how many external IDs were planned
    adoption: Adoption = field(default_factory=Adoption)  # accounts new users take over


def _regraded(previous: pl.DataFrame, current: pl.DataFrame) -> pl.Series:
    """sourcedIds of the students whose grade level differs, or who are on one side only."""
    return (
        current.join(previous, on="sourcedId", how="full", coalesce=True, suffix="_before")
        .filter(pl.col("grade_level").ne_missing(pl.col("grade_level_before")))
        .get_column("sourcedId")
    )


def _grade_levels(
    records: Mapping[str, pl.DataFrame],
    changes: Mapping[str, RecordChanges],
    previous_grades: pl.DataFrame,
    previous_enrollments: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.Series]:
    """This run's grade levels and the sourcedIds of the students whose level differs from the
    last run's (or who are on one side only).

    A student's level is derived from their users record, their student enrollments and those
    enrollments' classes and courses. While no class or course changed, only the students of
    a changed user record or of a changed enrollment (its student now or as stored) can have
    another level: theirs are derived again, everyone else keeps the last run's."""
    if not any(changes[name].count for name in GRADES_DEPEND_ON):
        # none of the records a grade level is derived from changed (rows reordered, say)
        return previous_grades, pl.Series("sourcedId", [], pl.String)
    if changes["classes"].count or changes["courses"].count:
        grades = source_grade_levels(records).collect()
        return grades, _regraded(previous_grades, grades)
    enrollment_keys = changes["enrollments"].keys.implode()
    students = (
        pl.concat(
            [
                changes["users"].keys,
                records["enrollments"].filter(pl.col("sourcedId").is_in(enrollment_keys))[
                    "userSourcedId"
                ],
                previous_enrollments.filter(pl.col("sourcedId").is_in(enrollment_keys))[
                    "userSourcedId"
                ],
            ]
        )
        .drop_nulls()
        .unique()
        .implode()
    )
    rederived = grade_levels(
        records["users"].lazy().filter(pl.col("sourcedId").is_in(students)),
        records["enrollments"].lazy().filter(pl.col("userSourcedId").is_in(students)),
        records["classes"].lazy(),
        records["courses"].lazy(),
    ).collect()
    kept = previous_grades.filter(~pl.col("sourcedId").is_in(students))
    before = previous_grades.filter(pl.col("sourcedId").is_in(students))
    return pl.concat([kept, rederived]), _regraded(before, rederived)


def _changed_keys(previous: pl.DataFrame, current: pl.DataFrame) -> pl.Series:
    """External IDs whose hash differs, or that are on one side only."""
    return pl.concat(
        [
            current.filter(~pl.col(ROW_HASH).is_in(previous[ROW_HASH].implode()))["external_id"],
            previous.filter(~pl.col(ROW_HASH).is_in(current[ROW_HASH].implode()))["external_id"],
        ]
    ).unique()


def _churned(plan: Plan, entity: str) -> pl.Series:
    """External IDs whose id changes this run: rows created or deleted (what refers to them by
    external ID resolves differently now)."""
    return (
        plan.entities[entity]
        .changes.filter(pl.col("action").is_in(["create", "delete"]))
        .get_column("external_id")
    )


def managed(sourced_ids: pl.Series) -> pl.Series:
    return (MANAGED + sourced_ids).alias("external_id")


def plan_incremental(
    tenant: str,
    records: Mapping[str, pl.DataFrame],
    changes: Mapping[str, RecordChanges],
    previous_courses: pl.DataFrame,
    previous_grades: pl.DataFrame,
    hierarchy: Hierarchy,
    next_ids: Mapping[str, int],
    policy: Policy,
    identity_key: str,
    previous_enrollments: pl.DataFrame,
    *,
    identity: Identity | None = None,
    previous_teacher_order: pl.DataFrame | None = None,
    sent: pl.LazyFrame | None = None,
    marked: Mapping[str, pl.Series] | None = None,
) -> Reads[IncrementalPlan]:
    """The change set of the records that changed (`changes`, per file, against the records
    the last run stored), given the tenant's records after this feed (`records`, per file),
    the hashes of the last run's desired courses and its students' grade levels, and
    `sourcedId, userSourcedId` of the enrollments the last run stored. With `identity`, new
    users adopt accounts made by hand as its `adopt_by` says (`transforms.adoption`), its
    issues on the lines of the user records the run received (`sent`:
    `transforms.adoption.sent_lines`). With the last run's
    `previous_teacher_order` (`source_state.teacher_order`: where each of its teacher
    enrollments stood, with its class and teacher), a hierarchy none of whose inputs changed
    is not derived again, and of one whose teacher enrollments alone changed only the part
    they can change is (`_course_region`). `marked` holds per entity the
    external IDs of rows the feed marked tobedeleted (`transforms.plan.marked_external_ids`)."""
    plan = Plan(tenant)
    planned: dict[str, pl.DataFrame] = {}
    deleted: dict[str, pl.Series] = {}
    keys: dict[str, int] = {}
    read: dict[str, pl.DataFrame] = {}  # the current rows read, per entity
    adoption = Adoption()

    def adopt(wanted: pl.DataFrame, rows: pl.DataFrame) -> Reads[pl.DataFrame]:
        """The user rows to plan with the accounts new users adopt: every lms user of the
        tenant is read then, as the full plan has them (only when there are new users)."""
        nonlocal adoption
        new = new_users(wanted.lazy(), rows.lazy()).collect()
        if identity is None or identity.adopt_by == "none" or new.height == 0:
            return rows
        tenant_users = yield RowsOf("user")
        adoption = adoptions(new, tenant_users, identity, sent)
        taken = tenant_users.join(adoption.matches.select("user_id"), on="user_id", how="semi")
        return pl.concat([rows, as_adopted(taken, adoption.matches)])

    def plan_keys(name: str, desired: pl.LazyFrame, external_ids: pl.Series | None) -> Reads[None]:
        entity = ENTITIES[name]
        if external_ids is not None and external_ids.len() == 0:
            # every desired row is one of the keys planned: none is wanted (a million
            # students' course resources took 0.1 s to find none)
            desired = desired.clear()
        wanted = desired_frame(name, desired).collect()
        rows = yield RowsOf(name, external_ids)
        outside, active = None, None
        if external_ids is not None:  # (with every key, every reference is planned)
            outside = {}
            for target, unplanned in references_outside(entity, wanted, planned).items():
                outside[target] = yield IdsOf(target, unplanned)
            active = yield ManagedActive(name)
        read[name] = rows
        if name == "user":
            rows = yield from adopt(wanted, rows)
        entity_plan, ids = plan_entity(
            entity,
            tenant,
            wanted,
            rows,
            planned,
            next_ids[name],
            getattr(policy, entity.table),
            deleted,
            outside=outside,
            managed_active=active,
            marked=(marked or {}).get(name),
        )
        if name == "user":
            entity_plan.changes = with_adoption_detail(entity_plan.changes, adoption.matches)
        plan.entities[name] = entity_plan
        planned[name] = ids
        deleted[name] = deleted_ids(plan, name)
        keys[name] = ids.height

    users = records["users"]

    # domains: a district has a few hundred orgs; they are planned whole
    yield from plan_keys("domain", desired_domains(records["orgs"].lazy()), None)
    domain_churn = _churned(plan, "domain").implode()

    # users: their own records, those whose domain's id changes, and students regraded
    grades, regraded = _grade_levels(records, changes, previous_grades, previous_enrollments)
    user_keys = pl.concat([managed(changes["users"].keys), managed(regraded)])
    if plan.entities["domain"].changes.height:
        first_org = MANAGED + pl.col("orgSourcedIds").str.split(",").list.first().str.strip_chars()
        user_keys = pl.concat(
            [user_keys, managed(users.filter(first_org.is_in(domain_churn))["sourcedId"])]
        )
    user_keys = user_keys.unique()
    keyed_users = _keyed(user_keys)
    yield from plan_keys(
        "user",
        # the keyed users' grades alone: joined with the keys, not with every student's
        desired_users(
            users.lazy().filter(keyed_users), grades.lazy().filter(keyed_users), identity_key
        ),
        user_keys,
    )

    # courses: the part of the hierarchy the changed records can change, compared course by
    # course with the last run's; else the hierarchy whole; or the last run's, when nothing it
    # is derived from changed (then no course changes)
    @cache
    def courses_now() -> pl.DataFrame:
        return desired_courses(records, hierarchy)

    def courses_of(external_ids: pl.Series) -> pl.DataFrame:
        """Desired courses holding every desired row of these external IDs."""
        if region is not None and external_ids.is_in(region.external_ids.implode()).all():
            return region.courses
        return courses_now()

    domains_moved = bool(domain_churn.list.len().item())
    region = (
        None
        if domains_moved
        else _course_region(records, changes, previous_courses, previous_teacher_order, hierarchy)
    )
    if region is not None:
        course_hashes, course_keys = region.hashes, region.changed
    elif domains_moved or not _hierarchy_kept(records, changes, previous_teacher_order):
        course_hashes = desired_course_hashes(courses_now())
        course_keys = _changed_keys(previous_courses, course_hashes)
    else:
        course_hashes = previous_courses
        course_keys = _NO_KEYS
    if domains_moved:
        course_keys = pl.concat(
            [
                course_keys,
                courses_now()
                .filter(pl.col("domain_external_id").is_in(domain_churn))
                .get_column("external_id"),
            ]
        ).unique()
    yield from plan_keys(
        "course",
        (courses_of(course_keys) if course_keys.len() else _NO_COURSES)
        .lazy()
        .filter(pl.col("external_id").is_in(course_keys.implode())),
        course_keys,
    )

    # enrollments: their own records; those of users and classes that appeared or went; the
    # teacher enrollments of changed base courses; those pointing at deleted users or courses
    enrollments = records["enrollments"]
    users_come_or_gone = changes["users"].appeared_or_gone
    classes_come_or_gone = changes["classes"].appeared_or_gone
    of_come_or_gone = (
        enrollments.filter(
            pl.col("userSourcedId").is_in(users_come_or_gone.implode())
            | pl.col("classSourcedId").is_in(classes_come_or_gone.implode())
        )
        if users_come_or_gone.len() or classes_come_or_gone.len()
        else enrollments.clear()  # (most runs: none came or went, no enrollment to look at)
    )
    enrollment_keys = pl.concat(
        [
            managed(changes["enrollments"].keys),
            managed(of_come_or_gone["sourcedId"]),
            (course_keys + "--teacher").alias("external_id"),
            (yield PointingAt("enrollment", "user_id", deleted["user"])),
            (yield PointingAt("enrollment", "course_id", deleted["course"])),
        ]
    ).unique()
    # a base course's teacher enrollment is desired as the hierarchy says: derived now if
    # one is planned (a row pointing at a user deleted now, say)
    base_keys = enrollment_keys.filter(enrollment_keys.str.ends_with("--teacher"))
    keyed_enrollments = (
        enrollments.filter(_keyed(enrollment_keys))
        if enrollment_keys.len()
        else enrollments.clear()
    )
    yield from plan_keys(
        "enrollment",
        pl.concat(
            [
                # whether each one's user and class exist, looked up among those they name
                desired_section_enrollments(
                    keyed_enrollments.lazy(),
                    _named_by(users, keyed_enrollments["userSourcedId"]),
                    _named_by(records["classes"], keyed_enrollments["classSourcedId"]),
                ),
                base_course_enrollments(
                    (
                        courses_of(base_keys.str.strip_suffix("--teacher"))
                        if base_keys.len()
                        else _NO_COURSES
                    ).lazy()
                ).filter(pl.col("external_id").is_in(enrollment_keys.implode())),
            ]
        ),
        enrollment_keys,
    )

    # observer links: those with a changed user on either side, as desired and as in lms
    touched = changes["users"].keys.unique()
    desired_links = desired_observers(users.lazy(), touching=touched).collect()
    refuse_shared_observer_ids(users, desired_links)
    # the changed users' rows were read when users were planned (deleted ones included)
    touched_ids = (
        read["user"]
        .filter(pl.col("external_id").is_in(managed(touched).implode()))
        .get_column("user_id")
    )
    observer_keys = pl.concat(
        [
            desired_links["external_id"],
            (yield PointingAt("observer", "observer_user_id", touched_ids)),
            (yield PointingAt("observer", "student_user_id", touched_ids)),
        ]
    ).unique()
    yield from plan_keys("observer", desired_links.lazy(), observer_keys)

    # resources: their own records
    resources = records_of(records, "resources")
    resource_keys = managed(changes["resources"].keys)
    yield from plan_keys(
        "resource",
        desired_resources(resources.lazy().filter(_keyed(resource_keys))),
        resource_keys,
    )

    # assignments: their own records; those whose class, course or resource appeared or went,
    # or whose course or resource is created or deleted now; a course's also when its org base
    # course changed (it is the course the assignment is on)
    resource_gone = changes["resources"].appeared_or_gone.implode()
    course_churn = _churned(plan, "course").implode()
    resource_churn = managed(_churned(plan, "resource")).implode()
    churned = pl.col("course_external_id").is_in(course_churn) | (
        MANAGED + pl.col("resourceSourcedId")
    ).is_in(resource_churn)

    class_resources = records_of(records, "classResources")
    course_resources = records_of(records, "courseResources")
    # each assignment and the external ID of the course it is on (whether desired or not)
    assignment_courses = {
        "classResources": class_resources.select(
            "sourcedId",
            "resourceSourcedId",
            (MANAGED + pl.col("classSourcedId")).alias("course_external_id"),
        ),
        "courseResources": course_resources.join(
            records["courses"].select(
                pl.col("sourcedId").alias("courseSourcedId"),
                org_base_external_id("orgSourcedId", "title").alias("course_external_id"),
            ),
            on="courseSourcedId",
            how="left",
        ).select("sourcedId", "courseSourcedId", "resourceSourcedId", "course_external_id"),
    }

    def assignment_keys(name: str, file: str, affected: pl.Expr) -> Reads[pl.Series]:
        rows = assignment_courses[file]
        return pl.concat(
            [
                managed(changes[file].keys),
                managed(
                    rows.filter(
                        affected | pl.col("resourceSourcedId").is_in(resource_gone) | churned
                    )["sourcedId"]
                ),
                (yield PointingAt(name, "course_id", deleted["course"])),
                (yield PointingAt(name, "resource_id", deleted["resource"])),
            ]
        ).unique()

    class_keys = yield from assignment_keys(
        "class_resource",
        "classResources",
        pl.col("course_external_id").is_in(managed(changes["classes"].appeared_or_gone).implode()),
    )
    yield from plan_keys(
        "class_resource",
        desired_class_resources(
            class_resources.lazy().filter(_keyed(class_keys)),
            records["classes"].lazy(),
            resources.lazy(),
        ),
        class_keys,
    )
    course_resource_keys = yield from assignment_keys(
        "course_resource",
        "courseResources",
        pl.col("course_external_id").is_in(course_keys.implode())
        | pl.col("courseSourcedId").is_in(changes["courses"].keys.implode()),
    )
    yield from plan_keys(
        "course_resource",
        desired_course_resources(
            course_resources.lazy().filter(_keyed(course_resource_keys)),
            records["courses"].lazy(),
            resources.lazy(),
            course_hashes["external_id"],
        ),
        course_resource_keys,
    )
    return IncrementalPlan(plan, course_hashes, grades, keys, adoption)


@dataclass(frozen=True)
class _CourseRegion:
    """The part of the course hierarchy a run's changes can change, derived now: every desired
    row of its external IDs (`courses`), which external IDs differ from the last run's
    (`changed`), and the hashes of the whole hierarchy (`hashes`: outside the region, the last
    run's)."""

    courses: pl.DataFrame
    external_ids: pl.Series  # the region's, desired now or by the last run
    changed: pl.Series
    hashes: pl.DataFrame


def _course_region(
    records: Mapping[str, pl.DataFrame],
    changes: Mapping[str, RecordChanges],
    previous_courses: pl.DataFrame,
    previous_teacher_order: pl.DataFrame | None,
    hierarchy: Hierarchy,
) -> _CourseRegion | None:
    """The part of the course hierarchy that can change in a run that changed no org, course
    or class record; None in any other run, and when the part cannot be told apart (below).

    Then every class keeps its school, course title and term, and every org base course stays
    as it was: only a class's primary teacher can change, and with it its section and the
    teacher and session base courses of its old and new primary teacher. A class is
    **affected** when one of its teacher enrollments changed, now or as stored, when one of
    their teachers came or went, or when its teacher enrollments kept stand in another order.
    Its old and new primary teachers are among its teachers now and as stored (the stored
    `previous_teacher_order` carries each enrollment's class and teacher). Every class those
    teachers teach, now or as stored, is derived again (`hierarchy.class_sections` over those
    classes alone gives each the primary teacher the whole does): that makes every row of
    their base courses and of the affected sections, compared with the last run's rows of the
    same external IDs (a base course of theirs the last run had came from one of those
    classes, so its external ID is one of those the classes make with their teachers).

    A row of the region must not share its external ID with a row outside it, which makes
    the whole hierarchy refuse the run (`hierarchy.refuse_shared_external_ids`): with no '--'
    in any class's sourcedId nor in a part of the region's external IDs, none can. Otherwise,
    and when a changed enrollment's sourcedId ends as a base course's teacher enrollment's
    (`hierarchy.refuse_enrollments_sharing_teacher_ids`, which may name a course outside the
    region), the hierarchy is derived whole, which refuses the run naming them."""
    if (
        previous_teacher_order is None
        or "classSourcedId" not in previous_teacher_order.columns  # stored by an older run
        or any(changes[name].count for name in ("orgs", "courses", "classes"))
        or changes["enrollments"].changed.str.ends_with("--teacher").any()
    ):
        return None
    teachers = (
        records["enrollments"]
        .lazy()
        .select(
            "sourcedId",
            "classSourcedId",
            "userSourcedId",
            "role",
            "status",
            "primary",
            "run_id",
            "line",
        )
        .filter(pl.col("role") == "teacher")
        .collect()
    )
    is_changed = pl.col("sourcedId").is_in(changes["enrollments"].keys.implode()).alias("changed")
    teachers = teachers.with_columns(is_changed)
    stored = previous_teacher_order.with_columns(is_changed)
    touched = pl.col("changed") | pl.col("userSourcedId").is_in(
        changes["users"].appeared_or_gone.implode()
    )
    affected = pl.concat(
        [
            teachers.filter(touched)["classSourcedId"],
            stored.filter(touched)["classSourcedId"],
            _reordered_classes(
                teachers.filter(~pl.col("changed")), stored.filter(~pl.col("changed"))
            ),
        ]
    ).unique()
    if affected.len() == 0:
        return _CourseRegion(_NO_COURSES, _NO_COURSES["external_id"], _NO_KEYS, previous_courses)
    teaching = pl.concat(
        [
            teachers.select("classSourcedId", "userSourcedId"),
            stored.select("classSourcedId", "userSourcedId"),
        ]
    )
    region_teachers = teaching.filter(pl.col("classSourcedId").is_in(affected.implode()))[
        "userSourcedId"
    ]
    taught = teaching.filter(pl.col("userSourcedId").is_in(region_teachers.implode())).unique()
    classes = pl.concat([taught["classSourcedId"], affected]).unique().implode()
    enrollments = teachers.filter(pl.col("classSourcedId").is_in(classes))
    sections = class_sections(
        records["classes"].lazy().filter(pl.col("sourcedId").is_in(classes)),
        records["courses"].lazy(),
        records["users"]
        .lazy()
        .select("sourcedId")
        .filter(pl.col("sourcedId").is_in(enrollments["userSourcedId"].implode())),
        enrollments.lazy(),
    ).collect()
    had = taught.join(
        sections.select("school_id", "term_id", "course_title", classSourcedId="class_id"),
        on="classSourcedId",
    )
    if (
        records["classes"]["sourcedId"].str.contains("--", literal=True).any()
        or sections.select(_unclear_parts("school_id", "teacher_id", "term_id", "course_title"))
        .to_series()
        .any()
        or had.select(_unclear_parts("userSourcedId")).to_series().any()
    ):
        return None
    courses = courses_of_sections(records["orgs"], sections, hierarchy).filter(
        pl.col("kind") != "org_base"
    )
    external_ids = pl.concat(
        [
            courses["external_id"],
            had.select(
                teacher_base_external_id("school_id", "userSourcedId", "course_title")
            ).to_series(),
            had.select(
                session_base_external_id("school_id", "userSourcedId", "term_id", "course_title")
            ).to_series(),
        ]
    ).drop_nulls()
    in_region = previous_courses["external_id"].is_in(external_ids.implode())
    before = previous_courses.filter(in_region)
    now = desired_course_hashes(courses)
    changed = _changed_keys(before, now)
    if changed.len():
        # a course that differs may take an unchanged enrollment's external ID (one that does
        # not took none in the last run)
        refuse_enrollments_sharing_teacher_ids(
            courses.filter(pl.col("external_id").is_in(changed.implode())), records["enrollments"]
        )
    return _CourseRegion(
        courses, external_ids, changed, pl.concat([previous_courses.filter(~in_region), now])
    )


def _unclear_parts(*columns: str) -> pl.Expr:
    """Whether any of these parts of an external ID could, joined by '--', read as other
    parts: one holding '--', empty, or beginning or ending with '-' ('t-' and 'X' join as 't'
    and '-X' do). Parts that cannot give each external ID one reading."""
    return pl.any_horizontal(pl.col(columns).str.contains(r"--|^-|-$|^$")).fill_null(False)


def _reordered_classes(now: pl.DataFrame, stored: pl.DataFrame) -> pl.Series:
    """The classes whose teacher enrollments kept from the last run stand in another file
    order now (`now` and `stored`: `sourcedId, classSourcedId, run_id, line` of the same
    enrollments, where they stand now and where the last run stored them): the first of them
    may be another. Most feeds keep the order of them all, which is checked first."""
    in_order = pl.col("sourcedId").sort_by("run_id", "line")
    if now.select(in_order).to_series().equals(stored.select(in_order).to_series()):
        return pl.Series("classSourcedId", [], pl.String)
    run_before, line_before = pl.col("run_before"), pl.col("line_before")
    class_ = pl.col("classSourcedId")
    return (
        now.select("sourcedId", "classSourcedId", "run_id", "line")
        .join(stored.select("sourcedId", run_before="run_id", line_before="line"), on="sourcedId")
        .sort("classSourcedId", "run_id", "line")
        .filter(
            (class_ == class_.shift())
            & (
                (run_before < run_before.shift())
                | ((run_before == run_before.shift()) & (line_before < line_before.shift()))
            )
        )
        .get_column("classSourcedId")
    )


def _hierarchy_kept(
    records: Mapping[str, pl.DataFrame],
    changes: Mapping[str, RecordChanges],
    previous_teacher_order: pl.DataFrame | None,
) -> bool:
    """Whether the course hierarchy is the one the last run derived, because nothing it is
    derived from changed: no org, course or class record; no teacher enrollment, now or as
    stored; none of their teachers came or went (a class's primary teacher must exist); the
    same teacher enrollments in the same file order. A run that changes students only keeps
    it. The cheap tests come first: most runs that change a teacher fail one of them."""
    if previous_teacher_order is None or any(
        changes[name].count for name in ("orgs", "courses", "classes")
    ):
        return False
    teachers = records["enrollments"].filter(pl.col("role") == "teacher")
    changed = changes["enrollments"].keys.implode()
    if (
        teachers.get_column("sourcedId").is_in(changed).any()
        or previous_teacher_order.get_column("sourcedId").is_in(changed).any()
        or teachers.get_column("userSourcedId")
        .is_in(changes["users"].appeared_or_gone.implode())
        .any()
    ):
        return False
    in_order = teachers.sort("run_id", "line").get_column("sourcedId")
    return in_order.equals(previous_teacher_order.sort("run_id", "line").get_column("sourcedId"))


def _named_by(records: pl.DataFrame, sourced_ids: pl.Series) -> pl.LazyFrame:
    """The sourcedIds of `records` among `sourced_ids`: what a semi join with those few needs
    of a whole file."""
    return (
        records.lazy().select("sourcedId").filter(pl.col("sourcedId").is_in(sourced_ids.implode()))
    )


def _keyed(external_ids: pl.Series) -> pl.Expr:
    """Records whose managed external ID is one of `external_ids`: their sourcedId is the
    key less the prefix (which spares building the external ID of every record)."""
    sourced_ids = external_ids.filter(external_ids.str.starts_with(MANAGED)).str.strip_prefix(
        MANAGED
    )
    return pl.col("sourcedId").is_in(sourced_ids.implode())
