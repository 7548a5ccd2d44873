"""The notebooks' queries against warehouses that runs left in states the demo does not reach
(a school's last enrollments ended), run in this process through marimo's API."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.feeds import tiny_district
from tests.notebooks.school_changes import roster_history_run
from tests.syncing import Warehouse

SOUTH = "South High"  # s2: its one section, k3, holds enrollments e5 (teacher) and e6 (student)
RENAMED = "South High School"  # s2 as the SIS names it from some run on


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_school_renamed_is_one_school_under_its_latest_name(tmp_path: Path):
    """Run 2 renames South High in the SIS (orgs.csv), run 3 ends a North High enrollment: none
    of South High's enrollments ended, and the enrollments over time count them under its
    latest name at every run. Named as each run saw it, South High dropped to 0 at run 3 (the
    first run after the rename that changed enrollments) and a new school took them all."""
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    assert warehouse.sync(district).outcome == "applied"
    renamed = {
        **district,
        "orgs": district["orgs"].with_columns(
            pl.when(pl.col("sourcedId") == "s2")
            .then(pl.lit(RENAMED))
            .otherwise(pl.col("name"))
            .alias("name")
        ),
    }
    rename = warehouse.sync(renamed)
    assert warehouse.actions(rename.run_id) == {("domain", "or--s2", "update")}
    north_ends = {
        **renamed,
        "enrollments": renamed["enrollments"].filter(pl.col("sourcedId") != "e2"),
    }
    ended = warehouse.sync(north_ends)
    assert ("enrollment", "or--e2", "inactivate") in warehouse.actions(ended.run_id)

    with roster_history_run(warehouse.path, "notebook_roster_history_rename_qa") as (module, defs):
        over_time = module.WAREHOUSE.query(
            defs["ENROLLMENTS_OVER_TIME_SQL"], tenant=warehouse.tenant, sections_only=True
        )

    # run 2 changed no enrollment: its counts are run 1's, which the chart holds until run 3
    assert over_time.select("run_id", "school", "role", "enrollments").sort(
        "run_id", "school", "role"
    ).rows() == [
        (1, "North High", "student", 2),
        (1, "North High", "teacher", 2),
        (1, RENAMED, "student", 1),
        (1, RENAMED, "teacher", 1),
        (3, "North High", "student", 1),
        (3, "North High", "teacher", 2),
        (3, RENAMED, "student", 1),
        (3, RENAMED, "teacher", 1),
    ]
