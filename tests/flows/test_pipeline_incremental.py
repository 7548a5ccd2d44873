"""An incremental plan is the full plan, row for row.

A generated district is synced, then changed at random (tests/changes.py: edits, arrivals,
removals, moves, teacher swaps, unmarked primary teachers, re-parented schools, retitled
courses, re-assigned classes, adult links, reordered rows), sent with changed files in bulk or
as deltas and unchanged ones in bulk or absent, under random settings. Each changed feed is
planned twice on copies of the same warehouse: incrementally, and in full (`full=True`, the
oracle). The change sets must be equal, and so must everything the two runs leave behind: lms,
history, audit and the stored records. The next change then starts from the incremental run's
warehouse, so what an incremental run stores is what the next one builds on.
"""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.flows import pipeline
from rosterflow.flows import steps as sync_steps
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.settings import Identity, Policy, Safety, Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse import basis
from rosterflow.warehouse.basis import stored_closed_references
from rosterflow.warehouse.layout import open_warehouse
from rosterflow.warehouse.records import derived, stored_files, stored_records
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import lms_summary
from tests.changes import any_settings, change, hand_made_accounts, sent_as
from tests.feeds import frame, tiny_district, with_cell, with_resources
from tests.syncing import Warehouse, counts

TENANT = "district"
_feeds = itertools.count(1)


def sync_by_steps(warehouse: Path, feed: Path, config: Settings, full: bool):
    """One sync of `feed` through the pipeline's own steps; returns its validation and plan
    (None, and nothing applied, when the feed has errors)."""
    with open_warehouse(warehouse) as con:
        # as the pipeline reads it: a feed of changed lines read by them (`read_feed`)
        loaded = sync_steps.read_feed(sync_steps.load_feed(feed), con, TENANT, full, config)
        run = sync_steps.start_run(con, loaded, TENANT, False, config, full)
        validated = sync_steps.validate(loaded, con, run, config)
        if not validated.ok:
            return validated, None
        planned = sync_steps.plan(validated, con, run, config)
        sync_steps.apply(con, planned, validated.issues)
    return validated, planned


def run_once(warehouse: Path, feed: Path, config: Settings, full: bool):
    """`sync_by_steps` of a feed without errors."""
    validated, planned = sync_by_steps(warehouse, feed, config, full)
    assert validated.ok, validated.issues.filter(pl.col("severity") == "error")
    return validated, planned


