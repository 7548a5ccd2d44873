"""An incremental plan is the full plan, row for row.

A generated district is synced, then changed at random (tests/changes.py: edits, arrivals,
removals, moves, teacher swaps, unmarked primary teachers, re-parented schools, retitled
courses, re-assigned classes, adult links, reordered rows), sent with changed files in bulk or
as deltas and unchanged ones in bulk or absent, under random settings. Each changed feed is
planned twice on copies of the same warehouse: incrementally, and in full (`full=True`, the
oracle). The change sets must be equal, and so must everything the two runs leave behind: lms,
history, audit and the stored records. The next change then starts from the incremental run's
warehouse, so what an incremental run stores is what the next one builds on.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from flows import pipeline
from schemas.settings import POLICY_CHOICES, Hierarchy, Policy, Safety, Settings
from schemas.spec import SYNCED_FILES
from schemas.writer import write_feed
from tests.changes import change, sent_as
from transforms.generate import generate_feed
from warehouse.entities import ENTITIES
from warehouse.records import derived, stored_records
from warehouse.schema import connect

TENANT = "district"
_feeds = itertools.count(1)


def run_once(warehouse: Path, feed: Path, config: Settings, full: bool):
    """One sync of `feed` through the pipeline's own steps; returns its validation and plan."""
    loaded = pipeline.load_feed(feed)
    with pipeline.open_warehouse(warehouse) as con:
        run = pipeline.start_run(con, loaded, TENANT, False, config, full)
        validated = pipeline.validate(loaded, con, run, config)
        assert validated.ok, validated.issues.filter(pl.col("severity") == "error")
        planned = pipeline.plan(validated, con, run, config)
        pipeline.apply(con, planned, validated.issues)
    return validated, planned


def leaves(warehouse: Path) -> dict[str, pl.DataFrame]:
    """Everything a run leaves in the warehouse that a reader could see, in a stable order."""
    tables = [f"lms.{e.table}" for e in ENTITIES.values()]
    tables += [f"history.{e.table}_closed" for e in ENTITIES.values()]
    found = {}
    with connect(warehouse, read_only=True) as con:
        for table in tables:
            found[table] = con.sql(
                f"select * exclude (valid_to) from {table} order by all"
                if table.startswith("history")
                else f"select * from {table} order by all"
            ).pl()
        found["audit.changes"] = con.sql("select * from audit.changes order by all").pl()
        records = stored_records(con, TENANT)
        for name in SYNCED_FILES:
            # a record's fields, and the file order of those whose order is ever read
            found[f"records.{name}"] = records[name].drop("run_id", "line").sort("sourcedId")
        found["teacher_order"] = derived(con, TENANT, "teacher_order").sort("sourcedId")
        found["desired_courses"] = derived(con, TENANT, "desired_courses").sort("external_id")
    return found


def assert_same_plan(incremental, full) -> None:
    for name, entity in ENTITIES.items():
        ours, oracle = incremental.plan.entities[name], full.plan.entities[name]
        assert_frame_equal(
            ours.changes.sort(entity.id, "action"),
            oracle.changes.sort(entity.id, "action"),
            check_row_order=True,
        )
        assert ours.managed_active == oracle.managed_active, name


POLICIES = st.builds(
    Policy, **{table: st.sampled_from(choices) for table, choices in POLICY_CHOICES.items()}
)
SETTINGS = st.builds(
    Settings,
    policy=POLICIES,
    hierarchy=st.builds(Hierarchy, st.booleans(), st.booleans()),
    safety=st.just(Safety(1.0)),
)


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    students=st.integers(30, 90),
    seed=st.integers(0, 50),
    config=SETTINGS,
    steps=st.integers(1, 3),
    data=st.data(),
)
def test_an_incremental_plan_is_the_full_plan_row_for_row(
    tmp_path_factory, students, seed, config, steps, data
):
    folder = tmp_path_factory.mktemp("incremental")
    ours, oracle = folder / "incremental.duckdb", folder / "full.duckdb"
    district = generate_feed(students, seed=seed)
    first = write_feed(folder / f"feed-{next(_feeds)}.zip", district)
    _, planned = run_once(ours, first, config, full=False)
    assert planned.run.planning == "full"  # nothing to compare with yet
    for _ in range(steps):
        changed, made = change(district, data, data.draw(st.integers(1, 4), label="changes"))
        files, modes = sent_as(data, district, changed)
        feed = write_feed(folder / f"feed-{next(_feeds)}.zip", files, modes=modes)
        shutil.copyfile(ours, oracle)
        ours_validated, ours_planned = run_once(ours, feed, config, full=False)
        oracle_validated, oracle_planned = run_once(oracle, feed, config, full=True)
        note = f"changes {made}, files {modes}"
        assert ours_planned.run.planning == "incremental", (ours_planned.run.planning_note, note)
        assert oracle_planned.run.planning == "full", note
        # validating only the records that changed finds every issue validating all finds
        assert_frame_equal(ours_validated.issues, oracle_validated.issues)
        try:
            assert_same_plan(ours_planned, oracle_planned)
        except AssertionError as error:
            raise AssertionError(f"the plans differ after {note}") from error
        ours_left, oracle_left = leaves(ours), leaves(oracle)
        for what, rows in oracle_left.items():
            try:
                assert_frame_equal(ours_left[what], rows, check_dtypes=False)
            except AssertionError as error:
                raise AssertionError(f"{what} differs after {note}") from error
        district = changed
