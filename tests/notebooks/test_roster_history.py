"""One student's timeline in notebooks/roster_history.py, on a district whose students change
schools in every way a sync records it (tests/notebooks/school_changes.py): the queries and
the summary the notebook shows, run in this process through marimo's API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings, parse_settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district
from tests.notebooks.school_changes import (
    ADOPTED,
    LEAVER,
    RENAMED,
    RETURNER,
    SCHOOL_NAMES,
    TENANT,
    UNDONE,
    roster_history_run,
)

MADISON, EMERSON, RIVERSIDE = SCHOOL_NAMES.values()


@dataclass(frozen=True)
class Timeline:
    moves: int  # as the list of students counts them
    schools: pl.DataFrame  # STUDENT_SCHOOLS_SQL
    events: pl.DataFrame  # STUDENT_EVENTS_SQL, the user's own
    schools_over_time: list[str]
    move_summary: str


@pytest.fixture(scope="module")
def notebook(school_changes_warehouse: Path) -> Iterator[tuple[ModuleType, dict]]:
    """The notebook run on the warehouse, and the definitions of its cells."""
    with roster_history_run(school_changes_warehouse, "notebook_roster_history") as run:
        yield run


def timeline(notebook: tuple[ModuleType, dict], sourced_id: str) -> Timeline:
    module, defs = notebook
    query = module.WAREHOUSE.query
    (student,) = (
        query(defs["STUDENTS_SQL"], tenant=TENANT, search=sourced_id)
        .filter(pl.col("external_id") == f"or--{sourced_id}")
        .iter_rows(named=True)
    )
    params = {"tenant": TENANT, "user_id": student["user_id"]}
    schools = query(defs["STUDENT_SCHOOLS_SQL"], **params)
    events = query(defs["STUDENT_EVENTS_SQL"], **params)
    return Timeline(
        student["moves"],
        schools,
        events.filter(pl.col("entity") == "user"),
        module.schools_over_time(schools),
        module.move_summary(events),
    )


@pytest.mark.slow
def test_a_school_change_recorded_under_a_status_action_is_a_move(notebook):
    """LEAVER left (inactivate), came back at Riverside (a reactivate whose detail changes
    domain_id), then moved to Emerson."""
    student = timeline(notebook, LEAVER)
    assert student.moves == 2
    assert student.move_summary == "moves: 2"
    assert student.events.select("action", "what").rows() == [
        ("create", ""),
        ("inactivate", ""),
        ("reactivate", f"{MADISON} → {RIVERSIDE}"),
        ("move", f"{RIVERSIDE} → {EMERSON}"),
    ]
    # Riverside was deleted since: its name comes from history
    assert student.schools_over_time == [MADISON, RIVERSIDE, EMERSON]


def test_a_return_to_an_earlier_school_is_shown(notebook):
    student = timeline(notebook, RETURNER)
    assert student.schools_over_time == [MADISON, EMERSON, MADISON]
    assert (student.moves, student.move_summary) == (2, "moves: 2")


def test_versions_that_keep_the_school_are_one_stay(notebook):
    student = timeline(notebook, RENAMED)
    assert student.schools.height == 2  # a new family name
    assert student.schools_over_time == [MADISON]
    assert (student.moves, student.move_summary) == (0, "moves: 0")


def test_the_version_made_by_hand_comes_first_with_its_school(notebook):
    """ADOPTED was made by hand at Emerson; run 3 adopted the row into Madison."""
    student = timeline(notebook, ADOPTED)
    assert student.schools.select("origin", "school", "opened_run_id", "closed_run_id").rows() == [
        ("manual", EMERSON, None, 3),
        ("sync", MADISON, 3, None),
    ]
    assert student.schools_over_time == [EMERSON, MADISON]
    # the adoption changed the school: a move, as the list of students counts it too
    assert student.events.select("action", "what").rows() == [("adopt", f"{EMERSON} → {MADISON}")]
    assert (student.moves, student.move_summary) == (1, "moves: 1")


def test_the_changes_of_an_undone_run_say_so(notebook):
    """UNDONE moved to Emerson by run 4, which run 5 undid."""
    student = timeline(notebook, UNDONE)
    assert student.events.select("run_id", "what", "undone_by_run_id").rows() == [
        (1, "", None),
        (4, f"{MADISON} → {EMERSON} (undone by run 5)", 5),
        (5, f"{EMERSON} → {MADISON}", None),
    ]
    assert student.schools_over_time == [MADISON, EMERSON, MADISON]
    assert student.move_summary == "moves: 2 (1 undone)"


def test_a_student_deleted_and_sent_again_is_in_the_picker_twice(tmp_path):
    """Under `[policy] users = "delete"` a student who leaves is deleted, and comes back under a
    new user_id: two students of one name and sourcedId, each of whom the picker must offer."""
    district = tiny_district()
    users, enrollments = district["users"], district["enrollments"]
    left = district | {
        "users": users.filter(pl.col("sourcedId") != "u-s1").with_columns(
            agentSourcedIds=pl.lit(None, pl.String)
        ),
        "enrollments": enrollments.filter(pl.col("userSourcedId") != "u-s1"),
    }
    warehouse = tmp_path / "rosterflow.duckdb"
    settings = parse_settings({"policy": {"users": "delete"}, "safety": {"max_removal_share": 1}})
    for name, frames in (("first", district), ("left", left), ("back", district)):
        result = run_sync(write_feed(tmp_path / f"{name}.zip", frames), warehouse, settings, "t")
        assert result.outcome == "applied", result.message
    with roster_history_run(warehouse, "notebook_roster_history_deleted") as (module, defs):
        students = module.WAREHOUSE.query(defs["STUDENTS_SQL"], tenant="t", search="u-s1")
        options = defs["student_picker"].options
    assert sorted(students.select("deleted").to_series().to_list()) == [False, True]
    # the picker lists every student while nobody is searched for
    assert set(students["user_id"]) <= set(options.values())
    assert {"Stone, Sam (or--u-s1)", "Stone, Sam (or--u-s1) [deleted]"} <= set(options)


def test_a_move_from_no_school_says_so(tmp_path):
    """An account made by hand without a school, adopted by a sync into one: its first event
    is a change from no school (as "Schools over time" says), not from an unknown one."""
    warehouse = tmp_path / "rosterflow.duckdb"
    with connect(warehouse) as con:
        con.execute(
            "insert into lms.users (user_id, tenant, external_id, role, username, given_name, "
            "family_name, status, origin) select next_id, 't', 'or--u-s1', 'student', 'sam.hand', "
            "'Sam', 'Stone', 'active', 'manual' from audit.next_ids where table_name = 'users'"
        )
    result = run_sync(
        write_feed(tmp_path / "feed.zip", tiny_district()), warehouse, Settings(), "t"
    )
    assert result.outcome == "applied", result.message
    with roster_history_run(warehouse, "notebook_roster_history_no_school") as (module, defs):
        (user_id,) = module.WAREHOUSE.query(defs["STUDENTS_SQL"], tenant="t", search="u-s1")[
            "user_id"
        ]
        events = module.WAREHOUSE.query(defs["STUDENT_EVENTS_SQL"], tenant="t", user_id=user_id)
    (school,) = module.WAREHOUSE.query(
        "select name from lms.domains where domain_id = "
        "(select domain_id from lms.users where user_id = $user_id)",
        user_id=user_id,
    )["name"]
    assert events.filter(pl.col("entity") == "user").select("action", "what").rows() == [
        ("adopt", f"(no school) → {school}")
    ]


@pytest.mark.slow
def test_an_enrollment_the_sis_gives_another_user_is_theirs_from_then_on(tmp_path):
    """The SIS gives enrollment e1 of class k1 to another teacher, and e2 to another student,
    then drops e2: the same rows, updated. The roster said the new teacher was enrolled
    since the first run (the enrollment's first version), and the first student's timeline
    showed e2's removal, a change to the other student's enrollment."""
    warehouse, no_guard = tmp_path / "rosterflow.duckdb", Settings().with_max_removal_share(1.0)
    district = tiny_district()
    enrollments = district["enrollments"]
    given = district | {
        "enrollments": enrollments.with_columns(
            pl.when(pl.col("sourcedId") == "e1")
            .then(pl.lit("u-t2"))
            .when(pl.col("sourcedId") == "e2")
            .then(pl.lit("u-s2"))
            .otherwise(pl.col("userSourcedId"))
            .alias("userSourcedId")
        )
    }
    dropped = given | {"enrollments": given["enrollments"].filter(pl.col("sourcedId") != "e2")}
    for number, frames in enumerate((district, given, dropped), start=1):
        feed = write_feed(tmp_path / f"feed-{number}.zip", frames)
        assert run_sync(feed, warehouse, no_guard, "t").outcome == "applied"

    with roster_history_run(warehouse, "notebook_roster_history_given") as (module, defs):
        query = module.WAREHOUSE.query
        started = dict(query("select run_id, started_at from audit.sync_runs").iter_rows())
        (k1,) = query("select course_id from lms.courses where external_id = 'or--k1'")["course_id"]
        day = max(started.values()).date()
        roster = query(defs["ROSTER_SQL"], tenant="t", course_id=k1, day=day, include_inactive=True)
        (sam,) = query(defs["STUDENTS_SQL"], tenant="t", search="u-s1")["user_id"]
        events = query(defs["STUDENT_EVENTS_SQL"], tenant="t", user_id=sam)

    since = dict(roster.select("enrollment_external_id", "enrolled_since").iter_rows())
    assert since["or--e1"] == started[2]  # Alan's since run 2, not Ada's run 1
    mine = events.filter(pl.col("entity") == "enrollment").select("run_id", "action")
    assert mine.rows() == [(1, "create"), (2, "update")]  # (run 3 dropped Kim's, not Sam's)
