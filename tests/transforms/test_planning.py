"""`plan_run`: a run's plan from the SIS's records, incremental when it can be, else in full.

One literal district is synced (tests/states.py), then changed once: Kim's Biology enrollment
(e6) names Sam now. Planned against an incremental basis (`Since`) or in full, the run plans the
same changes and derives the same state for the next run; only how it was planned differs.
"""

from __future__ import annotations

import json

import polars as pl
from polars.testing import assert_frame_equal

from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.reads import answered
from rosterflow.schemas.records import RecordChanges
from rosterflow.schemas.settings import Identity, Policy, Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.transforms.incremental import desired_course_hashes, desired_courses
from rosterflow.transforms.planning import RunPlan, Since, plan_run
from rosterflow.transforms.source_state import teacher_order
from tests.states import (
    TENANT,
    Frames,
    LiteralCurrent,
    Synced,
    district,
    first_free,
    records,
    synced_once,
)

BULK = dict.fromkeys(SYNCED_FILES, "bulk")
FULL = "the tenant's first run: nothing stored to compare with"


def moved_enrollment() -> Frames:
    """district() with e6 (Kim in Biology, grades 09,10) naming Sam (u-s1) instead."""
    frames = district()
    return frames | {
        "enrollments": frames["enrollments"].with_columns(
            pl.when(pl.col("sourcedId") == "e6")
            .then(pl.lit("u-s1"))
            .otherwise(pl.col("userSourcedId"))
            .alias("userSourcedId")
        )
    }


def since(last: Synced) -> Since:
    return Since(
        1,
        last.courses,
        last.grades,
        last.hashes,
        teacher_order(last.records["enrollments"]),
    )


def run_plan(
    last: Synced,
    source: Frames,
    basis: Since | str,
    modes: dict[str, str] = BULK,
    config: Settings | None = None,
    found: dict[str, RecordChanges] | None = None,
    marked: dict[str, pl.Series] | None = None,
) -> RunPlan:
    return answered(
        plan_run(
            TENANT,
            source,
            modes,
            config or last.config,
            first_free(last.lms),
            basis,
            found,
            marked=marked,
        ),
        LiteralCurrent(last.lms).answer,
    )


def test_planned_incrementally_or_in_full_a_change_is_planned_alike():
    last = synced_once(None, Settings())
    source = records(moved_enrollment(), 2)
    incremental = run_plan(last, source, since(last))
    full = run_plan(last, source, FULL)
    assert (incremental.planning, full.planning) == ("incremental", "full")
    for name, entity in ENTITIES.items():
        assert_frame_equal(
            incremental.plan.entities[name].changes.sort(entity.id),
            full.plan.entities[name].changes.sort(entity.id),
        )
    changed = pl.concat(
        p.changes.select("external_id", "action") for p in full.plan.entities.values()
    )
    expected = pl.DataFrame(
        {
            "external_id": ["or--e6", "or--u-s1", "or--u-s2"],
            "action": ["update", "update", "update"],
        }
    )
    assert_frame_equal(changed.sort("external_id"), expected)


def test_both_derive_what_the_next_run_compares_with():
    last = synced_once(None, Settings())
    source = records(moved_enrollment(), 2)
    incremental = run_plan(last, source, since(last))
    full = run_plan(last, source, FULL)
    assert (
        set(incremental.derived)
        == set(full.derived)
        == {
            "desired_courses",
            "grade_levels",
            "teacher_order",
        }
    )
    for name, frame in full.derived.items():
        assert_frame_equal(incremental.derived[name], frame, check_row_order=False)
    # the enrollment moved Sam into Biology (grades 09,10) and left Kim in Algebra I (09)
    assert_frame_equal(
        full.derived["grade_levels"].sort("sourcedId"),
        pl.DataFrame({"sourcedId": ["u-s1", "u-s2"], "grade_level": ["10", "09"]}),
        check_dtypes=False,
    )
    # each teacher enrollment's place in the file it came in (run 2, line 2 is the first row),
    # its class and its teacher
    assert_frame_equal(
        full.derived["teacher_order"].sort("sourcedId"),
        pl.DataFrame(
            {
                "sourcedId": ["e1", "e3", "e5"],
                "run_id": [2, 2, 2],
                "line": [2, 4, 6],
                "classSourcedId": ["k1", "k2", "k3"],
                "userSourcedId": ["u-t1", "u-t1", "u-t2"],
            },
            schema_overrides={"run_id": pl.Int64, "line": pl.Int64},
        ),
    )
    assert_frame_equal(
        full.derived["desired_courses"],
        desired_course_hashes(desired_courses(source, last.config.hierarchy)),
        check_row_order=False,
    )


def test_the_planning_note_says_how_the_run_was_planned():
    last = synced_once(None, Settings())
    source = records(moved_enrollment(), 2)
    incremental = run_plan(last, source, since(last))
    full = run_plan(last, source, FULL)
    # 4 orgs, 3 sessions, 2 courses, 3 classes, 5 users, 6 enrollments, 2 resources, 2 + 2
    # assignments: one enrollment changed
    assert incremental.note == "1 of 29 records changed since run 1"
    assert full.note == FULL  # why the run is planned in full
    assert full.changes is None
    assert incremental.changes is not None
    assert {n: c.changed.to_list() for n, c in incremental.changes.items() if c.count} == {
        "enrollments": ["e6"]
    }


