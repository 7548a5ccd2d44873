"""Held runs (approve, discard), undo, and the school guard, on real warehouse files.

A held run approved must leave the warehouse exactly as a sync without the guard does; an undo
must bring back the very rows from before the run, under their ids, hand-made rows untouched,
and leave the tenant where the next sync plans and applies as it would have before the run.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.flows.operations import (
    OperationRefused,
    approve_run,
    cancelled_out,
    discard_run,
    runs,
    undo_run,
)
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.settings import Safety
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.warehouse.records import stored_records
from rosterflow.warehouse.schema import connect
from tests.changes import any_settings, change, sent_as
from tests.feeds import tiny_district, without_students
from tests.syncing import Warehouse, counts

GUARD_OFF = {"safety": {"max_removal_share": 1.0, "max_school_removal_share": 1.0}}
TABLES = tuple(e.table for e in ENTITIES.values())


def warehouse(tmp_path: Path, name: str) -> Warehouse:
    folder = tmp_path / name
    folder.mkdir()
    return Warehouse(folder)


def lms(w: Warehouse, *, run_ids: bool = False) -> dict[str, pl.DataFrame]:
    """Every lms table of the tenant; without the run that last wrote each row, unless asked."""
    return {
        t: w.table(t) if run_ids else w.table(t).drop("updated_run_id").sort(pl.all())
        for t in TABLES
    }


def assert_same_lms(ours: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    for table, rows in expected.items():
        try:
            assert_frame_equal(ours[table], rows)
        except AssertionError as error:
            raise AssertionError(f"lms.{table} differs") from error


def closed_versions(w: Warehouse) -> dict[str, pl.DataFrame]:
    """history's ended versions, less what differs between two warehouses by run numbering."""
    return {
        t: w.query(
            f"select * exclude (updated_run_id, valid_from, valid_to, opened_run_id, "
            f"closed_run_id) from history.{t}_closed order by all"
        )
        for t in TABLES
    }


# --- held runs -----------------------------------------------------------------------------------


def test_a_held_run_changes_nothing_and_keeps_its_plan(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district())
    before = lms(w, run_ids=True)

    held = w.sync(without_students(tiny_district()))

    assert (held.outcome, held.exit_code) == ("held", 1)
    assert (
        "max_removal_share" in held.message and f"rosterflow approve {held.run_id}" in held.message
    )
    assert_same_lms(lms(w, run_ids=True), before)
    assert counts(held) == {
        ("user", "inactivate"): 2,
        ("enrollment", "inactivate"): 3,
        ("observer", "delete"): 1,
    }
    # the planned change set is in audit, and the whole plan is kept for approval
    assert w.actions(held.run_id) >= {("user", "or--u-s1", "inactivate")}
    kept = w.query("select distinct part from audit.held_plans where run_id = ?", [held.run_id])
    assert set(kept["part"]) >= {"changes", "records", "derived", "state"}


