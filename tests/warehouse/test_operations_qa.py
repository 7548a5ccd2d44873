"""`list_runs` of a tenant typed in another Unicode form than the one its runs are recorded
under, against a real DuckDB file."""

from __future__ import annotations

import unicodedata

import polars as pl
import pytest

from rosterflow.warehouse.apply import record_run
from rosterflow.warehouse.operations import later_changes, list_runs, tenants_with_runs
from rosterflow.warehouse.schema import connect
from tests.recorded import NO_ISSUES, run_record

COMPOSED = unicodedata.normalize("NFC", "Montréal")  # `é` one character, as most SIS send it
DECOMPOSED = unicodedata.normalize("NFD", "Montréal")  # `e` and an accent, as a Mac types it


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        yield con


def _record(con, tenant: str) -> int:
    run = run_record(con, tenant=tenant)
    record_run(con, run, NO_ISSUES, None)
    return run.run_id


def test_a_tenant_typed_in_another_unicode_form_finds_its_runs(con):
    """`rosterflow runs --tenant Montréal` typed decomposed said "no runs of tenant Montréal
    (the tenants with runs: Montréal)"."""
    montreal = _record(con, COMPOSED)
    _record(con, "north")

    listed = list_runs(con, DECOMPOSED)

    assert listed["run_id"].to_list() == [montreal]
    assert listed["tenant"].to_list() == [COMPOSED]


def test_a_warehouse_holding_both_forms_lists_the_form_asked_for(con):
    """Both forms synced before syncs refused the second: each is a tenant of its own, and
    asking for one lists its runs only."""
    composed = _record(con, COMPOSED)
    decomposed = _record(con, DECOMPOSED)

    assert list_runs(con, COMPOSED)["run_id"].to_list() == [composed]
    assert list_runs(con, DECOMPOSED)["run_id"].to_list() == [decomposed]
    assert tenants_with_runs(con) == sorted([COMPOSED, DECOMPOSED])


def test_another_name_still_finds_nothing(con):
    _record(con, COMPOSED)

    assert list_runs(con, "Montreal").height == 0
    assert list_runs(con, None)["tenant"].to_list() == [COMPOSED]


def _outcome(con, tenant: str, outcome: str) -> int:
    run = run_record(con, outcome, tenant=tenant)
    record_run(con, run, NO_ISSUES, None)
    return run.run_id


def test_a_held_run_a_later_applied_run_overtook_is_listed_as_overtaken(con):
    """`runs` showed such a run as `held` with no decision, as if it waited for one: its
    approval is refused (its plan no longer fits). A run of another tenant, a dry run and a
    held run decided on overtake nothing."""
    overtaken = _outcome(con, "north", "held")
    _outcome(con, "south", "applied")
    _outcome(con, "north", "planned")
    discarded = _outcome(con, "north", "held")
    con.execute(
        "insert into audit.decisions values (?, 'discarded', now(), null, null)", [discarded]
    )
    waiting = _outcome(con, "south", "held")
    first = _outcome(con, "north", "applied")
    _outcome(con, "north", "applied")

    decisions = dict(list_runs(con).select("run_id", "decision").iter_rows())

    assert decisions[overtaken] == f"overtaken by run {first}"
    assert decisions[discarded] == "discarded"
    assert decisions[waiting] is None


def test_a_later_run_counts_each_row_it_changed_again_by_id_or_external_id_once(con):
    """`later_changes`: a row a later run changed under the same id, or gave the same external
    ID to under another id (deleted and made again), counts once per run, however it matched;
    another tenant's run, a dry run and an earlier run count for nothing."""
    earlier = _outcome(con, "north", "applied")
    undone = _outcome(con, "north", "applied")
    later = _outcome(con, "north", "applied")
    _outcome(con, "north", "planned")
    other = _outcome(con, "south", "applied")
    changes = [
        (earlier, "user", "or--u1", "update", None, 1),
        (later, "user", "or--u1", "update", None, 1),  # by id and external ID: once
        (later, "user", "or--u2", "create", None, 9),  # by external ID alone
        (later, "enrollment", "or--e1", "update", None, 3),  # by id alone
        (later, "enrollment", "or--e9", "update", None, 2),  # an id the run did not touch
        (later + 1, "user", "or--u1", "update", None, 1),  # a dry run
        (other, "user", "or--u1", "update", None, 1),  # another tenant
    ]
    con.executemany("insert into audit.changes_stored values (?, ?, ?, ?, ?, ?)", changes)
    touched = pl.DataFrame(
        {
            "entity": ["user", "user", "enrollment"],
            "entity_id": [1, 2, 3],
            "external_id": ["or--u1", "or--u2", "or--e1-old"],
        }
    )

    found = later_changes(con, "north", undone, touched)

    assert found.rows() == [(later, 3)]