def copy_with_seal(source: Path, target: Path) -> None:
    """`source`'s file and seal as `target`'s: a copy a sync finds as `source` was left."""
    for suffix in ("", ".seal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def synced_as_in_full(warehouse: Path, oracle: Path, feed: Path):
    """`feed` synced by steps into `warehouse` as a resync plans it, and with `--full` into
    `oracle`, a copy of `warehouse` as it stood: their issues, plans and everything they leave
    asserted equal. Returns both runs' validations."""
    copy_with_seal(warehouse, oracle)
    ours, ours_plan = sync_by_steps(warehouse, feed, Settings(), full=False)
    full, full_plan = sync_by_steps(oracle, feed, Settings(), full=True)
    assert_frame_equal(ours.issues, full.issues)
    assert (ours_plan is None) == (full_plan is None)
    if full_plan is not None:
        assert_same_plan(ours_plan, full_plan)
        ours_left, full_left = leaves(warehouse), leaves(oracle)
        for what, rows in full_left.items():
            assert_frame_equal(ours_left[what], rows, check_dtypes=False)
    return ours, full


def leaves(warehouse: Path) -> dict[str, pl.DataFrame]:
    """Everything a run leaves in the warehouse that a reader could see, in a stable order."""
    tables = [f"lms.{e.table}" for e in ENTITIES.values()]
    tables += [f"history.{e.table}_closed" for e in ENTITIES.values()]
    found = {}
    with connect(warehouse, read_only=True) as con:
        for table in tables:
            found[table] = con.sql(
                f"select * exclude (valid_to) from {table} order by all"
                if table.startswith("history")
                else f"select * from {table} order by all"
            ).pl()
        found["audit.changes"] = con.sql("select * from audit.changes order by all").pl()
        records = stored_records(con, TENANT)
        for name in SYNCED_FILES:
            # a record's fields, and the file order of those whose order is ever read
            found[f"records.{name}"] = records[name].drop("run_id", "line").sort("sourcedId")
        found["teacher_order"] = derived(con, TENANT, "teacher_order").sort("sourcedId")
        found["desired_courses"] = derived(con, TENANT, "desired_courses").sort("external_id")
        found["grade_levels"] = derived(con, TENANT, "grade_levels").sort("sourcedId")
        found["closed_references"] = derived(con, TENANT, "closed_references").sort(pl.all())
    return found


_accounts = itertools.count(10**9, 1000)  # ids of accounts made by hand, apart from the sync's


def made_by_hand(warehouse: Path, accounts: list[dict]) -> None:
    """Accounts made by hand in the platform, between two syncs."""
    if not accounts:
        return
    rows = pl.DataFrame(accounts)
    with connect(warehouse) as con:
        con.register("accounts", rows)
        con.execute("insert into lms.users by name select * from accounts")


def as_made(warehouse: Path, accounts: list[dict]) -> list[dict]:
    """The accounts made by hand as lms holds them now, in the fields they were made with."""
    if not accounts:
        return []
    columns = list(accounts[0])
    with connect(warehouse, read_only=True) as con:
        rows = con.sql(
            f"select {', '.join(columns)} from lms.users where user_id between ? and ? "
            "order by user_id",
            params=[accounts[0]["user_id"], accounts[-1]["user_id"]],
        ).pl()
    return rows.to_dicts()


def assert_same_plan(incremental, full) -> None:
    for name, entity in ENTITIES.items():
        ours, oracle = incremental.plan.entities[name], full.plan.entities[name]
        assert_frame_equal(
            ours.changes.sort(entity.id, "action"),
            oracle.changes.sort(entity.id, "action"),
            check_row_order=True,
        )
        assert ours.managed_active == oracle.managed_active, name
    # the accounts made by hand that new users adopt, and the records that adopt none
    assert_frame_equal(incremental.adoption.matches, full.adoption.matches)
    assert_frame_equal(
        incremental.adoption.issues.sort("message"), full.adoption.issues.sort("message")
    )
    # the users deleted that rows made by hand still point at
    assert_frame_equal(incremental.left_behind, full.left_behind)


SETTINGS = any_settings(Safety(max_removal_share=1.0))


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    students=st.integers(30, 90),
    seed=st.integers(0, 50),
    config=SETTINGS,
    steps=st.integers(1, 3),
    data=st.data(),
)
def test_an_incremental_plan_is_the_full_plan_row_for_row(
    tmp_path_factory, students, seed, config, steps, data
):
    folder = tmp_path_factory.mktemp("incremental")
    ours, oracle = folder / "incremental.duckdb", folder / "full.duckdb"
    district = generate_feed(students, seed=seed)
    first = write_feed(folder / f"feed-{next(_feeds)}.zip", district)
    _, planned = run_once(ours, first, config, full=False)
    assert planned.run.planning == "full"  # nothing to compare with yet
    for _ in range(steps):
        changed, made, forced = change(
            district, data, data.draw(st.integers(1, 4), label="changes")
        )
        files, modes = sent_as(data, district, changed, forced)
        feed = write_feed(folder / f"feed-{next(_feeds)}.zip", files, modes=modes)
        accounts = hand_made_accounts(data, district, changed, next(_accounts), TENANT)
        made_by_hand(ours, accounts)
        shutil.copyfile(ours, oracle)
        ours_validated, ours_planned = run_once(ours, feed, config, full=False)
        oracle_validated, oracle_planned = run_once(oracle, feed, config, full=True)
        note = f"changes {made}, files {modes}"
        assert ours_planned.run.planning == "incremental", (ours_planned.run.planning_note, note)
        assert oracle_planned.run.planning == "full", note
        # validating only the records that changed finds every issue validating all finds
        assert_frame_equal(ours_validated.issues, oracle_validated.issues)
        try:
            assert_same_plan(ours_planned, oracle_planned)
        except AssertionError as error:
            raise AssertionError(f"the plans differ after {note}") from error
        ours_left, oracle_left = leaves(ours), leaves(oracle)
        for what, rows in oracle_left.items():
            try:
                assert_frame_equal(ours_left[what], rows, check_dtypes=False)
            except AssertionError as error:
                raise AssertionError(f"{what} differs after {note}") from error
        if config.identity.adopt_by == "none":  # without adopt_by, no account made by hand moves
            assert as_made(ours, accounts) == accounts, note
        district = changed


# --- the dependencies random changes seldom reach, one scenario each ---------------------------