@pytest.mark.slow  # (two warehouses synced and compared table by table: 5 s)
def test_a_held_run_approved_leaves_what_a_sync_without_the_guard_leaves(tmp_path):
    ours, oracle = warehouse(tmp_path, "ours"), warehouse(tmp_path, "oracle")
    truncated = without_students(tiny_district())
    # a new student arrives with the truncation: the plan creates rows too
    truncated["users"] = pl.concat(
        [
            truncated["users"],
            tiny_district()["users"]
            .filter(pl.col("sourcedId") == "u-s1")
            .with_columns(pl.lit("u-new").alias("sourcedId"), pl.lit("newkid").alias("username")),
        ]
    )
    for w in (ours, oracle):
        w.sync(tiny_district())
    held = ours.sync(truncated)
    expected = oracle.sync(truncated, settings=GUARD_OFF)
    assert (held.outcome, expected.outcome) == ("held", "applied")

    approved = approve_run(ours.path, held.run_id)

    assert (approved.outcome, approved.message) == ("applied", f"approved held run {held.run_id}")
    assert counts(approved) == counts(expected)
    assert_same_lms(lms(ours), lms(oracle))
    for table, rows in closed_versions(oracle).items():
        assert_frame_equal(closed_versions(ours)[table], rows)
    assert_frame_equal(
        ours.query(
            "select entity, external_id, action, detail, entity_id from audit.changes "
            "where run_id = ? order by all",
            [approved.run_id],
        ),
        oracle.query(
            "select entity, external_id, action, detail, entity_id from audit.changes "
            "where run_id = ? order by all",
            [expected.run_id],
        ),
    )
    decision = ours.query("select run_id, decision, result_run_id from audit.decisions")
    assert decision.rows() == [(held.run_id, "approved", approved.run_id)]
    assert ours.query("select count(*) as n from audit.held_plans")["n"][0] == 0
    # the approved run is the tenant's last applied run: the same feed again has nothing to do,
    # and the next change is planned incrementally, as after a sync
    again = ours.sync(truncated)
    assert again.planning == "recalled"
    back = ours.sync(tiny_district())
    expected_back = oracle.sync(tiny_district(), settings=GUARD_OFF)
    assert back.planning == "incremental", back.planning_note
    assert counts(back) == counts(expected_back)
    with pytest.raises(OperationRefused, match="already approved"):
        approve_run(ours.path, held.run_id)


def test_approving_after_another_tenant_created_rows_gives_the_new_rows_free_ids(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district())
    truncated = without_students(tiny_district())
    truncated["users"] = pl.concat(
        [
            truncated["users"],
            tiny_district()["users"]
            .filter(pl.col("sourcedId") == "u-s1")
            .with_columns(pl.lit("u-new").alias("sourcedId")),
        ]
    )
    truncated["enrollments"] = pl.concat(
        [
            truncated["enrollments"],
            tiny_district()["enrollments"]
            .filter(pl.col("sourcedId") == "e2")
            .with_columns(
                pl.lit("e-new").alias("sourcedId"), pl.lit("u-new").alias("userSourcedId")
            ),
        ]
    )
    held = w.sync(truncated)
    other = w.sync(tiny_district(), tenant="other")  # takes the ids the held plan counted on
    assert (held.outcome, other.outcome) == ("held", "applied")

    approve_run(w.path, held.run_id)

    for entity in ENTITIES.values():
        ids = w.query(f"select {entity.id} as id from lms.{entity.table}")["id"]
        assert ids.is_unique().all(), entity.table
    new = w.query(
        "select users.external_id from lms.enrollments as enrollments "
        "join lms.users as users using (user_id) where enrollments.external_id = 'or--e-new'"
    )
    assert new["external_id"].to_list() == ["or--u-new"]
    assert w.row("users", "or--u-new")["tenant"] == "district"


@pytest.mark.slow
def test_a_held_run_discarded_is_dropped_and_nothing_changes(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district())
    before = lms(w, run_ids=True)
    held = w.sync(without_students(tiny_district()))

    discard_run(w.path, held.run_id)

    assert_same_lms(lms(w, run_ids=True), before)
    assert w.query("select decision, result_run_id from audit.decisions").rows() == [
        ("discarded", None)
    ]
    assert w.query("select count(*) as n from audit.held_plans")["n"][0] == 0
    listed = runs(w.path).filter(pl.col("run_id") == held.run_id).row(0, named=True)
    assert (listed["outcome"], listed["decision"]) == ("held", "discarded")
    with pytest.raises(OperationRefused, match="already discarded"):
        approve_run(w.path, held.run_id)
    with pytest.raises(OperationRefused, match="already discarded"):
        discard_run(w.path, held.run_id)
    # nothing of the discarded plan lingers: the next sync plans as if it never was
    again = w.sync(tiny_district(), recall=False)
    assert (again.outcome, again.planning, again.summary.height) == ("applied", "incremental", 0)


