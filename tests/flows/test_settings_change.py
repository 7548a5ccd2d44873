"""A tenant whose settings change between two runs: the run under the new settings is planned
in full and says which setting made it so, and a run held over several guards names each of
them, since approving it lets all of them through."""

from __future__ import annotations

import shutil
from importlib.metadata import version

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.flows import steps
from rosterflow.flows.operations import approve_run, undo_run
from rosterflow.schemas.lms import ENTITIES
from tests.feeds import frame, tiny_district, with_cell, with_resources
from tests.syncing import Warehouse


def lms_rows(warehouse: Warehouse) -> dict[str, pl.DataFrame]:
    """Every lms table of the tenant, but the run that wrote each row last."""
    return {e.table: warehouse.table(e.table).drop("updated_run_id") for e in ENTITIES.values()}


def test_the_first_run_after_rosterflow_s_code_changed_is_checked_and_planned_in_full(
    tmp_path, monkeypatch
):
    """An upgrade under the same version number (an install from the repository) may check a
    record more strictly or derive a row otherwise: its first run stands on nothing older code
    stored, and the next is incremental again."""
    warehouse = Warehouse(tmp_path)
    first = warehouse.sync(tiny_district())
    assert (
        f"+{steps.code_digest()} "
        in warehouse.query(
            "select settings_key from audit.sync_runs where run_id = ?", [first.run_id]
        ).item()
    )
    monkeypatch.setattr(steps, "code_digest", lambda: "0" * 12)
    renamed = with_cell(tiny_district(), "users", 1, "givenName", "Zed")

    upgraded = warehouse.sync(renamed)

    assert upgraded.planning == "full"
    version_now = f"{version('rosterflow')}+{'0' * 12}"
    assert upgraded.planning_note.startswith(
        "the settings or the rosterflow version differ from those of run 1: "
        f"rosterflow version {version_now} (was {version('rosterflow')}+"
    )
    # (in full, and the one renamed user the only change)
    assert warehouse.actions(upgraded.run_id) == {("user", "or--u-t2", "update")}
    later = warehouse.sync(with_cell(renamed, "users", 1, "givenName", "Zoe"))
    assert later.planning == "incremental", later.planning_note


def test_a_run_under_other_settings_says_which_setting_changed(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())

    changed = warehouse.sync(
        tiny_district(),
        settings={"hierarchy": {"session_base_courses": False}, "identity": {"adopt_by": "email"}},
    )

    assert changed.planning == "full"
    assert changed.planning_note == (
        "the settings or the rosterflow version differ from those of run 1: "
        "[hierarchy] session_base_courses = false (was true); "
        '[identity] adopt_by = "email" (was the default)'
    )
    # the sections derive from the teacher base now; the session bases stay (courses = "keep")
    assert (
        warehouse.row("courses", "or--k1")["base_course_id"]
        == (warehouse.row("courses", "or--tbc--s1--u-t1--Algebra I")["course_id"])
    )


# a school of more than MIN_SCHOOL_ACTIVE students, whose export the SIS cuts short, and one
# far larger: the tenant as a whole loses less than [safety] max_removal_share
SMALL_SCHOOL, LARGE_SCHOOL = 24, 150


def _students(school: str, count: int) -> list[dict[str, str]]:
    return [
        {
            "sourcedId": f"{school}-pupil-{n}",
            "enabledUser": "true",
            "orgSourcedIds": school,
            "role": "student",
            "username": f"{school}.pupil.{n}",
            "givenName": "Pupil",
            "familyName": f"{school.upper()} {n}",
        }
        for n in range(count)
    ]


def _district(small_school_students: int) -> dict[str, pl.DataFrame]:
    district = tiny_district()
    users = frame("users", *_students("s2", small_school_students), *_students("s1", LARGE_SCHOOL))
    return district | {"users": pl.concat([district["users"], users])}


def test_a_run_held_for_its_login_changes_names_the_school_it_would_empty_too(tmp_path):
    """A new [identity] key holds the run for its login changes; the same feed cuts one
    school's students short. Approving the login change applies the removal too, so the
    message must say so."""
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(_district(SMALL_SCHOOL)).outcome == "applied"
    before = lms_rows(warehouse)

    held = warehouse.sync(_district(2), settings={"identity": {"key": "username"}})

    assert held.outcome == "held"
    assert held.message.startswith("this feed would change the login of")
    assert (
        ". Approving the run also lets this through: this feed would remove 22 of the 25 "
        "active managed users of South High (88%), above [safety] max_school_removal_share = "
        "0.5: one school's export may be truncated"
    ) in held.message
    for table, rows in lms_rows(warehouse).items():  # held: nothing applied
        assert_frame_equal(rows, before[table])

    approved = approve_run(warehouse.path, held.run_id)

    assert approved.outcome == "applied"
    cut = warehouse.query(
        "select count(*) from lms.users where tenant = 'district' and status = 'inactive' "
        "and external_id like 'or--s2-pupil-%'"
    ).item()
    assert cut == SMALL_SCHOOL - 2
    assert warehouse.row("users", "or--s1-pupil-0")["login"] == "s1.pupil.0"