class Scenario:
    """A tenant synced feed by feed; `step` plans each feed incrementally and in full (on a
    copy) and checks that the two agree before going on from the incremental run."""

    def __init__(self, folder: Path, config: Settings) -> None:
        self.folder, self.config = folder, config
        self.ours, self.oracle = folder / "incremental.duckdb", folder / "full.duckdb"

    def first(self, frames, modes=None):
        feed = write_feed(self.folder / f"feed-{next(_feeds)}.zip", frames, modes=modes)
        return run_once(self.ours, feed, self.config, full=False)[1]

    def step(self, frames, modes=None):
        feed = write_feed(self.folder / f"feed-{next(_feeds)}.zip", frames, modes=modes)
        shutil.copyfile(self.ours, self.oracle)
        _, ours = run_once(self.ours, feed, self.config, full=False)
        _, oracle = run_once(self.oracle, feed, self.config, full=True)
        assert ours.run.planning == "incremental", ours.run.planning_note
        assert_same_plan(ours, oracle)
        ours_left, oracle_left = leaves(self.ours), leaves(self.oracle)
        for what, rows in oracle_left.items():
            assert_frame_equal(ours_left[what], rows, check_dtypes=False)
        return ours


def actions(planned, entity: str) -> set[tuple[str, str]]:
    changes = planned.plan.entities[entity].changes
    return set(changes.select("external_id", "action").iter_rows())


def test_a_feed_whose_lines_mostly_changed_is_read_and_planned_whole_as_in_full(tmp_path):
    """A SIS that stamps every record's dateLastModified anew changed every line: parsing the
    changed lines beside the stored records, and planning the changed keys, would cost more
    than the whole file's parse and a plan in full. The run does those, and leaves what
    `--full` leaves."""
    warehouse, oracle = tmp_path / "w.duckdb", tmp_path / "oracle.duckdb"
    run_once(warehouse, write_feed(tmp_path / "a.zip", tiny_district()), Settings(), False)
    restamped = {
        name: rows.with_columns(pl.lit("2027-01-02T03:04:05.000Z").alias("dateLastModified"))
        for name, rows in tiny_district().items()
    }
    feed = write_feed(tmp_path / "b.zip", restamped)
    with open_warehouse(warehouse) as con:
        read = sync_steps.read_feed(sync_steps.load_feed(feed), con, TENANT, False, Settings())
        contents = read.contents
        assert all(contents[name].delta_read for name in ("users", "enrollments"))
        assert all(contents[name].delta is None for name in ("users", "enrollments"))
        read.release()

    synced_as_in_full(warehouse, oracle, feed)

    with connect(warehouse, read_only=True) as con:
        planning = con.execute(
            "select planning, planning_note from audit.sync_runs order by run_id desc limit 1"
        ).fetchone()
    assert planning == (
        "full",
        "23 of 23 records changed since run 1, most of the records: a plan in full costs less",
    )


@pytest.mark.slow
def test_a_leftover_enrollment_goes_with_the_user_deleted_later(tmp_path):
    config = Settings(policy=Policy(users="delete", enrollments="inactivate"))
    scenario = Scenario(tmp_path, config)
    district = tiny_district()
    scenario.first(district)
    # e4 leaves (inactivated, it stays in lms), then its student u-s2 leaves (deleted)
    without_e4 = district | {
        "enrollments": district["enrollments"].filter(pl.col("sourcedId") != "e4")
    }
    assert ("or--e4", "inactivate") in actions(scenario.step(without_e4), "enrollment")
    without_kim = without_e4 | {
        "users": district["users"].filter(pl.col("sourcedId") != "u-s2"),
        "enrollments": without_e4["enrollments"].filter(pl.col("userSourcedId") != "u-s2"),
    }
    gone = scenario.step(without_kim)
    assert ("or--u-s2", "delete") in actions(gone, "user")
    assert {("or--e4", "delete"), ("or--e6", "delete")} <= actions(gone, "enrollment")


@pytest.mark.slow
def test_a_new_user_adopts_an_account_made_by_hand_incrementally_as_in_full(tmp_path):
    """`[identity] adopt_by` on a run planned incrementally: the new record finds the account
    made by hand (another spelling of its email) and adopts it as the full plan does; one that
    two accounts match adopts neither, with the same warning."""
    config = Settings(identity=Identity(adopt_by="email"))
    scenario = Scenario(tmp_path, config)
    district = tiny_district()
    scenario.first(district)
    made_by_hand(
        scenario.ours,
        [
            account(9001, "Nia.New@Example.org ", "student"),
            account(9002, "twin@example.org", "student"),
            account(9003, "TWIN@example.org", "student"),
        ],
    )
    newcomers = district["users"].filter(pl.col("sourcedId") == "u-s1")
    arrived = district | {
        "users": pl.concat(
            [
                district["users"],
                newcomers.with_columns(
                    pl.lit("u-nia").alias("sourcedId"), pl.lit("nia.new@example.org").alias("email")
                ),
                newcomers.with_columns(
                    pl.lit("u-twin").alias("sourcedId"), pl.lit("twin@example.org").alias("email")
                ),
            ]
        )
    }

    planned = scenario.step(arrived)

    assert ("or--u-nia", "adopt") in actions(planned, "user")
    assert ("or--u-twin", "create") in actions(planned, "user")
    assert planned.adoption.issues["rule"].to_list() == ["identity.adopt_ambiguous"]
    with connect(scenario.ours, read_only=True) as con:
        assert con.sql("select external_id from lms.users where user_id = 9001").fetchall() == [
            ("or--u-nia",)
        ]
    # the checksum the adopting run left counts the account it adopted as the managed row it
    # became (not as a row it replaced): the next run builds on it, it is no hand edit
    again = scenario.step(arrived | {"users": arrived["users"].reverse()})
    assert again.plan.change_count == 0