def test_approval_is_refused_once_the_tenant_changed(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district())
    held = w.sync(without_students(tiny_district()))
    edited = tiny_district()
    edited["users"] = edited["users"].with_columns(
        pl.when(pl.col("sourcedId") == "u-t1")
        .then(pl.lit("Augusta"))
        .otherwise("givenName")
        .alias("givenName")
    )
    later = w.sync(edited)
    assert later.outcome == "applied"

    with pytest.raises(OperationRefused, match=f"run {later.run_id} was applied"):
        approve_run(w.path, held.run_id)

    held_again = w.sync(without_students(edited))
    w.execute("update lms.users set family_name = 'Byron' where external_id = 'or--u-t1'")
    with pytest.raises(OperationRefused, match=r"changed since run \d+ was planned"):
        approve_run(w.path, held_again.run_id)
    with pytest.raises(OperationRefused, match=r"is not held .*: only .* can be approved$"):
        approve_run(w.path, later.run_id)
    with pytest.raises(OperationRefused, match=r"is not held .*: only .* can be discarded$"):
        discard_run(w.path, later.run_id)
    assert w.query("select count(*) as n from audit.decisions")["n"][0] == 0


def test_a_held_run_that_adopts_nothing_is_approved_after_a_user_is_made_by_hand(tmp_path):
    """Only a plan that adopts depends on the accounts made by hand: a platform's staff make
    accounts all day, and that holds up no other held run."""
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district())
    held = w.sync(without_students(tiny_district()))
    w.execute(
        "insert into lms.users (user_id, tenant, external_id, role, username, status, origin) "
        "values (9000, 'district', 'hand-1', 'teacher', 'sub', 'active', 'manual')"
    )

    assert approve_run(w.path, held.run_id).outcome == "applied"


@pytest.mark.slow  # (over 2 s of 2 cores; a fast test checks the same guarantee)
def test_one_school_truncated_is_held_while_the_district_share_is_small(tmp_path):
    w = warehouse(tmp_path, "w")
    district = generate_feed(300, seed=0)
    w.sync(district, settings=GUARD_OFF)
    enrollments = district["enrollments"]
    school = "org-s-2"  # 70% of its students' enrollments vanish: its file cut short
    at_school = (pl.col("schoolSourcedId") == school) & (pl.col("role") == "student")
    truncated = district | {
        "enrollments": enrollments.filter(
            ~at_school | (pl.int_range(pl.len()).over(at_school) % 10 >= 7)
        )
    }
    removed = enrollments.height - truncated["enrollments"].height
    assert 0 < removed / enrollments.height < 0.2  # the district guard alone would let it pass

    held = w.sync(truncated)

    assert held.outcome == "held", held.message
    assert "max_school_removal_share" in held.message
    school_name = district["orgs"].filter(pl.col("sourcedId") == school)["name"][0]
    assert school_name in held.message
    # the same change spread over the district is not held
    w2 = warehouse(tmp_path, "w2")
    w2.sync(district, settings=GUARD_OFF)
    spread = district | {"enrollments": enrollments.filter(pl.int_range(pl.len()) % 9 != 0)}
    assert w2.sync(spread).outcome == "applied"


# --- undo ----------------------------------------------------------------------------------------


def _set(frames, name: str, sid: str, **values):
    table = frames[name]
    return frames | {
        name: table.with_columns(
            pl.when(pl.col("sourcedId") == sid).then(pl.lit(v)).otherwise(c).alias(c)
            for c, v in values.items()
        )
    }


def _without(frames, name: str, column: str, value: str):
    return frames | {name: frames[name].filter(pl.col(column) != value)}


def edited(frames):
    return _set(frames, "users", "u-s1", givenName="Samantha", email="sam@north.example")


def moved(frames):
    return _set(frames, "users", "u-s1", orgSourcedIds="s2")


def removed(frames):
    gone = _without(frames, "users", "sourcedId", "u-s2")
    return _without(gone, "enrollments", "userSourcedId", "u-s2")


