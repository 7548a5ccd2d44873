"""Properties of the sync: idempotence, row order, and surviving a killed apply."""

import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.warehouse.apply import PAUSE_MARKER_ENV
from tests.feeds import tiny_district, with_cell
from tests.syncing import Warehouse

ROOT = Path(__file__).resolve().parents[2]


def lms_by_external_id(warehouse: Warehouse) -> dict[str, pl.DataFrame]:
    """The tenant's lms rows with every id replaced by the external ID it stands for: what a
    row means, whatever id it has."""
    queries = {
        "domains": "select d.external_id, d.name, d.kind, p.external_id as parent, d.status "
        "from lms.domains d left join lms.domains p on p.domain_id = d.parent_domain_id",
        "users": "select u.* exclude (user_id, domain_id, updated_run_id), d.external_id as domain "
        "from lms.users u left join lms.domains d using (domain_id)",
        "courses": "select c.* exclude (course_id, domain_id, base_course_id, updated_run_id), "
        "d.external_id as domain, b.external_id as base from lms.courses c "
        "left join lms.domains d using (domain_id) left join lms.courses b on b.course_id = c.base_course_id",
        "enrollments": "select e.* exclude (enrollment_id, user_id, course_id, updated_run_id), "
        "u.external_id as user, c.external_id as course from lms.enrollments e "
        "left join lms.users u using (user_id) left join lms.courses c using (course_id)",
        "observers": "select o.external_id, o.relationship, o.status, a.external_id as observer, "
        "b.external_id as student from lms.observers o "
        "left join lms.users a on a.user_id = o.observer_user_id "
        "left join lms.users b on b.user_id = o.student_user_id",
    }
    return {name: warehouse.query(f"{sql} order by all") for name, sql in queries.items()}


def shuffled(frames: dict[str, pl.DataFrame], seed: int) -> dict[str, pl.DataFrame]:
    return {
        name: data.sample(fraction=1.0, shuffle=True, seed=seed) for name, data in frames.items()
    }


@pytest.mark.slow
@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(students=st.integers(20, 150), seed=st.integers(0, 1000), order=st.integers(0, 1000))
def test_any_generated_feed_twice_gives_an_empty_change_set_and_order_never_matters(
    tmp_path_factory, students, seed, order
):
    frames = generate_feed(students, seed=seed)
    in_file_order = Warehouse(tmp_path_factory.mktemp("a"))
    first = in_file_order.sync(frames)
    assert first.outcome == "applied", first.issues
    second = in_file_order.sync(frames, recall=False)  # planned in full, not recalled
    assert second.outcome == "applied" and second.summary.height == 0

    reordered = Warehouse(tmp_path_factory.mktemp("b"))
    from_shuffled = reordered.sync(shuffled(frames, order))
    assert_frame_equal(from_shuffled.summary, first.summary)
    assert reordered.actions(from_shuffled.run_id) == in_file_order.actions(first.run_id)
    expected = lms_by_external_id(in_file_order)
    for name, rows in lms_by_external_id(reordered).items():
        assert_frame_equal(rows, expected[name])
    # and the ids themselves: new rows are numbered in external-ID order, not in file order
    for table in expected:
        stored = f"select * from lms.{table} order by all"
        assert_frame_equal(reordered.query(stored), in_file_order.query(stored))


@pytest.mark.slow
def test_sync_killed_in_the_middle_of_apply_leaves_the_previous_state(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    before = lms_by_external_id(warehouse)
    runs_before = warehouse.query("select * from audit.sync_runs")
    changed = with_cell(tiny_district(), "users", 2, "email", "new@example.org")
    from rosterflow.schemas.writer import write_feed

    feed = write_feed(tmp_path / "changed.zip", changed)
    marker = tmp_path / "apply-started"
    script = (
        "from rosterflow.flows.pipeline import run_sync; "
        "from rosterflow.schemas.settings import Settings; "
        f"run_sync({str(feed)!r}, {str(warehouse.path)!r}, Settings(), 'district')"
    )
    env = os.environ | {PAUSE_MARKER_ENV: str(marker)}
    process = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, "the sync ended before reaching apply"
            assert time.monotonic() < deadline, "the sync never reached apply"
            time.sleep(0.05)
    finally:
        process.kill()  # SIGKILL: no cleanup, no rollback by the process itself
        process.wait()
    for name, rows in lms_by_external_id(warehouse).items():
        assert_frame_equal(rows, before[name])
    assert_frame_equal(warehouse.query("select * from audit.sync_runs"), runs_before)
    result = warehouse.sync(changed)
    assert result.outcome == "applied"
    assert warehouse.actions(result.run_id) == {("user", "or--u-s1", "update")}
