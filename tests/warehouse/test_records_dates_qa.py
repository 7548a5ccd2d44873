"""What a run replaced is kept its days by UTC, whatever the machine's time zone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rosterflow.warehouse.records import KEEP_DAYS, prune_superseded
from rosterflow.warehouse.runs import utc_now
from rosterflow.warehouse.schema import connect, transaction
from tests.feeds import tiny_district, with_cell
from tests.syncing import Warehouse

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow


def test_what_a_run_replaced_is_kept_its_days_in_a_zone_east_of_utc(tmp_path):
    """The cut-off was `now()::timestamp`, the machine's local time, against audit's UTC: in
    Asia/Kolkata a run 29 days 22 hours old lost what it replaced, which undo (by UTC) still
    counted on restoring."""
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    second = warehouse.sync(with_cell(tiny_district(), "orgs", 2, "name", "North High School"))
    started = utc_now() - timedelta(days=KEEP_DAYS) + timedelta(hours=2)
    warehouse.execute(
        "update audit.sync_runs set started_at = ? where run_id = ?", [started, second.run_id]
    )
    with connect(warehouse.path) as con:
        con.execute("set TimeZone = 'Asia/Kolkata'")  # as DuckDB takes the machine's zone
        kept = "select count(*) from oneroster.kept_records"
        before = con.execute(kept).fetchone()[0]
        with transaction(con):
            prune_superseded(con, warehouse.tenant)
        assert before > 0 and con.execute(kept).fetchone()[0] == before
