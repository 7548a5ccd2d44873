"""The run axis the notebooks share (notebooks/_shared.py): each run labelled with its id and
its start, as precisely as the runs need to be told apart, in run order."""

from __future__ import annotations

from datetime import datetime
from types import ModuleType

import polars as pl
import pytest
from polars.testing import assert_frame_equal

DEMO = (datetime(2026, 12, 4, 18, 15, 58, 943720), datetime(2026, 12, 4, 18, 15, 59, 355151))


@pytest.mark.parametrize(
    ("runs", "labels"),
    [
        pytest.param(
            [(1, datetime(2025, 9, 1, 6)), (2, datetime(2025, 10, 13, 6))] * 2,
            ["#1\n2025-09-01", "#2\n2025-10-13"] * 2,
            id="months apart: dates (a run's rows share its label)",
        ),
        pytest.param(
            [(1, datetime(2025, 9, 1, 6)), (2, datetime(2025, 9, 1, 14, 30))],
            ["#1\n2025-09-01\n06:00", "#2\n2025-09-01\n14:30"],
            id="hours apart: to the minute",
        ),
        pytest.param(
            [(1, DEMO[0]), (2, DEMO[1])],
            ["#1\n2026-12-04\n18:15:58", "#2\n2026-12-04\n18:15:59"],
            id="the demo's, seconds apart: to the second",
        ),
        pytest.param(
            [(1, DEMO[0]), (2, DEMO[0].replace(microsecond=0))],
            ["#1\n2026-12-04\n18:15:58", "#2\n2026-12-04\n18:15:58"],
            id="within a second: to the second, the ids tell them apart",
        ),
        pytest.param([], [], id="no runs"),
    ],
)
def test_a_run_is_labelled_with_its_id_and_start(
    shared: ModuleType, runs: list[tuple[int, datetime]], labels: list[str]
):
    frame = pl.DataFrame(
        runs, schema={"run_id": pl.Int64, "started_at": pl.Datetime("us")}, orient="row"
    )
    assert_frame_equal(
        shared.with_run_label(frame, at="started_at"),
        frame.with_columns(pl.Series("run", labels, dtype=pl.String)),
    )


def test_runs_stand_in_run_order_on_an_ordinal_axis(shared: ModuleType):
    frame = shared.with_run_label(
        pl.DataFrame(
            {
                "run_id": [10, 9, 10, 2],
                "at": [datetime(2025, 1, day) for day in (10, 9, 10, 2)],
            }
        ),
        at="at",
    )
    x = shared.run_axis(frame).to_dict()
    assert x["type"] == "ordinal" and x["field"] == "run"
    assert x["sort"] == ["#2\n2025-01-02", "#9\n2025-01-09", "#10\n2025-01-10"]


def test_picker_options_keep_every_value_of_a_label(shared):
    options = shared.picker_options([("a", 1), ("b", 2), ("a", 3), ("a", 4)], "user")
    assert options == {"a": 1, "b": 2, "a · user 3": 3, "a · user 4": 4}