def account(user_id: int, email: str, role: str) -> dict:
    """An account made by hand in the platform."""
    return {
        "user_id": user_id,
        "tenant": TENANT,
        "external_id": None,
        "role": role,
        "username": f"hand{user_id}",
        "email": email,
        "status": "active",
        "origin": "manual",
    }


def test_a_student_an_enrollment_leaves_for_another_is_graded_again(tmp_path):
    """Only the students of changed records get their grade level derived again: the one an
    enrollment moves away from is found through the enrollment as stored (their own record
    is unchanged)."""
    scenario = Scenario(tmp_path, Settings())
    district = tiny_district()
    scenario.first(district)
    # e6 puts Kim (u-s2) in Biology (grades 09,10); it now names Sam (u-s1) instead
    moved = with_cell(district, "enrollments", 5, "userSourcedId", "u-s1")
    planned = scenario.step(moved)
    assert {("or--u-s1", "update"), ("or--u-s2", "update")} <= actions(planned, "user")
    grades = dict(planned.writes.derived["grade_levels"].iter_rows())
    assert (grades["u-s1"], grades["u-s2"]) == ("10", "09")


@pytest.mark.slow
def test_users_and_sections_of_an_org_that_arrives_later_move_into_its_domain(tmp_path):
    scenario = Scenario(tmp_path, Settings(safety=Safety(max_removal_share=1.0)))
    district = tiny_district()
    scenario.first(district)
    # a school the SIS has not sent yet: u-s1 and class k3 name it (orgs.csv is absent, so it
    # is only a warning), then it arrives in a delta while users and classes are absent
    named = district | {
        "users": district["users"].with_columns(
            pl.when(pl.col("sourcedId") == "u-s1")
            .then(pl.lit("s9"))
            .otherwise("orgSourcedIds")
            .alias("orgSourcedIds")
        ),
        "classes": district["classes"].with_columns(
            pl.when(pl.col("sourcedId") == "k3")
            .then(pl.lit("s9"))
            .otherwise("schoolSourcedId")
            .alias("schoolSourcedId")
        ),
    }
    scenario.step({n: f for n, f in named.items() if n != "orgs"}, modes={"orgs": "absent"})
    school = frame(
        "orgs",
        {
            "sourcedId": "s9",
            "status": "active",
            "dateLastModified": "2027-01-02T00:00:00Z",
            "name": "New High",
            "type": "school",
            "parentSourcedId": "d1",
        },
    )
    arrived = scenario.step({"orgs": school}, modes={"orgs": "delta"})
    assert ("or--s9", "create") in actions(arrived, "domain")
    assert ("or--u-s1", "move") in actions(arrived, "user")
    assert ("or--k3", "update") in actions(arrived, "course")


@pytest.mark.slow
def test_users_of_a_domain_deleted_now_are_re_pointed_now_not_by_the_next_run(tmp_path):
    config = Settings(policy=Policy(domains="delete"), safety=Safety(max_removal_share=1.0))
    scenario = Scenario(tmp_path, config)
    scenario.first(tiny_district())
    removal = frame(
        "orgs",
        {"sourcedId": "s2", "status": "tobedeleted", "dateLastModified": "2027-01-02T00:00:00Z"},
    )
    gone = scenario.step({"orgs": removal}, modes={"orgs": "delta"})
    assert ("or--s2", "delete") in actions(gone, "domain")
    assert ("or--u-t2", "move") in actions(gone, "user")
    # and the next run, of the very same state, has nothing left to do
    again = scenario.step({}, modes={})
    assert again.plan.change_count == 0


def removal_reasons(planned, entity: str) -> dict[str, str]:
    """external_id -> the reason in the detail of each row of `entity` the run removes."""
    changes = planned.plan.entities[entity].changes.filter(
        pl.col("action").is_in(["delete", "inactivate", "withdraw"])
    )
    reason = pl.col("detail").str.json_path_match("$.reason")
    return dict(changes.select("external_id", reason).iter_rows())


