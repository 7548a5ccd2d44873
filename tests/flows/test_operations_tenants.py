"""approve, discard and undo in a per-tenant layout: a run id picks its tenant's file, a
refusal names that file, and no other tenant's file changes."""

from __future__ import annotations

import shlex

import pytest

from rosterflow.flows.operations import approve_run, discard_run, undo_run
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.layout import ID_BITS
from rosterflow.warehouse.operations import OperationRefused
from tests.feeds import tiny_district
from tests.syncing import every_row

TEMPLATE = "wh/{tenant}.duckdb"


@pytest.mark.slow
@pytest.mark.parametrize("operation", [approve_run, discard_run, undo_run])
def test_a_run_id_its_tenants_file_lacks_is_refused_naming_that_file(tmp_path, operation):
    """The refusal said "in this warehouse", which in a layout is no file in particular."""
    template = str(tmp_path / TEMPLATE)
    for tenant in ("north", "south"):
        feed = write_feed(tmp_path / f"{tenant}.zip", tiny_district())
        assert run_sync(feed, template, Settings(), tenant=tenant).outcome == "applied"
    south = every_row(tmp_path / "wh" / "south.duckdb")
    missing = (1 << ID_BITS) + 99  # north's range, no run of north's

    with pytest.raises(OperationRefused) as refused:
        operation(template, missing)

    assert str(refused.value) == (
        f"there is no run {missing} in {tmp_path / 'wh' / 'north.duckdb'}, the file of "
        f"{template} its id points to (`rosterflow runs --warehouse {shlex.quote(template)}`)"
    )
    assert every_row(tmp_path / "wh" / "south.duckdb") == south