def test_the_planning_note_counts_removed_records_apart_from_those_after_the_feed():
    """A removed record is not among the records after the feed: "N of TOTAL changed" counts
    only those, and the removed ones are counted apart (never more changed than there are)."""
    last = synced_once(None, Settings())
    frames = moved_enrollment()
    frames = frames | {  # and Kim (u-s2) leaves, with her enrollment e4 (e6 names Sam now)
        "users": frames["users"].filter(pl.col("sourcedId") != "u-s2"),
        "enrollments": frames["enrollments"].filter(pl.col("userSourcedId") != "u-s2"),
    }
    planned = run_plan(last, records(frames, 2), since(last))
    assert planned.note == "1 of 27 records changed and 2 removed since run 1"
    emptied = district() | {name: district()[name].clear() for name in ("users", "enrollments")}
    planned = run_plan(last, records(emptied, 2), since(last))
    assert planned.note == "0 of 18 records changed and 11 removed since run 1"


def test_planned_incrementally_or_in_full_a_removal_gives_its_reason_alike():
    """Kim (u-s2) and Sam's Algebra enrollment (e2) are sent marked tobedeleted, Pat (u-p1)
    and Kim's Algebra enrollment (e4) are no longer in the feed: each removal says why, the
    same in both plans."""
    last = synced_once(None, Settings())
    frames = district()
    frames = frames | {
        "users": frames["users"].filter(~pl.col("sourcedId").is_in(["u-s2", "u-p1"])),
        "enrollments": frames["enrollments"].filter(~pl.col("sourcedId").is_in(["e2", "e4"])),
    }
    marked = {"users": pl.Series(["u-s2"]), "enrollments": pl.Series(["e2"]), "orgs": pl.Series()}
    config = Settings(policy=Policy(users="delete", enrollments="withdraw"))
    source = records(frames, 2)

    incremental = run_plan(last, source, since(last), config=config, marked=marked)
    full = run_plan(last, source, FULL, config=config, marked=marked)

    for name, entity in ENTITIES.items():
        assert_frame_equal(
            incremental.plan.entities[name].changes.sort(entity.id),
            full.plan.entities[name].changes.sort(entity.id),
        )
    removals = {
        (external_id, action, json.loads(detail)["reason"])
        for name in ("user", "enrollment")
        for external_id, action, detail in full.plan.entities[name]
        .changes.filter(pl.col("action").is_in(["delete", "withdraw"]))
        .filter(~pl.col("external_id").str.contains("bc--"))  # (base course enrollments)
        .select("external_id", "action", "detail")
        .iter_rows()
    }
    cascaded = "a user or course it belongs to was deleted"
    assert removals == {
        ("or--u-s2", "delete", "marked tobedeleted"),
        ("or--u-p1", "delete", "not in the feed"),
        ("or--e2", "withdraw", "marked tobedeleted"),
        ("or--e4", "delete", cascaded),  # Kim's, deleted with her
        ("or--e6", "delete", cascaded),
    }


def test_the_changes_validation_found_are_taken_as_they_are():
    """Validation compared the files it read (`found`): their hashes are not compared again."""
    last = synced_once(None, Settings())
    source = records(moved_enrollment(), 2)
    nothing = pl.Series("sourcedId", [], pl.String)
    found = {"enrollments": RecordChanges(nothing, nothing, nothing)}
    planned = run_plan(last, source, since(last), found=found)
    assert planned.note == "0 of 29 records changed since run 1"
    assert planned.plan.change_count == 0


def test_a_run_that_changed_most_records_is_planned_in_full_as_it_would_be():
    """A SIS that stamps every record's dateLastModified anew changed every record: a plan of
    the changed keys would derive and read by key nearly everything, for more than a plan in
    full, which it equals. Half of them or fewer are planned incrementally."""
    last = synced_once(None, Settings())
    restamped = {
        name: rows.with_columns(pl.lit("2027-01-02T03:04:05.000Z").alias("dateLastModified"))
        if "dateLastModified" in rows.columns
        else rows
        for name, rows in district().items()
    }
    source = records(restamped, 2)

    planned = run_plan(last, source, since(last))

    assert planned.planning == "full"
    assert planned.note == (
        "29 of 29 records changed since run 1, most of the records: a plan in full costs less"
    )
    full = run_plan(last, source, FULL)
    for name, entity in ENTITIES.items():
        assert_frame_equal(
            planned.plan.entities[name].changes.sort(entity.id),
            full.plan.entities[name].changes.sort(entity.id),
        )
    half = {  # the users alone stamped anew: incremental
        **district(),
        "users": restamped["users"],
    }
    assert run_plan(last, records(half, 2), since(last)).planning == "incremental"


def sharing_a_username() -> Frames:
    """district() with Kim (u-s2) signing in as Sam does."""
    frames = district()
    return frames | {
        "users": frames["users"].with_columns(
            pl.when(pl.col("sourcedId") == "u-s2")
            .then(pl.lit("sam.stone"))
            .otherwise(pl.col("username"))
            .alias("username")
        )
    }


def test_logins_of_a_users_file_sent_whole_are_left_to_validation():
    last = synced_once(None, Settings())
    config = Settings(identity=Identity(key="username"))
    planned = run_plan(last, records(sharing_a_username(), 2), FULL, BULK, config)
    assert planned.planning == "full"