CASES = {
    "update": (edited, {}, {("user", "update")}),
    "move": (moved, {}, {("user", "move")}),
    "delete": (removed, {"policy": {"users": "delete"}}, {("user", "delete")}),
    "inactivate": (removed, {}, {("user", "inactivate"), ("enrollment", "inactivate")}),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    # two syncs and an undo each, 2 s: the README's command runs one case that deletes
    [c if c in ("update", "delete") else pytest.param(c, marks=pytest.mark.slow) for c in CASES],
)
def test_undo_brings_back_the_exact_rows_from_before_the_run(tmp_path, case):
    making, policy, actions = CASES[case]
    config = policy | GUARD_OFF
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district(), settings=config)
    w.execute(  # a hand-made user beside the managed ones: never touched
        "insert into lms.users (user_id, tenant, external_id, given_name, status, origin) "
        "values (9000, 'district', 'hand-1', 'Hand', 'active', 'manual')"
    )
    before = lms(w, run_ids=True)
    done = w.sync(making(tiny_district()), settings=config)
    assert actions <= set(counts(done)), counts(done)

    undone = undo_run(w.path, done.run_id)

    assert undone.outcome == "applied"
    after = lms(w, run_ids=True)
    for table, rows in before.items():
        assert_frame_equal(after[table].drop("updated_run_id"), rows.drop("updated_run_id"))
    # every row the undo wrote is a version it opened, after the one the undone run closed
    changed = w.query(
        "select entity, entity_id from audit.changes where run_id = ?", [undone.run_id]
    )
    assert (
        changed.height
        == w.query("select count(*) as n from audit.changes where run_id = ?", [done.run_id])["n"][
            0
        ]
    )
    users = w.query(
        "select external_id, opened_run_id, closed_run_id from history.users "
        "where external_id = 'or--u-s1' or external_id = 'or--u-s2' order by valid_from nulls first"
    )
    assert undone.run_id in users["opened_run_id"].to_list() or case == "delete"
    assert w.query("select decision, result_run_id from audit.decisions").rows() == [
        ("undone", undone.run_id)
    ]
    # the SIS still says what the undone run applied: the next sync applies it again, planned
    # in full, exactly as the undone run did
    again = w.sync(making(tiny_district()), settings=config)
    assert again.planning == "full" and "undid" in again.planning_note
    assert counts(again) == counts(done)
    assert_frame_equal(
        w.changes(again.run_id).drop("detail"), w.changes(done.run_id).drop("detail")
    )


@pytest.mark.slow  # (over 2 s of 2 cores; a fast test checks the same guarantee)
def test_undo_of_an_adoption_gives_the_row_back_to_its_maker(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district())
    w.execute(
        "insert into lms.users (user_id, tenant, external_id, given_name, family_name, status, "
        "origin) values (9000, 'district', 'or--u-new', 'Handy', 'Made', 'active', 'manual')"
    )
    before = lms(w, run_ids=True)
    arrived = tiny_district()
    arrived["users"] = pl.concat(
        [
            arrived["users"],
            arrived["users"]
            .filter(pl.col("sourcedId") == "u-s1")
            .with_columns(pl.lit("u-new").alias("sourcedId")),
        ]
    )
    adopted = w.sync(arrived)
    assert ("user", "or--u-new", "adopt") in w.actions(adopted.run_id)

    undo_run(w.path, adopted.run_id)

    assert w.row("users", "or--u-new") | {"updated_run_id": None} == before["users"].filter(
        pl.col("external_id") == "or--u-new"
    ).row(0, named=True) | {"updated_run_id": None}
    assert w.row("users", "or--u-new")["origin"] == "manual"

    # undoing that undo would bring back the adopting run's rows (u-new's enrollments)
    # pointing at an account an undo never takes from the hand that made it: refused whole
    undone = w.query("select max(run_id) as run_id from audit.sync_runs")["run_id"][0]
    given_back = lms(w, run_ids=True)
    with pytest.raises(OperationRefused, match=r"gave user 9000 back to the account made by hand"):
        undo_run(w.path, undone)
    assert_same_lms(lms(w, run_ids=True), given_back)
    # as the refusal says, syncing the feed again adopts the account anew
    again = w.sync(arrived)
    assert ("user", "or--u-new", "adopt") in w.actions(again.run_id)