@pytest.mark.slow
def test_a_record_marked_tobedeleted_is_removed_for_that_reason_as_in_full(tmp_path):
    """A delta marks Kim (u-s2) tobedeleted, then a bulk users.csv marks Alan (u-t2) so and no
    longer has Sam's parent Pat (u-p1) nor Sam (u-s1): the detail of each removal says why,
    in the incremental run as in the full one (`Scenario.step` compares the two, audit.changes
    included)."""
    scenario = Scenario(tmp_path, Settings(safety=Safety(max_removal_share=1.0)))
    district = tiny_district()
    scenario.first(district)
    when = "2027-01-02T00:00:00Z"
    kim = frame("users", {"sourcedId": "u-s2", "status": "tobedeleted", "dateLastModified": when})

    delta = scenario.step({"users": kim}, modes={"users": "delta"})

    assert removal_reasons(delta, "user") == {"or--u-s2": "marked tobedeleted"}
    users = district["users"].filter(~pl.col("sourcedId").is_in(["u-s2", "u-p1", "u-s1"]))
    alan = pl.col("sourcedId") == "u-t2"
    bulk = users.with_columns(
        pl.when(alan).then(pl.lit("tobedeleted")).otherwise("status").alias("status"),
        pl.when(alan).then(pl.lit(when)).otherwise("dateLastModified").alias("dateLastModified"),
    )

    gone = scenario.step({"users": bulk}, modes={"users": "bulk"})

    assert removal_reasons(gone, "user") == {
        "or--u-t2": "marked tobedeleted",
        "or--u-p1": "not in the feed",
        "or--u-s1": "not in the feed",
    }


@pytest.mark.slow
def test_a_user_deleted_that_rows_made_by_hand_point_at_is_named_as_in_full(tmp_path):
    """Under `[policy] users = "delete"`, a delta marks Kim (u-s2) tobedeleted while an
    enrollment made by hand and a score point at her, then a bulk users.csv no longer has Sam
    (u-s1), whom a link made by hand names, nor his parent (whom nothing made by hand names): each run warns of the rows left pointing at no
    user, on the record's line when the feed has one, as the full plan does (`Scenario.step`)."""
    config = Settings(policy=Policy(users="delete"), safety=Safety(max_removal_share=1.0))
    scenario = Scenario(tmp_path, config)
    district = tiny_district()
    scenario.first(district)
    with connect(scenario.ours) as con:
        ids = dict(con.sql("select external_id, user_id from lms.users").fetchall())
        con.execute(
            "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, "
            "course_id, role, status, origin) values (9700, ?, 'hand-1', ?, 1, 'student', "
            "'active', 'manual')",
            [TENANT, ids["or--u-s2"]],
        )
        con.execute(
            "insert into lms.line_items (line_item_id, tenant, course_id, title, due_date, "
            "points_possible) values (1, ?, 1, 'Quiz', date '2027-01-01', 10)",
            [TENANT],
        )
        con.execute(
            "insert into lms.scores (line_item_id, user_id) values (1, ?)", [ids["or--u-s2"]]
        )
        con.execute(
            "insert into lms.observers (observer_id, tenant, external_id, observer_user_id, "
            "student_user_id, status, origin) values (9800, ?, null, ?, ?, 'active', 'manual')",
            [TENANT, ids["or--u-t1"], ids["or--u-s1"]],
        )
    when = "2027-01-02T00:00:00Z"
    kim = frame("users", {"sourcedId": "u-s2", "status": "tobedeleted", "dateLastModified": when})

    delta = scenario.step({"users": kim}, modes={"users": "delta"})

    left = delta.left_behind.select("line", "value", "rule", "severity")
    assert left.rows() == [(2, "u-s2", "user.delete_leaves_hand_made", "warning")]
    assert ": 1 enrollment, 1 score;" in delta.left_behind["message"][0]
    users = district["users"].filter(~pl.col("sourcedId").is_in(["u-s2", "u-s1", "u-p1"]))

    gone = scenario.step({"users": users}, modes={"users": "bulk"})

    assert gone.left_behind.select("line", "value").rows() == [(None, "u-s1")]
    assert ": 1 observer link;" in gone.left_behind["message"][0]


# --- when a run is planned in full --------------------------------------------------------------
# --- when a run is planned in full --------------------------------------------------------------


def planning(warehouse, run_id: int) -> tuple[str, str]:
    return warehouse.query(
        "select planning, planning_note from audit.sync_runs where run_id = ?", [run_id]
    ).row(0)


