"""`plan_incremental` called directly, on small literal states: its plan is the full plan.

A state is a small district's OneRoster records as the last run stored them (`before`), the lms
rows that run left (its full plan applied to an empty lms), the hashes of its desired courses
and its students' grade levels; then the records after a change (`after`). Each scenario is a
row of the table in transforms/incremental.py's docstring: the incremental plan must hold
exactly the expected changes, and equal `plan_changes` (transforms/plan.py) on the same state,
row for row. `LiteralCurrent` (tests/states.py) answers the plan's reads of lms rows
(`schemas.reads`) from the frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import Plan
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.reads import answered
from rosterflow.schemas.settings import Policy, Safety, Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.transforms.desired import source_grade_levels
from rosterflow.transforms.incremental import (
    IncrementalPlan,
    _hierarchy_kept,
    desired_course_hashes,
    desired_courses,
    plan_incremental,
)
from rosterflow.transforms.source_state import teacher_order
from tests.changes import any_settings, change
from tests.feeds import frame
from tests.states import (
    TENANT,
    Frames,
    LiteralCurrent,
    Synced,
    changes_since,
    district,
    first_free,
    full_plan,
    records,
    synced,
    synced_once,
)


def plans(last: Synced, after: Frames, kept: tuple[str, ...] = ()) -> tuple[IncrementalPlan, Plan]:
    """The incremental and the full plan of a feed of `after` (the files in `kept` not sent:
    their records stay as stored)."""
    sent = records(after, 2)
    source = {name: last.records[name] if name in kept else sent[name] for name in SYNCED_FILES}
    incremental = answered(
        plan_incremental(
            TENANT,
            source,
            changes_since(last.records, source),
            last.courses,
            last.grades,
            last.config.hierarchy,
            first_free(last.lms),
            last.config.policy,
            last.config.identity.key,
            last.records["enrollments"].select("sourcedId", "userSourcedId"),
            previous_teacher_order=teacher_order(last.records["enrollments"]),
        ),
        LiteralCurrent(last.lms).answer,
    )
    return incremental, full_plan(source, last.lms, last.config)


def assert_same_plan(ours: Plan, oracle: Plan) -> None:
    assert list(ours.entities) == list(oracle.entities)
    for name, entity in ENTITIES.items():
        assert_frame_equal(
            ours.entities[name].changes.sort(entity.id, "action"),
            oracle.entities[name].changes.sort(entity.id, "action"),
        )
        assert ours.entities[name].managed_active == oracle.entities[name].managed_active, name


def actions(plan: Plan) -> set[tuple[str, str, str]]:
    return {
        (name, external_id, action)
        for name, entity_plan in plan.entities.items()
        for external_id, action in entity_plan.changes.select("external_id", "action").iter_rows()
    }


# --- ways to change a district's records ------------------------------------------------------


def edited(frames: Frames, name: str, sourced_id: str, **values: str | None) -> Frames:
    """`frames` with fields of one record set."""
    return frames | {
        name: frames[name].with_columns(
            pl.when(pl.col("sourcedId") == sourced_id)
            .then(pl.lit(value, pl.String))
            .otherwise(pl.col(column))
            .alias(column)
            for column, value in values.items()
        )
    }


def without(frames: Frames, name: str, *sourced_ids: str) -> Frames:
    return frames | {name: frames[name].filter(~pl.col("sourcedId").is_in(sourced_ids))}


def plus(frames: Frames, name: str, *rows: dict[str, str | None]) -> Frames:
    return frames | {name: pl.concat([frames[name], frame(name, *rows)])}


NEW_SCHOOL = {"sourcedId": "s9", "name": "New High", "type": "school", "parentSourcedId": "d1"}
NEW_STUDENT = {
    "sourcedId": "u-s3",
    "enabledUser": "true",
    "orgSourcedIds": "s1",
    "role": "student",
    "username": "ida.moe",
    "givenName": "Ida",
    "familyName": "Moe",
}
NEW_CLASS = {
    "sourcedId": "k4",
    "title": "Algebra I - 4",
    "courseSourcedId": "c-alg",
    "classType": "scheduled",
    "schoolSourcedId": "s1",
    "termSourcedIds": "t2",
}
ENROLLED_EARLY = {  # an enrollment sent before its user (u-s3) and class (k4) are
    "sourcedId": "e7",
    "classSourcedId": "k4",
    "schoolSourcedId": "s1",
    "userSourcedId": "u-s3",
    "role": "student",
}


def naming_s9(frames: Frames) -> Frames:
    """u-s1 and k3 name a school the SIS has not sent (yet)."""
    return edited(
        edited(frames, "users", "u-s1", orgSourcedIds="s9"), "classes", "k3", schoolSourcedId="s9"
    )


def enrolled_early(frames: Frames) -> Frames:
    return plus(frames, "enrollments", ENROLLED_EARLY)


def assigned_early(frames: Frames) -> Frames:
    """r-lab assigned to a class (k4) the SIS has not sent yet."""
    assignment = {"sourcedId": "cr3", "classSourcedId": "k4", "resourceSourcedId": "r-lab"}
    return plus(frames, "classResources", assignment)


@dataclass(frozen=True)
class Scenario:
    after: Callable[[Frames], Frames]  # the change
    expected: set[tuple[str, str, str]]  # the plan's (entity, external_id, action)
    policy: Policy | None = None
    before: Callable[[Frames], Frames] | None = None  # the district as the last run had it
    kept: tuple[str, ...] = ()  # files not sent: their records stay as stored


SCENARIOS = {
    # user: a changed user only
    "a changed user only": Scenario(
        lambda f: edited(f, "users", "u-t1", givenName="Augusta"),
        {("user", "or--u-t1", "update")},
    ),
    "a user who leaves": Scenario(
        lambda f: without(f, "users", "u-t2"),
        {
            ("user", "or--u-t2", "inactivate"),
            # k3 has no teacher now: its base course is its org base course
            ("course", "or--k3", "update"),
            ("enrollment", "or--e5", "inactivate"),
            ("enrollment", "or--tbc--s2--u-t2--Biology--teacher", "inactivate"),
            ("enrollment", "or--sbc--s2--u-t2--t2--Biology--teacher", "inactivate"),
        },
        kept=("enrollments",),
    ),
    # user: whose domain is created or deleted now (the user record as it was)
    "a user whose domain is created now": Scenario(
        lambda f: plus(naming_s9(f), "orgs", NEW_SCHOOL),
        {
            ("domain", "or--s9", "create"),
            ("user", "or--u-s1", "move"),
            # k3's school has a chain up to the state now
            ("course", "or--obc--st--Biology", "create"),
            ("course", "or--obc--d1--Biology", "create"),
            ("course", "or--obc--s9--Biology", "create"),
            ("course", "or--k3", "update"),
            ("course", "or--tbc--s9--u-t2--Biology", "update"),
            ("course", "or--sbc--s9--u-t2--t2--Biology", "update"),
        },
        before=naming_s9,
    ),
    "a user whose domain is deleted now": Scenario(
        lambda f: without(f, "orgs", "s2"),
        {
            ("domain", "or--s2", "delete"),
            ("user", "or--u-t2", "move"),
            ("course", "or--k3", "update"),
            ("course", "or--tbc--s2--u-t2--Biology", "update"),
            ("course", "or--sbc--s2--u-t2--t2--Biology", "update"),
            # Biology's org is gone, and with it its org base course there: what is assigned
            # to that course goes (the course itself is kept, courses = "keep")
            ("course_resource", "or--kr2", "delete"),
        },
        Policy(domains="delete"),
    ),
    # user: a student whose grade level changes (no change to their own record)
    "a student whose course's grades change": Scenario(
        lambda f: edited(f, "courses", "c-bio", grades="11,12"),
        {("user", "or--u-s2", "update")},
    ),
    "a student whose class's grades change": Scenario(
        lambda f: edited(f, "classes", "k1", grades="10"),
        {("user", "or--u-s1", "update")},
    ),
    "students an enrollment moves between": Scenario(
        # e6 put Kim (u-s2) in Biology (grades 09,10); it names Sam (u-s1) now
        lambda f: edited(f, "enrollments", "e6", userSourcedId="u-s1"),
        {
            ("user", "or--u-s1", "update"),
            ("user", "or--u-s2", "update"),
            ("enrollment", "or--e6", "update"),
        },
    ),
    # course: a course whose hierarchy changes
    "a course retitled": Scenario(
        lambda f: edited(f, "courses", "c-bio", title="Life Science"),
        {
            ("course", "or--obc--st--Life Science", "create"),
            ("course", "or--obc--d1--Life Science", "create"),
            ("course", "or--obc--s2--Life Science", "create"),
            ("course", "or--tbc--s2--u-t2--Life Science", "create"),
            ("course", "or--sbc--s2--u-t2--t2--Life Science", "create"),
            ("course", "or--k3", "update"),
            ("enrollment", "or--tbc--s2--u-t2--Life Science--teacher", "create"),
            ("enrollment", "or--tbc--s2--u-t2--Biology--teacher", "inactivate"),
            ("enrollment", "or--sbc--s2--u-t2--t2--Life Science--teacher", "create"),
            ("enrollment", "or--sbc--s2--u-t2--t2--Biology--teacher", "inactivate"),
            ("course_resource", "or--kr2", "update"),
        },
    ),
    "a class's teacher swapped": Scenario(
        lambda f: edited(f, "enrollments", "e5", userSourcedId="u-t1"),
        {
            ("course", "or--tbc--s2--u-t1--Biology", "create"),
            ("course", "or--sbc--s2--u-t1--t2--Biology", "create"),
            ("course", "or--k3", "update"),
            ("enrollment", "or--e5", "update"),
            ("enrollment", "or--tbc--s2--u-t1--Biology--teacher", "create"),
            ("enrollment", "or--tbc--s2--u-t2--Biology--teacher", "inactivate"),
            ("enrollment", "or--sbc--s2--u-t1--t2--Biology--teacher", "create"),
            ("enrollment", "or--sbc--s2--u-t2--t2--Biology--teacher", "inactivate"),
        },
    ),
    "a class's two teachers, neither marked primary, sent in the other order": Scenario(
        # no record changed, yet the first teacher in file order is the class's primary one
        lambda f: f | {"enrollments": f["enrollments"].reverse()},
        {
            ("course", "or--tbc--s2--u-t1--Biology", "create"),
            ("course", "or--sbc--s2--u-t1--t2--Biology", "create"),
            ("course", "or--k3", "update"),
            ("enrollment", "or--tbc--s2--u-t1--Biology--teacher", "create"),
            ("enrollment", "or--tbc--s2--u-t2--Biology--teacher", "inactivate"),
            ("enrollment", "or--sbc--s2--u-t1--t2--Biology--teacher", "create"),
            ("enrollment", "or--sbc--s2--u-t2--t2--Biology--teacher", "inactivate"),
        },
        before=lambda f: plus(
            edited(f, "enrollments", "e5", primary="false"),
            "enrollments",
            {
                "sourcedId": "e8",
                "classSourcedId": "k3",
                "schoolSourcedId": "s2",
                "userSourcedId": "u-t1",
                "role": "teacher",
                "primary": "false",
            },
        ),
    ),
    "a school moved under the state": Scenario(
        lambda f: edited(f, "orgs", "s2", parentSourcedId="st"),
        {
            ("domain", "or--s2", "update"),
            ("course", "or--obc--s2--Biology", "update"),
        },
    ),
    "a course whose school is deleted now, deleted with it": Scenario(
        lambda f: without(without(f, "classes", "k3"), "orgs", "s2"),
        {
            ("domain", "or--s2", "delete"),
            ("user", "or--u-t2", "move"),
            ("user", "or--u-s2", "update"),  # Biology (grades 09,10) went: grade 09 now
            ("course", "or--k3", "delete"),
            ("course", "or--obc--s2--Biology", "delete"),
            ("course", "or--tbc--s2--u-t2--Biology", "delete"),
            ("course", "or--sbc--s2--u-t2--t2--Biology", "delete"),
            ("course", "or--obc--d1--Biology", "delete"),
            ("course", "or--obc--st--Biology", "delete"),
            ("enrollment", "or--e5", "delete"),
            ("enrollment", "or--e6", "delete"),
            ("enrollment", "or--tbc--s2--u-t2--Biology--teacher", "delete"),
            ("enrollment", "or--sbc--s2--u-t2--t2--Biology--teacher", "delete"),
            ("class_resource", "or--cr2", "delete"),
            ("course_resource", "or--kr2", "delete"),
        },
        Policy(domains="delete", courses="delete"),
        kept=("enrollments", "classResources"),
    ),
    # enrollment: of users or classes that appeared or went (the enrollment record as it was)
    "enrollments of a user who went": Scenario(
        lambda f: without(f, "users", "u-s2"),
        {
            ("user", "or--u-s2", "delete"),
            ("enrollment", "or--e4", "delete"),
            ("enrollment", "or--e6", "delete"),
        },
        Policy(users="delete"),
        kept=("enrollments",),
    ),
    "enrollments of a class that went": Scenario(
        lambda f: without(f, "classes", "k2"),
        {("enrollment", "or--e3", "inactivate"), ("enrollment", "or--e4", "inactivate")},
        kept=("enrollments",),
    ),
    "an enrollment whose user and class appear": Scenario(
        lambda f: plus(plus(f, "users", NEW_STUDENT), "classes", NEW_CLASS),
        {
            ("user", "or--u-s3", "create"),
            ("course", "or--k4", "create"),
            ("enrollment", "or--e7", "create"),
        },
        before=enrolled_early,
    ),
    # observer: links with a changed user on either side, desired or in lms
    "a link still named by the other side": Scenario(
        lambda f: edited(f, "users", "u-s1", agentSourcedIds=None),
        set(),
    ),
    "a link named by neither side now": Scenario(
        lambda f: edited(
            edited(f, "users", "u-s1", agentSourcedIds=None), "users", "u-p1", agentSourcedIds=None
        ),
        {("observer", "or--obs--u-p1--u-s1", "delete")},
    ),
    "a link a student names now": Scenario(
        lambda f: edited(f, "users", "u-s2", agentSourcedIds="u-p1"),
        {("observer", "or--obs--u-p1--u-s2", "create")},
    ),
    "a link whose observer is no parent now (found in lms)": Scenario(
        lambda f: edited(f, "users", "u-p1", role="teacher"),
        {("user", "or--u-p1", "update"), ("observer", "or--obs--u-p1--u-s1", "delete")},
    ),
    "a link whose student is deleted": Scenario(
        lambda f: without(f, "users", "u-s1"),
        {
            ("user", "or--u-s1", "delete"),
            ("enrollment", "or--e2", "delete"),
            ("observer", "or--obs--u-p1--u-s1", "delete"),
        },
        Policy(users="delete"),
        kept=("enrollments",),
    ),
    # resource, class resource, course resource
    "a changed resource": Scenario(
        lambda f: edited(f, "resources", "r-alg", title="Algebra I (2nd edition)"),
        {("resource", "or--r-alg", "update")},
    ),
    "a resource deleted, its assignments with it": Scenario(
        lambda f: without(f, "resources", "r-lab"),
        {
            ("resource", "or--r-lab", "delete"),
            ("class_resource", "or--cr2", "delete"),
            ("course_resource", "or--kr2", "delete"),
        },
        Policy(resources="delete"),
        kept=("classResources", "courseResources"),
    ),
    "a resource inactivated, its assignments not desired": Scenario(
        lambda f: without(f, "resources", "r-lab"),
        {
            ("resource", "or--r-lab", "inactivate"),
            ("class_resource", "or--cr2", "delete"),
            ("course_resource", "or--kr2", "delete"),
        },
        kept=("classResources", "courseResources"),
    ),
    "a new class assignment": Scenario(
        lambda f: plus(
            f,
            "classResources",
            {"sourcedId": "cr3", "classSourcedId": "k2", "resourceSourcedId": "r-lab"},
        ),
        {("class_resource", "or--cr3", "create")},
    ),
    "a class assignment whose class appears": Scenario(
        lambda f: plus(f, "classes", NEW_CLASS),
        {("course", "or--k4", "create"), ("class_resource", "or--cr3", "create")},
        before=assigned_early,
    ),
    "a class assignment whose class went": Scenario(
        lambda f: without(f, "classes", "k1"),
        {
            ("user", "or--u-s1", "update"),  # in no class now: no grade level
            ("enrollment", "or--e1", "inactivate"),
            ("enrollment", "or--e2", "inactivate"),
            ("class_resource", "or--cr1", "delete"),
        },
        kept=("enrollments", "classResources"),
    ),
    "a course record changed, its hierarchy not": Scenario(
        lambda f: edited(f, "courses", "c-alg", courseCode="ALG-1"),
        set(),
    ),
    "a course assignment whose org base course is not desired now": Scenario(
        # Algebra I's org is s2 now, where no class of it is: no org base course there
        lambda f: edited(f, "courses", "c-alg", orgSourcedId="s2"),
        {("course_resource", "or--kr1", "delete")},
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_incremental_plan_is_the_full_plan(scenario: Scenario):
    before = district() if scenario.before is None else scenario.before(district())
    last = synced_once(scenario.before, Settings(policy=scenario.policy or Policy()))
    incremental, full = plans(last, scenario.after(before), scenario.kept)
    assert actions(incremental.plan) == scenario.expected
    assert_same_plan(incremental.plan, full)


def test_only_the_changed_records_and_what_depends_on_them_are_planned():
    last = synced_once(None, Settings())
    incremental, _ = plans(last, edited(district(), "users", "u-t1", givenName="Augusta"))
    # domains are planned whole; of the rest only the user changed
    assert incremental.keys == {
        "domain": 4,
        "user": 1,
        "course": 0,
        "enrollment": 0,
        "observer": 0,
        "resource": 0,
        "class_resource": 0,
        "course_resource": 0,
    }


@pytest.mark.parametrize(
    ("after", "kept"),
    [
        (lambda f: edited(f, "users", "u-s1", givenName="Samuel"), True),
        (lambda f: without(f, "enrollments", "e6"), True),  # a student's enrollment
        # teacher enrollments in another file order are derived again, though here every
        # class keeps its first teacher (finding that out costs what deriving does)
        (lambda f: f | {"enrollments": f["enrollments"].reverse()}, False),
        (lambda f: without(f, "enrollments", "e5"), False),  # a teacher's
        (lambda f: edited(f, "enrollments", "e5", primary="false"), False),
        (lambda f: edited(f, "classes", "k3", title="Biology B"), False),
        (lambda f: edited(f, "orgs", "s2", identifier="EAST"), False),
        (lambda f: without(f, "users", "u-t2"), False),  # the teacher of e5 went
    ],
    ids=[
        "a student",
        "a student's enrollment",
        "rows reordered",
        "a teacher's enrollment",
        "its primary flag",
        "a class",
        "an org",
        "a teacher",
    ],
)
def test_the_hierarchy_is_kept_only_when_nothing_it_is_derived_from_changed(after, kept):
    last = synced_once(None, Settings())
    source = records(after(district()), 2)
    changes = changes_since(last.records, source)
    assert _hierarchy_kept(source, changes, teacher_order(last.records["enrollments"])) is kept
    # a last run that stored no teacher order (an older rosterflow) keeps nothing
    assert not _hierarchy_kept(source, changes, None)


def test_the_same_records_again_plan_nothing_and_keep_what_the_next_run_compares_with():
    last = synced_once(None, Settings())
    incremental, full = plans(last, district())
    assert incremental.plan.change_count == full.change_count == 0
    assert_frame_equal(incremental.course_hashes, last.courses, check_row_order=False)
    assert_frame_equal(incremental.grades, last.grades, check_row_order=False)


def test_what_the_next_run_compares_with_is_derived_from_the_records_after():
    last = synced_once(None, Settings())
    after = edited(district(), "courses", "c-bio", grades="11,12", title="Life Science")
    incremental, _ = plans(last, after)
    source = records(after, 2)
    assert_frame_equal(
        incremental.course_hashes.sort("external_id"),
        desired_course_hashes(desired_courses(source, last.config.hierarchy)).sort("external_id"),
    )
    assert_frame_equal(
        incremental.grades.sort("sourcedId"),
        source_grade_levels(source).collect().sort("sourcedId"),
    )


@pytest.mark.slow  # a quarter of a second per example
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=any_settings(Safety(max_removal_share=1.0)), count=st.integers(1, 3), data=st.data())
def test_random_changes_to_a_small_district_are_planned_as_in_full(config, count, data):
    last = synced(district(), config)
    after, made, forced = change(district(), data, count)
    kept = tuple(name for name, mode in forced.items() if mode == "absent")
    incremental, full = plans(last, after, kept)
    try:
        assert_same_plan(incremental.plan, full)
    except AssertionError as error:
        raise AssertionError(f"the plans differ after {made}, {kept} not sent") from error