@pytest.mark.slow
def test_undo_is_refused_while_a_row_made_by_hand_holds_the_id_of_a_row_the_run_deleted(tmp_path):
    config = {"policy": {"users": "delete", "enrollments": "delete"}} | GUARD_OFF
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district(), settings=config)
    done = w.sync(removed(tiny_district()), settings=config)
    gone = w.query(
        "select entity_id from audit.changes where run_id = ? and entity = 'user' "
        "and action = 'delete'",
        [done.run_id],
    )["entity_id"].to_list()
    assert len(gone) == 1
    # a teacher made by hand under the deleted student's id (max(user_id) + 1 over lms can
    # give it): the student's enrollments would come back pointing at her
    w.execute(
        "insert into lms.users (user_id, tenant, external_id, given_name, role, status, origin) "
        "values (?, 'district', 'hand-1', 'Mary', 'teacher', 'active', 'manual')",
        [gone[0]],
    )
    before = lms(w, run_ids=True)

    with pytest.raises(OperationRefused, match=rf"deleted user {gone[0]} \(or--u-s2\)"):
        undo_run(w.path, done.run_id)

    assert_same_lms(lms(w, run_ids=True), before)
    # the id audit.next_ids gives is free: the row made by hand moved there, the undo applies
    free = w.query("select next_id from audit.next_ids where table_name = 'users'")["next_id"][0]
    held = w.query(
        "select max(user_id) as most from (select user_id from lms.users "
        "union all select user_id from history.users_closed)"
    )["most"][0]
    assert free == held + 1
    w.execute("update lms.users set user_id = ? where external_id = 'hand-1'", [free])
    undo_run(w.path, done.run_id)
    assert w.row("users", "or--u-s2")["user_id"] == gone[0]
    students = w.query(
        "select distinct user_id from lms.enrollments where external_id in "
        "(select external_id from audit.changes where run_id = ? and entity = 'enrollment')",
        [done.run_id],
    )["user_id"].to_list()
    assert students == gone
    assert w.row("users", "hand-1")["given_name"] == "Mary"


def test_undo_is_refused_after_a_later_run_changed_the_same_rows_unless_forced(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district(), settings=GUARD_OFF)
    first = w.sync(edited(tiny_district()), settings=GUARD_OFF)
    later = w.sync(
        _set(edited(tiny_district()), "users", "u-s1", familyName="Rivers"), settings=GUARD_OFF
    )
    assert first.outcome == later.outcome == "applied"

    with pytest.raises(OperationRefused, match=f"later run\\(s\\) {later.run_id}"):
        undo_run(w.path, first.run_id)
    assert w.row("users", "or--u-s1")["family_name"] == "Rivers"  # nothing was written

    forced = undo_run(w.path, first.run_id, force=True)

    row = w.row("users", "or--u-s1")
    assert (row["given_name"], row["family_name"], row["email"]) == (
        "Sam",
        "Stone",
        "sam.stone@example.org",
    )
    assert "--force" in forced.message


@pytest.mark.slow
def test_a_later_run_and_its_undo_cancel_out_and_hold_no_undo_of_an_older_run(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district(), settings=GUARD_OFF)
    first = w.sync(edited(tiny_district()), settings=GUARD_OFF)
    later = w.sync(
        _set(edited(tiny_district()), "users", "u-s1", familyName="Rivers"), settings=GUARD_OFF
    )
    taken_back = undo_run(w.path, later.run_id)
    # an undo undone in turn is in effect no more: the later run's changes are back, and hold
    brought_back = undo_run(w.path, taken_back.run_id)
    assert w.row("users", "or--u-s1")["family_name"] == "Rivers"
    with pytest.raises(OperationRefused, match=f"later run\\(s\\) {later.run_id};"):
        undo_run(w.path, first.run_id)
    undo_run(w.path, brought_back.run_id)
    assert w.row("users", "or--u-s1")["family_name"] != "Rivers"

    # the later run and its undos left the rows as the first run did: undoing the first needs
    # neither --force nor undoing them first (undoing an undo would bring the later run back)
    undone = undo_run(w.path, first.run_id)

    row = w.row("users", "or--u-s1")
    assert (row["given_name"], row["family_name"], row["email"]) == (
        "Sam",
        "Stone",
        "sam.stone@example.org",
    )
    assert "--force" not in undone.message


