"""The tenant's lms rows as the incremental plan reads them (`warehouse.state`)."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import WarehouseCurrent
from tests.feeds import tiny_district
from tests.syncing import Warehouse


@pytest.mark.parametrize("entity", ["user", "enrollment", "resource"])
def test_no_keys_read_what_keys_found_nowhere_read(tmp_path, entity):
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(tiny_district()).outcome == "applied"
    with connect(warehouse.path, read_only=True) as con:
        current = WarehouseCurrent(con, warehouse.tenant)
        nowhere = pl.Series(["or-nobody"])
        none = pl.Series([], dtype=pl.String)
        assert_frame_equal(current.rows(entity, none), current.rows(entity, nowhere))
        assert_frame_equal(current.ids(entity, none), current.ids(entity, nowhere))
        # and keys that are there are found
        some = current.rows(entity).get_column("external_id").head(2)
        assert current.rows(entity, some).height == current.ids(entity, some).height == some.len()
