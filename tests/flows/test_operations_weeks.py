"""Undo, approve and discard as a district data team meets them over weeks, in a warehouse that
is not the default one (`--warehouse /srv/sis/wh.duckdb` from cron, decided from another
folder): every command a refusal suggests must act on the warehouse refused, whichever folder
it is copied into, and name the run that is really in effect."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.flows.operations import OperationRefused, approve_run, undo_run
from rosterflow.warehouse.layout import ID_BITS
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district, without_students
from tests.syncing import Warehouse, every_row

runner = CliRunner()
GUARD_OFF = {"safety": {"max_removal_share": 1.0, "max_school_removal_share": 1.0}}


def _copied(command: str) -> list[str]:
    """The arguments of a `rosterflow ...` command a message suggests, as a shell splits it."""
    words = shlex.split(command)
    assert words[0] == "rosterflow"
    return words[1:]


def _suggested(refused: pytest.ExceptionInfo[OperationRefused]) -> str:
    """The one command between backquotes of a refusal."""
    quoted = str(refused.value).split("`")
    assert len(quoted) == 3, refused.value
    return quoted[1]


def _districts(tmp_path: Path) -> tuple[Warehouse, Warehouse]:
    """The warehouse the team decides on, in a folder of its own, and a default warehouse
    (`rosterflow.duckdb`) of another district in the folder the team types in, its runs
    numbered as the first one's are."""
    named_dir, here = tmp_path / "srv", tmp_path / "here"
    named_dir.mkdir()
    here.mkdir()
    named, default = Warehouse(named_dir), Warehouse(here, tenant="other")
    default.path = here / "rosterflow.duckdb"
    return named, default


@pytest.mark.slow
def test_the_undo_a_refusal_suggests_undoes_the_run_of_the_warehouse_refused(tmp_path, monkeypatch):
    """`rosterflow undo 2 --warehouse /srv/wh.duckdb` refused with "`rosterflow undo 3` would
    bring them back": copied in a folder with a `rosterflow.duckdb`, it undid run 3 of that
    warehouse, another district's."""
    named, default = _districts(tmp_path)
    for w in (named, default):
        w.sync(tiny_district(), settings=GUARD_OFF)
        w.sync(without_students(tiny_district()), settings=GUARD_OFF)
    done = 2
    undone = undo_run(named.path, done)
    default.sync(tiny_district(), settings=GUARD_OFF)  # run 3 of the other district
    others = every_row(default.path)

    with pytest.raises(OperationRefused) as refused:
        undo_run(named.path, done)
    monkeypatch.chdir(default.dir)
    redone = runner.invoke(app, _copied(_suggested(refused)))

    assert redone.exit_code == 0, redone.output
    assert f"undid run {undone.run_id}" in redone.output
    assert every_row(default.path) == others
    assert named.query(
        "select decision, result_run_id from audit.decisions where run_id = ?", [undone.run_id]
    ).rows() == [("undone", undone.run_id + 1)]


@pytest.mark.slow
def test_a_held_run_approved_then_undone_names_the_undo_in_effect(tmp_path, monkeypatch):
    """Undo of a held run approved by run 4, which run 5 undid since, said "`rosterflow undo 4`
    undoes that": copied, it is refused in turn (run 4 was undone already)."""
    named, default = _districts(tmp_path)
    named.sync(tiny_district())
    held = named.sync(without_students(tiny_district()))
    assert held.outcome == "held"
    approved = approve_run(named.path, held.run_id)
    undone = undo_run(named.path, approved.run_id)

    with pytest.raises(OperationRefused) as refused:
        undo_run(named.path, held.run_id)

    assert str(refused.value) == (
        f"run {held.run_id} was held, not applied: it changed nothing to undo; it was approved "
        f"by run {approved.run_id}, which applied its plan, and run {approved.run_id} was "
        f"already undone by run {undone.run_id}, so its changes are taken back (`rosterflow undo "
        f"{undone.run_id} --warehouse {shlex.quote(str(named.path))}` would bring them back)"
    )
    default.sync(tiny_district())  # a default warehouse where the command is copied
    monkeypatch.chdir(default.dir)
    brought_back = runner.invoke(app, _copied(_suggested(refused)))
    assert brought_back.exit_code == 0, brought_back.output
    assert f"undid run {undone.run_id}" in brought_back.output


def test_the_default_warehouse_is_not_named(tmp_path, monkeypatch):
    """In the default warehouse the command reads as the docs show it, without --warehouse."""
    monkeypatch.chdir(tmp_path)
    w = Warehouse(tmp_path)
    w.path = Path("rosterflow.duckdb")
    w.sync(tiny_district())
    held = w.sync(without_students(tiny_district()))

    with pytest.raises(OperationRefused) as refused:
        undo_run(w.path, held.run_id)

    assert _suggested(refused) == f"rosterflow discard {held.run_id}"


def test_a_missing_run_names_the_runs_of_the_warehouse_refused(tmp_path):
    """ "there is no run 99 in this warehouse, /srv/wh.duckdb (`rosterflow runs`)": that lists
    the default warehouse's runs, or none ("no such warehouse", exit 2)."""
    w = Warehouse(tmp_path)
    w.sync(tiny_district())

    with pytest.raises(OperationRefused) as refused:
        approve_run(w.path, 99)

    assert str(refused.value) == (
        f"there is no run 99 in this warehouse, {w.path} "
        f"(`rosterflow runs --warehouse {shlex.quote(str(w.path))}`)"
    )
    listed = runner.invoke(app, _copied(_suggested(refused)))
    assert listed.exit_code == 0, listed.output
    assert "tiny" in listed.output or "district" in listed.output