@pytest.mark.parametrize(
    ("undos", "cancelled"),
    [
        ([], set()),
        ([(5, 6)], {5, 6}),
        ([(5, 6), (6, 7)], {6, 7}),
        ([(5, 6), (6, 7), (7, 8)], {5, 6, 7, 8}),
        ([(4, 9), (5, 6)], {4, 9, 5, 6}),
    ],
)
def test_undos_cancel_out_in_pairs_down_their_chain(undos, cancelled):
    assert cancelled_out(undos) == cancelled


def test_undo_of_a_run_whose_rows_no_later_run_touched_needs_no_force(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district(), settings=GUARD_OFF)
    first = w.sync(edited(tiny_district()), settings=GUARD_OFF)
    # a later run that changes another user only
    w.sync(_set(edited(tiny_district()), "users", "u-t2", givenName="Alonzo"), settings=GUARD_OFF)

    undo_run(w.path, first.run_id)

    assert w.row("users", "or--u-s1")["given_name"] == "Sam"
    assert w.row("users", "or--u-t2")["given_name"] == "Alonzo"


@pytest.mark.slow
def test_undo_leaves_the_same_records_whether_a_later_run_was_recalled_or_planned_in_full(
    tmp_path,
):
    """A recalled run stores nothing, where the run planned in full it stands for stores its
    records again: an undo of an earlier run leaves the same records either way (those the
    later run left), and the next delta applies alike."""
    district = tiny_district()
    delta = {
        "users": _set(district, "users", "u-s1", givenName="Samuel")["users"]
        .filter(pl.col("sourcedId") == "u-s1")
        .with_columns(pl.lit("active").alias("status"))
    }
    left = {}
    for name, full in (("recalled", False), ("full", True)):
        w = warehouse(tmp_path, name)
        first = w.sync(district, settings=GUARD_OFF)
        again = w.sync(district, settings=GUARD_OFF, full=full)
        assert again.planning == ("full" if full else "recalled")
        undone = undo_run(w.path, first.run_id)
        assert "stay as the later runs left them" in undone.message
        after = w.sync(delta, modes={"users": "delta"}, settings=GUARD_OFF)
        assert after.outcome == "applied"
        left[name] = (source_records(w), lms(w))
    assert left["recalled"][0].keys() == left["full"][0].keys()
    for name in left["full"][0]:
        assert_frame_equal(left["recalled"][0][name], left["full"][0][name])
    assert_same_lms(left["recalled"][1], left["full"][1])


@pytest.mark.parametrize("outcome", ["held", "rejected"])
def test_undo_is_refused_for_a_run_that_applied_nothing(tmp_path, outcome):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district())
    frames = without_students(tiny_district())
    if outcome == "rejected":
        frames = _set(tiny_district(), "users", "u-s1", role="pupil")
    not_applied = w.sync(frames)
    assert not_applied.outcome == outcome
    with pytest.raises(OperationRefused, match="not applied"):
        undo_run(w.path, not_applied.run_id)
    with pytest.raises(OperationRefused) as missing:
        undo_run(w.path, 99)
    # the file, not "this warehouse": a cron log of many warehouses shows which it was
    assert str(missing.value) == (
        f"there is no run 99 in this warehouse, {w.path} (`rosterflow runs --warehouse {w.path}`)"
    )