# --- a settings change between two runs of one tenant -----------------------------------------

SAFETY_OFF = {"max_removal_share": 1.0, "max_school_removal_share": 1.0, "login_changes": "warn"}


def _changed(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """A night's changes: a student leaves (with the parent's link to them), a class gets
    another teacher, a course is retitled, a student moves school."""
    return district | {
        "users": district["users"]
        .filter(pl.col("sourcedId") != "u-s1")
        .with_columns(
            pl.lit(None, pl.String).alias("agentSourcedIds"),
            pl.when(pl.col("sourcedId") == "u-s2")
            .then(pl.lit("s2"))
            .otherwise(pl.col("orgSourcedIds"))
            .alias("orgSourcedIds"),
        ),
        "enrollments": district["enrollments"]
        .filter(pl.col("userSourcedId") != "u-s1")
        .with_columns(
            pl.when(pl.col("sourcedId") == "e3")
            .then(pl.lit("u-t2"))
            .otherwise(pl.col("userSourcedId"))
            .alias("userSourcedId")
        ),
        "courses": district["courses"].with_columns(
            pl.col("title").replace({"Biology": "Life Science"})
        ),
    }


def _synced_both_ways(warehouse: Warehouse, oracle_dir, frames, settings):
    """`frames` synced as the tenant's next run, and in full on a copy of the warehouse: the
    two must leave the same lms rows and record the same change set."""
    oracle_dir.mkdir()
    shutil.copyfile(warehouse.path, oracle_dir / warehouse.path.name)
    oracle = Warehouse(oracle_dir)
    full = oracle.sync(frames, settings=settings, full=True)
    ours = warehouse.sync(frames, settings=settings)
    assert ours.outcome == full.outcome == "applied", (ours.message, full.message)
    assert_frame_equal(warehouse.changes(ours.run_id), oracle.changes(full.run_id))
    theirs = lms_rows(oracle)
    for table, rows in lms_rows(warehouse).items():
        assert_frame_equal(rows, theirs[table])
    # one version closed in history per change that is not a create
    closed = sum(
        warehouse.query(
            f"select count(*) from history.{e.table}_closed where closed_run_id = ?", [ours.run_id]
        ).item()
        for e in ENTITIES.values()
    )
    assert closed == warehouse.changes(ours.run_id).filter(pl.col("action") != "create").height
    return ours


@pytest.mark.slow
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({}, {"hierarchy": {"session_base_courses": False}, "policy": {"courses": "delete"}}),
        ({"policy": {"courses": "delete"}}, {"hierarchy": {"org_base_courses": False}}),
        (
            {"policy": {"users": "keep", "enrollments": "keep", "observers": "keep"}},
            {"policy": {"users": "delete", "enrollments": "withdraw", "observers": "inactivate"}},
        ),
        ({}, {"identity": {"key": "email"}}),
    ],
)
def test_a_settings_change_plans_as_full_and_its_undo_gives_the_rows_back(tmp_path, before, after):
    before, after = before | {"safety": SAFETY_OFF}, after | {"safety": SAFETY_OFF}
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    warehouse.sync(district, settings=before)
    night = _changed(district)
    _synced_both_ways(warehouse, tmp_path / "oracle-1", night, before)
    as_before = lms_rows(warehouse)

    changed = _synced_both_ways(warehouse, tmp_path / "oracle-2", night, after)
    assert changed.planning == "full" and "(was " in changed.planning_note
    # the next night under the new settings is planned incrementally, as in full
    next_night = with_cell(night, "users", 0, "givenName", "Adah")
    later = _synced_both_ways(warehouse, tmp_path / "oracle-3", next_night, after)
    assert later.planning == "incremental", later.planning_note

    undo_run(warehouse.path, later.run_id)  # newest first
    undone = undo_run(warehouse.path, changed.run_id)

    assert undone.outcome == "applied"
    for table, rows in lms_rows(warehouse).items():
        assert_frame_equal(rows, as_before[table])
    # lms is as the old settings leave it: syncing under them changes nothing
    again = warehouse.sync(night, settings=before)
    assert again.outcome == "applied" and again.summary.height == 0
