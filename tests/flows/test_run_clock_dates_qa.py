"""A run starts after the tenant's latest applied run, whatever its machine's clock says."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rosterflow.flows import operations, steps
from rosterflow.flows.operations import undo_run
from rosterflow.warehouse.runs import utc_now
from tests.feeds import tiny_district, with_cell
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

RENAMED = with_cell(tiny_district(), "users", 2, "givenName", "Renamed")


def behind() -> object:
    """A clock 5 minutes behind the one that started the runs before (a pool's worker on
    another machine, a clock set back)."""
    return lambda: utc_now() - timedelta(minutes=5)


def assert_in_order(warehouse: Warehouse) -> None:
    starts = warehouse.query("select started_at from audit.sync_runs order by run_id")
    assert starts["started_at"].is_sorted()
    versions = warehouse.query(
        "select valid_from, valid_to from history.users where external_id = 'or--u-s1'"
    )
    assert versions.filter(versions["valid_to"] <= versions["valid_from"]).is_empty()


def test_a_sync_on_a_clock_behind_starts_after_the_latest_run(tmp_path, monkeypatch):
    """Its versions began before the ones they closed: the roster history notebook's latest
    version (by valid_from) was the old one, ended, and the student read as deleted."""
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    monkeypatch.setattr(steps, "utc_now", behind())
    warehouse.sync(RENAMED)
    assert_in_order(warehouse)


def test_an_undo_on_a_clock_behind_starts_after_the_run_it_undoes(tmp_path, monkeypatch):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    renamed = warehouse.sync(RENAMED)
    monkeypatch.setattr(operations, "utc_now", behind())
    undo_run(warehouse.path, renamed.run_id)
    assert_in_order(warehouse)