def test_undo_of_a_held_run_says_which_run_to_undo_once_it_was_approved(tmp_path):
    """It suggested `discard`, which the approved run then refuses."""
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district())
    held = w.sync(without_students(tiny_district()))
    with pytest.raises(
        OperationRefused, match=f"`rosterflow discard {held.run_id} --warehouse {w.path}` drops"
    ):
        undo_run(w.path, held.run_id)
    approved = approve_run(w.path, held.run_id)

    with pytest.raises(OperationRefused) as refused:
        undo_run(w.path, held.run_id)

    assert str(refused.value) == (
        f"run {held.run_id} was held, not applied: it changed nothing to undo; it was approved "
        f"by run {approved.run_id}, which applied its plan: `rosterflow undo {approved.run_id} "
        f"--warehouse {w.path}` undoes that"
    )
    assert undo_run(w.path, approved.run_id).outcome == "applied"


@pytest.mark.slow
def test_an_undo_can_itself_be_undone(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district(), settings=GUARD_OFF)
    done = w.sync(removed(tiny_district()), settings=GUARD_OFF)
    after_done = lms(w)
    undone = undo_run(w.path, done.run_id)
    with pytest.raises(OperationRefused, match="already undone"):
        undo_run(w.path, done.run_id)

    undo_run(w.path, undone.run_id)

    assert_same_lms(lms(w), after_done)


def test_a_run_whose_undo_was_undone_names_the_undo_that_takes_its_changes_back(tmp_path):
    """It named the undo, which was undone already: undoing that is refused too."""
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district(), settings=GUARD_OFF)
    done = w.sync(removed(tiny_district()), settings=GUARD_OFF)
    undone = undo_run(w.path, done.run_id)
    redone = undo_run(w.path, undone.run_id)

    with pytest.raises(OperationRefused) as refused:
        undo_run(w.path, done.run_id)

    assert str(refused.value) == (
        f"run {done.run_id} was undone by run {undone.run_id}, itself undone by run "
        f"{redone.run_id}, so its changes are back: `rosterflow undo {redone.run_id} "
        f"--warehouse {w.path}` takes them back again"
    )
    with pytest.raises(OperationRefused) as refused:
        undo_run(w.path, undone.run_id)
    assert str(refused.value) == (
        f"run {undone.run_id} was already undone by run {redone.run_id}, so its changes are "
        f"taken back (`rosterflow undo {redone.run_id} --warehouse {w.path}` would bring "
        "them back)"
    )


def test_the_undone_details_name_what_went_back(tmp_path):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district(), settings=GUARD_OFF)
    done = w.sync(edited(tiny_district()), settings=GUARD_OFF)
    undone = undo_run(w.path, done.run_id)
    detail = json.loads(w.changes(undone.run_id).row(0, named=True)["detail"])
    assert detail == {
        "given_name": {"from": "Samantha", "to": "Sam"},
        "email": {"from": "sam@north.example", "to": "sam.stone@example.org"},
    }


@pytest.mark.slow
def test_what_a_run_replaced_is_kept_30_days_and_an_older_run_keeps_the_records_on_undo(
    tmp_path,
):
    w = warehouse(tmp_path, "w")
    w.sync(tiny_district(), settings=GUARD_OFF)
    done = w.sync(removed(tiny_district()), settings=GUARD_OFF, full=True)  # new bases
    superseded = "select count(*) as n from oneroster.snapshots where superseded_run_id = ?"
    assert w.query(superseded, [done.run_id])["n"][0] > 0
    records_now = source_records(w)
    w.execute(
        "update audit.sync_runs set started_at = started_at - interval 40 days where run_id = ?",
        [done.run_id],
    )

    undone = undo_run(w.path, done.run_id)

    assert "kept for 30 days only" in undone.message
    assert w.row("users", "or--u-s2")["status"] == "active"  # lms is restored all the same
    for name, rows in records_now.items():
        assert_frame_equal(source_records(w)[name], rows)
    # the next sync that stores records forgets what runs older than 30 days replaced
    w.sync(edited(tiny_district()), settings=GUARD_OFF, full=True)
    assert w.query(superseded, [done.run_id])["n"][0] == 0


# --- undo as a property ---------------------------------------------------------------------------

