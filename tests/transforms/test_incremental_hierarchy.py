"""The part of the course hierarchy an incremental plan derives again (`_course_region` in
transforms/incremental.py): its rows and changed courses are those of the whole hierarchy,
and it is not taken where it could not be told apart (the whole hierarchy is derived then).

A state is the small literal district of tests/states.py, with a third teacher in two classes
(so that a class's primary teacher can pass to another), synced once; then random changes.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import PlanError
from rosterflow.schemas.settings import Safety, Settings
from rosterflow.transforms.incremental import (
    _changed_keys,
    _course_region,
    desired_course_hashes,
    desired_courses,
)
from rosterflow.transforms.source_state import teacher_order
from tests.changes import (
    add_class,
    add_enrollment,
    any_settings,
    drop_enrollment,
    reassign_class,
    remove_class,
    remove_user,
    reparent_school,
    retitle_course,
    swap_teacher,
    unmark_primary,
)
from tests.feeds import frame
from tests.states import (
    Frames,
    Synced,
    changes_since,
    district,
    records,
    synced,
)
from tests.transforms.test_incremental import edited, plans, plus, without

THIRD_TEACHER = {
    "sourcedId": "u-t3",
    "enabledUser": "true",
    "orgSourcedIds": "s1,s2",
    "role": "teacher",
    "username": "grace.hopper",
    "givenName": "Grace",
    "familyName": "Hopper",
}


def _teaching(sourced_id: str, class_: str, school: str, user: str, primary: str) -> dict:
    return {
        "sourcedId": sourced_id,
        "classSourcedId": class_,
        "schoolSourcedId": school,
        "userSourcedId": user,
        "role": "teacher",
        "primary": primary,
    }


def co_taught() -> Frames:
    """The district with u-t3 teaching k1 (not primary) and k3 (no class marks one there)."""
    frames = plus(district(), "users", THIRD_TEACHER)
    frames = plus(
        frames,
        "enrollments",
        _teaching("e8", "k1", "s1", "u-t3", "false"),
        _teaching("e9", "k3", "s2", "u-t3", "false"),
    )
    return edited(frames, "enrollments", "e5", primary="false")


def region_and_whole(last: Synced, after: Frames, order: pl.DataFrame | None = None):
    """The region an incremental plan of `after` derives (None: not taken), and the whole
    hierarchy's rows, hashes and changed courses (None: the whole hierarchy refuses the run,
    with the message the region must give too)."""
    source = records(after, 2)
    changes = changes_since(last.records, source)
    hierarchy = last.config.hierarchy
    stored = teacher_order(last.records["enrollments"]) if order is None else order
    try:
        whole = desired_courses(source, hierarchy)
    except PlanError as refused:
        with pytest.raises(PlanError) as raised:
            _course_region(source, changes, last.courses, stored, hierarchy)
        assert str(raised.value) == str(refused)
        return None, None
    region = _course_region(source, changes, last.courses, stored, hierarchy)
    hashes = desired_course_hashes(whole)
    return region, (whole, hashes, _changed_keys(last.courses, hashes))


def assert_region_is_the_whole(region, whole) -> None:
    rows, hashes, changed = whole
    assert sorted(region.changed.to_list()) == sorted(changed.to_list())
    assert changed.is_in(region.external_ids.implode()).all()
    assert_frame_equal(
        region.courses.sort("external_id"),
        rows.filter(pl.col("external_id").is_in(region.external_ids.implode())).sort("external_id"),
    )
    assert_frame_equal(region.hashes.sort("external_id"), hashes.sort("external_id"))


def reorder_teachers(frames: Frames, data) -> Frames:
    """The teacher enrollments in another file order (the others where they were)."""
    enrollments = frames["enrollments"]
    teaching = enrollments.filter(pl.col("role") == "teacher")
    shuffled = teaching.sample(fraction=1.0, shuffle=True, seed=data.draw(st.integers(0, 99)))
    return frames | {
        "enrollments": pl.concat([enrollments.filter(pl.col("role") != "teacher"), shuffled])
    }


def add_teacher(frames: Frames, data) -> Frames:
    """A new teacher, first in file order in a class, marked primary or not."""
    class_ = data.draw(st.sampled_from(frames["classes"]["sourcedId"].to_list()))
    school = frames["classes"].filter(pl.col("sourcedId") == class_)["schoolSourcedId"].item()
    teacher = THIRD_TEACHER | {"sourcedId": "u-t4", "username": "new.teacher"}
    primary = data.draw(st.sampled_from(["true", "false"]))
    added = plus(frames, "users", teacher)
    first = frame("enrollments", _teaching("e-new", class_, school, "u-t4", primary))
    return added | {"enrollments": pl.concat([first, added["enrollments"]])}


def retitle_term(frames: Frames, data) -> Frames:
    """A class now listed in another first term."""
    class_ = data.draw(st.sampled_from(frames["classes"]["sourcedId"].to_list()))
    return edited(
        frames, "classes", class_, termSourcedIds=data.draw(st.sampled_from(["t2", "t1"]))
    )


TEACHING_CHANGES = (
    drop_enrollment,
    add_enrollment,
    swap_teacher,
    unmark_primary,
    remove_user,
    reorder_teachers,
    add_teacher,
)
RECORD_CHANGES = (retitle_course, reassign_class, reparent_school, add_class, remove_class)


@pytest.mark.slow  # a fifth of a second per example; the scenarios below are the fast check
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=any_settings(Safety(max_removal_share=1.0)),
    making=st.lists(
        st.sampled_from(TEACHING_CHANGES + RECORD_CHANGES + (retitle_term,)), min_size=1, max_size=3
    ),
    data=st.data(),
)
def test_the_region_derived_again_is_the_whole_hierarchy_there(config, making, data):
    last = synced(co_taught(), config)
    after = co_taught()
    for change in making:
        made = change(after, data)
        after = made[0] if isinstance(made, tuple) else made
    region, whole = region_and_whole(last, after)
    if whole is None:  # refused by both, in the same words
        return
    source = records(after, 2)
    changes = changes_since(last.records, source)
    if any(changes[name].count for name in ("orgs", "courses", "classes")):
        assert region is None  # (the whole hierarchy is derived)
        return
    assert region is not None, [change.__name__ for change in making]
    assert_region_is_the_whole(region, whole)


@pytest.mark.parametrize(
    "after",
    [
        lambda f: without(f, "enrollments", "e1"),  # k1 passes to u-t3
        lambda f: without(f, "enrollments", "e5"),  # k3 passes to u-t3
        lambda f: f | {"enrollments": f["enrollments"].reverse()},  # k3's first is u-t3
        lambda f: without(f, "users", "u-t2"),  # e5's teacher went
        lambda f: edited(f, "enrollments", "e5", userSourcedId="u-t1"),
        lambda f: edited(f, "enrollments", "e9", primary="true"),
    ],
    ids=["a primary dropped", "a first dropped", "reordered", "a teacher", "swapped", "marked"],
)
def test_a_class_that_passes_to_another_teacher_changes_the_region_as_the_whole(after):
    last = synced(co_taught(), Settings())
    region, whole = region_and_whole(last, after(co_taught()))
    assert region is not None and region.changed.len()
    assert_region_is_the_whole(region, whole)


def test_a_reordered_class_whose_first_teacher_stays_changes_nothing():
    last = synced(co_taught(), Settings())
    # k1 marks e1 primary: the order of its teachers decides nothing
    enrollments = co_taught()["enrollments"]
    after = co_taught() | {
        "enrollments": pl.concat(
            [
                enrollments.filter(pl.col("sourcedId") == "e8"),
                enrollments.filter(pl.col("sourcedId") != "e8"),
            ]
        )
    }
    region, whole = region_and_whole(last, after)
    assert region is not None and region.changed.len() == 0
    assert_region_is_the_whole(region, whole)


@pytest.mark.parametrize(
    ("after", "order"),
    [
        (lambda f: edited(f, "classes", "k3", title="Biology B"), None),
        (lambda f: edited(f, "courses", "c-bio", title="Life Science"), None),
        (lambda f: edited(f, "orgs", "s2", identifier="EAST"), None),
        # stored by an older rosterflow: no class nor teacher
        (lambda f: without(f, "enrollments", "e5"), ("sourcedId", "run_id", "line")),
        # a teacher whose sourcedId and a title can read as other parts of an external ID
        (lambda f: edited(f, "enrollments", "e9", userSourcedId="u-t3-"), None),
        (lambda f: edited(f, "enrollments", "e5", sourcedId="e5--teacher"), None),
    ],
    ids=["a class", "a course", "an org", "an older teacher order", "an unclear part", "--teacher"],
)
def test_the_whole_hierarchy_is_derived_where_the_region_cannot_be_told(after, order):
    last = synced(co_taught(), Settings())
    stored = teacher_order(last.records["enrollments"])
    changed = after(co_taught())
    if "u-t3-" in changed["enrollments"]["userSourcedId"].to_list():
        changed = plus(changed, "users", THIRD_TEACHER | {"sourcedId": "u-t3-", "username": "g"})
    region, whole = region_and_whole(last, changed, None if order is None else stored.select(order))
    assert whole is not None and region is None


def test_a_new_base_course_taking_an_unchanged_enrollments_external_id_is_refused_as_whole():
    """u-t3 becomes the primary teacher of k2, whose teacher base course's teacher enrollment
    has the external ID of a student's enrollment kept from the last run."""
    before = plus(
        co_taught(),
        "enrollments",
        {
            "sourcedId": "tbc--s1--u-t3--Algebra I--teacher",
            "classSourcedId": "k1",
            "schoolSourcedId": "s1",
            "userSourcedId": "u-s1",
            "role": "student",
        },
    )
    last = synced(before, Settings())
    after = plus(before, "enrollments", _teaching("e10", "k2", "s1", "u-t3", "true"))
    after = edited(after, "enrollments", "e3", primary="false")
    _, whole = region_and_whole(last, after)  # (asserts the same refusal)
    assert whole is None
    with pytest.raises(PlanError, match="tbc--s1--u-t3--Algebra I--teacher"):
        plans(last, after)