def test_a_layouts_run_id_in_a_one_file_warehouse_says_whose_it_is(tmp_path):
    """A run id copied from a per-tenant layout's runs, with the layout's tenant file or
    another one-file warehouse named, was "no run" alone: the id itself says which kind of
    warehouse numbers it."""
    w = Warehouse(tmp_path)
    w.sync(tiny_district())
    layout_run = (2 << ID_BITS) + 2

    with pytest.raises(OperationRefused) as refused:
        undo_run(w.path, layout_run)

    assert str(refused.value).endswith(
        f"; run ids from {1 << ID_BITS:,} up are a per-tenant layout's: name its template, "
        "--warehouse 'dir/{tenant}.duckdb')"
    )


@pytest.mark.slow
def test_an_outdated_held_plan_names_the_warehouse_to_discard_it_in(tmp_path):
    """A plan held by a rosterflow before resources were synced: its refusal said
    `rosterflow discard RUN`, which reads the default warehouse."""
    w = Warehouse(tmp_path)
    w.sync(tiny_district())
    held = w.sync(without_students(tiny_district()))
    with connect(w.path) as con:
        con.execute(
            "delete from audit.held_plans where run_id = ? and part = 'changes' "
            "and name = 'resource'",
            [held.run_id],
        )

    with pytest.raises(OperationRefused) as refused:
        approve_run(w.path, held.run_id)

    assert _suggested(refused) == (
        f"rosterflow discard {held.run_id} --warehouse {shlex.quote(str(w.path))}"
    )
    discarded = runner.invoke(app, _copied(_suggested(refused)))
    assert discarded.exit_code == 0, discarded.output


@pytest.mark.slow
def test_an_undo_that_deletes_a_user_rows_made_by_hand_point_at_warns_as_a_sync_does(tmp_path):
    """Run 2 brought the students; a teacher enrolled one by hand in the platform; undoing
    run 2 deleted that student and left the enrollment pointing at no user, without a word
    (a sync deleting the user warns, `user.delete_leaves_hand_made`)."""
    w = Warehouse(tmp_path)
    w.sync(without_students(tiny_district()), settings=GUARD_OFF)
    brought = w.sync(tiny_district(), settings=GUARD_OFF)
    student = w.row("users", "or--u-s1")
    section = w.query(
        "select course_id from lms.courses where tenant = ? and kind = 'section' "
        "order by course_id limit 1",
        [w.tenant],
    ).item()
    w.execute(
        "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, course_id, "
        "role, is_primary, status) values (1000000, ?, null, ?, ?, 'student', false, 'active')",
        [w.tenant, student["user_id"], section],
    )

    undone = undo_run(w.path, brought.run_id)

    expected = (
        f"user {student['user_id']} (u-s1) is deleted, but rows made by hand still point at it: "
        "1 enrollment; they are left as they are (delete them by hand)"
    )
    assert undone.issues.select("rule", "severity", "message").rows() == [
        ("user.delete_leaves_hand_made", "warning", expected)
    ]
    assert w.query(
        "select rule, message from audit.issues where run_id = ?", [undone.run_id]
    ).rows() == [("user.delete_leaves_hand_made", expected)]
    # the row made by hand is left as it was
    assert w.query(
        "select user_id, course_id from lms.enrollments where enrollment_id = 1000000"
    ).rows() == [(student["user_id"], section)]


@pytest.mark.slow
def test_the_held_runs_message_in_audit_approves_it_from_any_folder(tmp_path, monkeypatch):
    """A held run's message in audit (what `rosterflow runs`, the notebooks and a flow run's
    artifact show) named `rosterflow approve 2` alone: copied into a folder with a
    `rosterflow.duckdb`, it acted on that warehouse, another district's."""
    named, default = _districts(tmp_path)
    for w in (named, default):
        w.sync(tiny_district())
    held = named.sync(without_students(tiny_district()))
    default.sync(without_students(tiny_district()))  # held too, as run 2 of the other district
    assert held.outcome == "held"
    (message,) = named.query(
        "select message from audit.sync_runs where run_id = ?", [held.run_id]
    ).rows()[0]
    approve = message.split("`")[1]
    assert approve == f"rosterflow approve {held.run_id} --warehouse {named.path.resolve()}"

    monkeypatch.chdir(default.dir)
    approved = runner.invoke(app, _copied(approve))

    assert approved.exit_code == 0, approved.output
    decided = "select decision from audit.decisions where run_id = ?"
    assert named.query(decided, [held.run_id]).rows() == [("approved",)]
    assert default.query(decided, [held.run_id]).rows() == []


def test_the_default_warehouse_is_named_in_no_held_message(tmp_path):
    from rosterflow.flows.steps import held_commands

    assert held_commands(4, "rosterflow.duckdb") == (
        "rosterflow approve 4",
        "rosterflow discard 4",
    )
    assert held_commands(4, tmp_path / "wh.duckdb")[1] == (
        f"rosterflow discard 4 --warehouse {tmp_path / 'wh.duckdb'}"
    )