@pytest.mark.slow
def test_runs_are_planned_in_full_exactly_when_the_last_run_cannot_be_built_on(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    first = warehouse.sync(district)
    assert planning(warehouse, first.run_id)[0] == "full"
    assert "first run" in first.planning_note
    renamed = with_cell(district, "users", 0, "givenName", "Augusta")
    assert warehouse.sync(renamed).planning == "incremental"
    # the very same feed: recalled, nothing planned
    assert warehouse.sync(renamed).planning == "recalled"
    # another setting
    other = warehouse.sync(district, settings={"policy": {"users": "delete"}})
    assert other.planning == "full" and "settings" in other.planning_note
    assert warehouse.sync(renamed, settings={"policy": {"users": "delete"}}).planning == (
        "incremental"
    )
    # a hand edit: planned in full, which reverts it
    warehouse.execute("update lms.users set email = 'typo@x' where external_id = 'or--u-t1'")
    reverted = warehouse.sync(district, settings={"policy": {"users": "delete"}})
    assert reverted.planning == "full" and "hand edit" in reverted.planning_note
    assert warehouse.row("users", "or--u-t1")["email"] == "ada.lovelace@example.org"
    # asked for
    forced = warehouse.sync(renamed, settings={"policy": {"users": "delete"}}, full=True)
    assert forced.planning == "full" and "--full" in forced.planning_note
    # the state a run leaves for the next is gone (a warehouse of an older rosterflow)
    warehouse.execute("delete from oneroster.derived")
    lost = warehouse.sync(district, settings={"policy": {"users": "delete"}})
    assert lost.planning == "full"
    # another rosterflow wrote it
    warehouse.execute("update oneroster.derived set settings_key = 'rosterflow 0.0.1 {}'")
    upgraded = warehouse.sync(renamed, settings={"policy": {"users": "delete"}})
    assert upgraded.planning == "full" and "version" in upgraded.planning_note
    assert planning(warehouse, upgraded.run_id) == ("full", upgraded.planning_note)


def test_the_lms_summary_read_during_validation_is_what_the_plan_builds_on(tmp_path):
    """validate reads the tenant's lms summary while the files parse; plan trusts it instead
    of reading it again, so it must be the summary of lms as it is when plan runs."""
    warehouse = tmp_path / "warehouse.duckdb"
    config = Settings()
    district = tiny_district()
    run_once(warehouse, write_feed(tmp_path / "first.zip", district), config, full=False)
    renamed = with_cell(district, "users", 0, "givenName", "Augusta")
    feed = write_feed(tmp_path / "renamed.zip", renamed)
    loaded = sync_steps.load_feed(feed)
    with open_warehouse(warehouse) as con:
        run = sync_steps.start_run(con, loaded, TENANT, False, config)
        validated = sync_steps.validate(loaded, con, run, config)
        assert validated.stored.lms_summary == lms_summary(con, TENANT)
        assert sync_steps.plan(validated, con, run, config).run.planning == "incremental"
        forced = sync_steps.start_run(con, sync_steps.load_feed(feed), TENANT, False, config, True)
        assert (
            sync_steps.validate(sync_steps.load_feed(feed), con, forced, config).stored.lms_summary
            is None
        )


def test_records_stored_by_an_older_rosterflow_are_compared_after_one_full_run(tmp_path):
    """Version 1 stored each file's records as one Parquet snapshot without row hashes, and no
    derived state: the first run plans in full and stores what the next one compares with."""
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    warehouse.sync(district)
    with connect(warehouse.path) as con:
        for name, blob in con.execute("select file, records from oneroster.snapshots").fetchall():
            old = pl.read_parquet(io.BytesIO(blob)).drop("row_hash")
            buffer = io.BytesIO()
            old.write_parquet(buffer)
            con.execute(
                "update oneroster.snapshots set records = ?, validated_under = null where file = ?",
                [buffer.getvalue(), name],
            )
        con.execute("delete from oneroster.derived")
    changed = with_cell(district, "users", 0, "givenName", "Augusta")
    full = warehouse.sync(changed)
    assert full.planning == "full" and counts(full) == {("user", "update"): 1}
    back = warehouse.sync(district)
    assert back.planning == "incremental" and counts(back) == {("user", "update"): 1}


@pytest.mark.slow
def test_a_patch_grows_until_it_is_worth_a_new_base(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    warehouse.sync(district)
    parts = "select count(*) from oneroster.snapshot_patches where file = 'users'"
    # one edit of five users is more than a tenth of them: each is stored as a new base
    for name in ("A", "B"):
        warehouse.sync(with_cell(district, "users", 1, "givenName", name))
    assert warehouse.query(parts).item() == 0
    users = pl.concat(
        [district["users"]]
        + [
            district["users"]
            .filter(pl.col("role") == "student")
            .with_columns(
                (pl.col("sourcedId") + f"-{n}").alias("sourcedId"),
                (pl.col("username") + f"-{n}").alias("username"),
                pl.lit(None, pl.String).alias("agentSourcedIds"),
            )
            for n in range(20)
        ]
    )
    many = district | {"users": users}
    warehouse.sync(many, settings={"safety": {"max_removal_share": 1}})
    edited = with_cell(many, "users", 7, "givenName", "Zed")
    result = warehouse.sync(edited, settings={"safety": {"max_removal_share": 1}})
    assert result.planning == "incremental"
    assert warehouse.query(parts).item() == 1  # 1 of 45 records: a patch
    stored = warehouse.query(
        "select record_count from oneroster.snapshot_patches where file = 'users'"
    )
    assert stored.item() == 1


def test_audit_changes_shows_the_creates_of_a_run_after_they_were_changed_and_deleted(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())
    first = warehouse.sync(district)
    created = warehouse.changes(first.run_id)
    assert set(created["action"]) == {"create"}
    assert created.height == first.summary["count"].sum()
    settings = {"policy": {"users": "delete"}, "safety": {"max_removal_share": 1}}
    warehouse.sync(with_cell(district, "users", 0, "givenName", "Augusta"), settings=settings)
    without_kim = district | {
        "users": district["users"].filter(pl.col("sourcedId") != "u-s2"),
        "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != "u-s2"),
    }
    warehouse.sync(without_kim, settings=settings)
    assert_frame_equal(warehouse.changes(first.run_id), created)
    # creates are stored as the id range a run gave them, not row by row
    ranges = warehouse.query(
        "select entity from audit.created where run_id = ? order by 1", [first.run_id]
    )
    assert ranges["entity"].to_list() == sorted(ENTITIES)
    stored = warehouse.query(
        "select count(*) from audit.changes_stored where run_id = ?", [first.run_id]
    )
    assert stored.item() == 0


def test_a_dry_run_stores_its_creates_row_by_row(tmp_path):
    warehouse = Warehouse(tmp_path)
    planned = warehouse.sync(tiny_district(), dry_run=True)
    stored = warehouse.query(
        "select count(*) from audit.changes_stored where run_id = ? and action = 'create'",
        [planned.run_id],
    )
    assert stored.item() == planned.summary["count"].sum()
    assert warehouse.query("select count(*) from audit.created").item() == 0


# --- references checked incrementally (schemas.references) -------------------------------------


def test_a_record_left_as_it_was_that_points_at_a_user_who_went_is_rejected(tmp_path, monkeypatch):
    """The enrollments of a student who left the feed did not change, yet they point at
    nothing now: the incremental check finds them, as the whole check does."""
    trusted = []
    found_closed = stored_closed_references
    monkeypatch.setattr(
        basis,
        "stored_closed_references",
        lambda *args: trusted.append(found_closed(*args)) or trusted[-1],
    )
    warehouse = tmp_path / "w.duckdb"
    district = tiny_district()
    first = pipeline.run_sync(
        write_feed(tmp_path / "a.zip", district), warehouse, Settings(), TENANT
    )
    assert first.outcome == "applied"
    with connect(warehouse, read_only=True) as con:
        closed = set(derived(con, TENANT, "closed_references").iter_rows())
    assert ("enrollments", "userSourcedId", "users") in closed
    left = district | {"users": district["users"].filter(pl.col("sourcedId") != "u-s2")}
    feed = write_feed(tmp_path / "b.zip", left)
    shutil.copyfile(warehouse, tmp_path / "full.duckdb")
    ours = pipeline.run_sync(feed, warehouse, Settings(), TENANT)
    oracle = pipeline.run_sync(feed, tmp_path / "full.duckdb", Settings(), TENANT, full=True)
    assert ("enrollments", "userSourcedId", "users") in trusted[-1]  # checked incrementally
    assert ours.outcome == oracle.outcome == "rejected"
    dangling = ours.issues.filter(pl.col("rule") == "reference", pl.col("value") == "u-s2")
    assert set(dangling["file"]) == {"enrollments.csv"} and dangling.height >= 2
    assert_frame_equal(ours.issues.sort(pl.all()), oracle.issues.sort(pl.all()))


def test_references_are_trusted_closed_only_as_the_run_that_stored_the_records_left_them(
    tmp_path,
):
    warehouse = tmp_path / "w.duckdb"
    result = pipeline.run_sync(
        write_feed(tmp_path / "a.zip", tiny_district()), warehouse, Settings()
    )
    feed = sync_steps.load_feed(tmp_path / "a.zip")
    with open_warehouse(warehouse) as con:
        run = sync_steps.start_run(con, feed, result.tenant, True, Settings())
        stored = stored_files(con, result.tenant)
        closed = stored_closed_references(con, run.tenant, run.settings_key, stored)
        assert ("users", "orgSourcedIds", "orgs") in closed
        other_settings = Settings(policy=Policy(users="delete"))
        other = sync_steps.start_run(con, feed, result.tenant, True, other_settings)
        assert stored_closed_references(con, other.tenant, other.settings_key, stored) == set()
        # records stored after the references were last found closed (by a rosterflow that
        # did not write them, say): nothing is trusted
        con.execute(
            "update oneroster.derived set run_id = run_id - 1 where name = 'closed_references'"
        )
        assert stored_closed_references(con, run.tenant, run.settings_key, stored) == set()


@pytest.mark.slow
@pytest.mark.parametrize(
    "repeated",
    [
        # a users row sent twice as it was stored: two unchanged rows of one record
        lambda d: d | {"users": pl.concat([d["users"], d["users"].filter(sourcedId="u-s1")])},
        # an enrollment's sourcedId again on a new row: a changed row repeats an unchanged one
        lambda d: (
            d
            | {
                "enrollments": pl.concat(
                    [
                        d["enrollments"],
                        d["enrollments"].filter(sourcedId="e1").with_columns(role=pl.lit("aide")),
                    ]
                )
            }
        ),
        # two new rows of one new sourcedId
        lambda d: (
            d
            | {
                "enrollments": pl.concat(
                    [
                        d["enrollments"],
                        d["enrollments"]
                        .filter(sourcedId="e2")
                        .with_columns(sourcedId=pl.lit("e9")),
                        d["enrollments"]
                        .filter(sourcedId="e4")
                        .with_columns(sourcedId=pl.lit("e9")),
                    ]
                )
            }
        ),
    ],
    ids=["an unchanged row twice", "a changed row on an unchanged one", "a new sourcedId twice"],
)
def test_a_repeated_sourced_id_is_found_by_an_incremental_check_as_by_the_whole(tmp_path, repeated):
    warehouse = tmp_path / "w.duckdb"
    district = tiny_district()
    first = pipeline.run_sync(
        write_feed(tmp_path / "a.zip", district), warehouse, Settings(), TENANT
    )
    assert first.outcome == "applied"
    feed = write_feed(tmp_path / "b.zip", repeated(district))
    shutil.copyfile(warehouse, tmp_path / "full.duckdb")
    ours = pipeline.run_sync(feed, warehouse, Settings(), TENANT)
    oracle = pipeline.run_sync(feed, tmp_path / "full.duckdb", Settings(), TENANT, full=True)
    assert ours.outcome == oracle.outcome == "rejected"
    assert ours.issues.filter(pl.col("rule") == "unique").height == 2
    assert_frame_equal(ours.issues.sort(pl.all()), oracle.issues.sort(pl.all()))


@pytest.mark.slow
def test_a_delta_that_updates_the_first_teacher_keeps_the_class_s_primary_teacher(tmp_path):
    """No teacher of k1 is marked primary: the first in file order is. A delta that updates
    that teacher's enrollment changes the enrollment alone (it kept its place in file order),
    planned incrementally as in full, and the bulk file sent again after it changes nothing."""
    district = tiny_district()
    enrollments = district["enrollments"].with_columns(pl.lit("false").alias("primary"))
    second = enrollments.filter(pl.col("sourcedId") == "e1").with_columns(
        pl.lit("e9").alias("sourcedId"), pl.lit("u-t2").alias("userSourcedId")
    )
    district["enrollments"] = pl.concat([enrollments, second])  # u-t1 first, then u-t2
    updated = district["enrollments"].filter(pl.col("sourcedId") == "e1")
    delta = {
        "enrollments": updated.with_columns(
            pl.lit("active").alias("status"),
            pl.lit("2026-12-05T08:00:00.000Z").alias("dateLastModified"),
            pl.lit("2027-01-15").alias("endDate"),
        )
    }
    modes = {name: "absent" for name in SYNCED_FILES} | {"enrollments": "delta"}
    for full in (False, True):
        w = Warehouse(tmp_path / f"full-{full}")
        (tmp_path / f"full-{full}").mkdir()
        w.sync(district)
        section = w.row("courses", "or--k1")

        done = w.sync(delta, modes=modes, full=full)

        assert w.actions(done.run_id) == {("enrollment", "or--e1", "update")}, done.message
        assert w.row("courses", "or--k1")["base_course_id"] == section["base_course_id"]
        assert counts(w.sync(district, recall=False)) == {("enrollment", "update"): 1}
