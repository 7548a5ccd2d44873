"""What a held run whose kept plan is gone says when it is approved: a refusal naming the run
and how to drop it, in one line, exit 1, nothing written; not a KeyError traceback."""

from __future__ import annotations

import shlex

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.warehouse.held import OutdatedHeldPlan, load_held
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district, without_students
from tests.syncing import Warehouse, every_row

runner = CliRunner()


@pytest.mark.slow
def test_a_held_run_whose_plan_was_deleted_is_refused_and_can_still_be_discarded(tmp_path):
    """A team freeing space deleted a held run's rows of audit.held_plans: `approve` of it
    ended in a KeyError traceback."""
    w = Warehouse(tmp_path)
    w.sync(tiny_district())
    held = w.sync(without_students(tiny_district()))
    assert held.outcome == "held"
    w.execute("delete from audit.held_plans where run_id = ?", [held.run_id])
    before = every_row(w.path)

    approved = runner.invoke(app, ["approve", str(held.run_id), "--warehouse", str(w.path)])

    discard = f"rosterflow discard {held.run_id} --warehouse {shlex.quote(str(w.path))}"
    assert approved.exit_code == 1, approved.output
    assert approved.output == (
        f"rosterflow: refused: run {held.run_id} is held, but its plan is not in "
        "audit.held_plans (deleted by hand?): it cannot be applied; sync the feed again "
        f"(`{discard}` drops this run)\n"
    )
    assert every_row(w.path) == before
    discarded = runner.invoke(app, shlex.split(discard)[1:])
    assert discarded.exit_code == 0, discarded.output
    assert w.query(
        "select decision from audit.decisions where run_id = ?", [held.run_id]
    ).rows() == [("discarded",)]


def test_a_plan_kept_without_its_changes_is_refused_naming_them(tmp_path):
    """Its state kept, its changes gone: a KeyError on `changes` before."""
    w = Warehouse(tmp_path)
    w.sync(tiny_district())
    held = w.sync(without_students(tiny_district()))
    w.execute("delete from audit.held_plans where run_id = ? and part = 'changes'", [held.run_id])

    with connect(w.path) as con, pytest.raises(OutdatedHeldPlan) as refused:
        load_held(con, held.run_id, "rosterflow discard 2 --warehouse w.duckdb")

    assert "whose plan has no domain, user, course" in str(refused.value)
    assert str(refused.value).endswith(
        "(`rosterflow discard 2 --warehouse w.duckdb` drops this run)"
    )
