"""The notebooks' queries against warehouses that runs left in states the demo does not reach
(a school's last enrollments ended), run in this process through marimo's API."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.feeds import tiny_district
from tests.notebooks.school_changes import roster_history_run
from tests.syncing import Warehouse

SOUTH = "South High"  # s2: its one section, k3, holds enrollments e5 (teacher) and e6 (student)


def test_a_school_whose_enrollments_all_end_counts_zero_from_that_run(tmp_path: Path):
    """Run 2 ends both of South High's enrollments: the enrollments over time of South High
    show 0 after run 2, not its count after run 1 held on as if nothing had changed."""
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    assert warehouse.sync(district).outcome == "applied"
    south_gone = {
        **district,
        "enrollments": district["enrollments"].filter(~pl.col("sourcedId").is_in(["e5", "e6"])),
    }
    ended = warehouse.sync(south_gone, settings={"safety": {"max_removal_share": 1}})
    assert ended.outcome == "applied"
    assert warehouse.actions(ended.run_id) >= {
        ("enrollment", "or--e5", "inactivate"),
        ("enrollment", "or--e6", "inactivate"),
    }

    with roster_history_run(warehouse.path, "notebook_roster_history_qa") as (module, defs):
        over_time = module.WAREHOUSE.query(
            defs["ENROLLMENTS_OVER_TIME_SQL"], tenant=warehouse.tenant, sections_only=True
        )

    south = over_time.filter(pl.col("school") == SOUTH).select("run_id", "role", "enrollments")
    assert south.sort("run_id", "role").rows() == [
        (1, "student", 1),
        (1, "teacher", 1),
        (2, "student", 0),
        (2, "teacher", 0),
    ]
    # North High's enrollments did not change: its counts after run 2 are those after run 1
    north = over_time.filter(pl.col("school") == "North High")
    assert north.filter(pl.col("run_id") == 2).select("role", "enrollments").sort(
        "role"
    ).rows() == [
        ("student", 2),
        ("teacher", 2),
    ]
