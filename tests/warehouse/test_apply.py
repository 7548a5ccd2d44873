"""Writing a run: a run that fails is recorded as failed, unless the warehouse cannot record
even that, and then nothing says it was."""

from __future__ import annotations

import duckdb
import pytest

from rosterflow.warehouse import apply
from rosterflow.warehouse.schema import WarehouseError
from tests.feeds import tiny_district, with_cell
from tests.syncing import Warehouse


def test_a_run_the_warehouse_cannot_record_as_failed_is_an_unusable_warehouse(
    tmp_path, monkeypatch
):
    warehouse = Warehouse(tmp_path, tenant="north")
    assert warehouse.sync(tiny_district()).outcome == "applied"
    recorded = apply.record_run

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    def record_run(con, run, issues, writes=None, also=None):
        if run.outcome == "failed":  # as when the disk stays full, or the .wal cannot be made
            raise duckdb.IOException('Cannot open file "w.duckdb.wal": Permission denied')
        recorded(con, run, issues, writes, also)

    monkeypatch.setattr(apply, "_pause_for_kill_test", disk_full)
    monkeypatch.setattr(apply, "record_run", record_run)
    changed = with_cell(tiny_district(), "users", 0, "familyName", "Byron")

    with pytest.raises(WarehouseError) as unusable:
        warehouse.sync(changed)

    message = str(unusable.value)
    assert message.startswith("run 2 of tenant north failed (OSError: [Errno 28] No space")
    assert "recording it as failed failed too (IOException: " in message
    assert message.endswith("the run is not in audit.sync_runs")
    assert isinstance(unusable.value.__cause__, OSError)
    monkeypatch.undo()
    assert warehouse.query("select run_id, outcome from audit.sync_runs").rows() == [(1, "applied")]