UNGUARDED = any_settings(
    Safety(max_removal_share=1.0, max_school_removal_share=1.0, login_changes="warn")
)


def source_records(w: Warehouse) -> dict[str, pl.DataFrame]:
    with connect(w.path, read_only=True) as con:
        stored = stored_records(con, w.tenant)
    return {name: stored[name].drop("run_id", "line").sort("sourcedId") for name in SYNCED_FILES}


@pytest.mark.slow
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    students=st.integers(30, 80),
    seed=st.integers(0, 50),
    config=UNGUARDED,
    data=st.data(),
)
def test_undo_restores_every_row_and_record_and_the_feed_applies_again_alike(
    tmp_path_factory, students, seed, config, data
):
    w = Warehouse(tmp_path_factory.mktemp("undo"))
    district = generate_feed(students, seed=seed)
    w.sync(district, settings=config)
    rows_before, records_before = lms(w), source_records(w)
    changed, made, forced = change(district, data, data.draw(st.integers(1, 4), label="changes"))
    files, modes = sent_as(data, district, changed, forced)
    done = w.sync(files, modes=modes, settings=config)
    assert done.outcome == "applied", done.message
    if done.summary.height == 0:
        with pytest.raises(OperationRefused, match="nothing to undo"):
            undo_run(w.path, done.run_id)
        return

    undo_run(w.path, done.run_id)

    note = f"after {made}, files {modes}"
    assert_same_lms(lms(w), rows_before)
    for name, rows in records_before.items():
        try:
            assert_frame_equal(source_records(w)[name], rows)
        except AssertionError as error:
            raise AssertionError(f"the stored {name} differ {note}") from error
    again = w.sync(files, modes=modes, settings=config)
    assert again.planning == "full", again.planning_note
    assert counts(again) == counts(done), note
    assert_frame_equal(
        w.changes(again.run_id).drop("detail"), w.changes(done.run_id).drop("detail")
    )


def _foreign(path: Path) -> bytes:
    """A DuckDB file of someone else's, with a table of its own."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("create table t (a integer)")
    return path.read_bytes()


def test_listing_runs_refuses_a_file_that_is_no_warehouse_and_changes_nothing(tmp_path):
    from rosterflow.warehouse.schema import WarehouseError

    foreign = tmp_path / "foreign.duckdb"
    before = _foreign(foreign)
    with pytest.raises(WarehouseError, match="not a rosterflow warehouse"):
        runs(foreign)
    assert foreign.read_bytes() == before


def test_listing_runs_of_a_newer_warehouse_says_to_upgrade_and_migrates_nothing(tmp_path):
    from rosterflow.warehouse.schema import WarehouseError

    w = Warehouse(tmp_path, tenant="north")
    w.sync(tiny_district())
    w.execute("insert into audit.schema_migrations values (99, 'future', now()::timestamp)")
    before = w.path.read_bytes()
    with pytest.raises(WarehouseError, match=r"newer rosterflow.*upgrade rosterflow$"):
        runs(w.path)
    assert w.path.read_bytes() == before


def test_an_operation_on_a_file_that_is_no_warehouse_is_refused_and_changes_nothing(tmp_path):
    from rosterflow.warehouse.schema import WarehouseError

    foreign = tmp_path / "foreign.duckdb"
    before = _foreign(foreign)
    for operate in (approve_run, discard_run, undo_run):
        with pytest.raises(WarehouseError, match="not a rosterflow warehouse"):
            operate(foreign, 1)
    assert foreign.read_bytes() == before


def test_a_limit_larger_than_any_warehouse_holds_lists_every_run(tmp_path):
    """`rosterflow runs --limit 99999999999999999999999` ended in DuckDB's traceback (a LIMIT
    past a BIGINT); as many runs as there are, for one file and for a layout alike."""
    w = Warehouse(tmp_path, tenant="north")
    w.sync(tiny_district())
    w.sync(tiny_district())

    assert runs(w.path, limit=10**23)["run_id"].to_list() == [2, 1]
    assert runs(w.path, limit=1)["run_id"].to_list() == [2]
