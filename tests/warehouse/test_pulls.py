"""What audit tells the next pull: the tenant's latest applied run, whether it applied a held
run's plan, and its latest full pull of the URL."""

from __future__ import annotations

from datetime import datetime

from rosterflow.warehouse.pulls import PullHistory, pull_history
from rosterflow.warehouse.schema import connect

URL = "https://sis.example/ims/oneroster/v1p1"


def runs(path, *rows, decisions=()):
    with connect(path) as con:
        for run_id, tenant, feed, outcome, day in rows:
            con.execute(
                "insert into audit.sync_runs (run_id, tenant, feed_name, started_at, outcome) "
                "values (?, ?, ?, ?, ?)",
                [run_id, tenant, feed, datetime(2026, 3, day, 8), outcome],
            )
        for run_id, decision, result in decisions:
            con.execute(
                "insert into audit.decisions values (?, ?, ?, 'test', ?)",
                [run_id, decision, datetime(2026, 3, 9), result],
            )


def test_no_warehouse_yet_is_no_history(tmp_path):
    assert pull_history(tmp_path / "none.duckdb", "north", URL) == PullHistory()
    assert not (tmp_path / "none.duckdb").exists()  # reading creates nothing


def test_the_latest_applied_run_and_the_latest_full_pull(tmp_path):
    path = tmp_path / "w.duckdb"
    delta = URL + "?filter=dateLastModified>'2026-03-02T07:00:00.000Z'"
    runs(
        path,
        (1, "north", URL, "applied", 1),
        (2, "north", delta, "applied", 3),
        (3, "north", URL, "rejected", 4),
        (4, "north", delta, "planned", 5),
        (5, "south", URL, "applied", 6),
    )
    assert pull_history(path, "north", URL) == PullHistory(
        delta, datetime(2026, 3, 3, 8), False, datetime(2026, 3, 1, 8)
    )


def test_a_run_that_applied_a_held_plan_says_so(tmp_path):
    path = tmp_path / "w.duckdb"
    runs(
        path,
        (1, "north", URL, "held", 1),
        (2, "north", URL, "applied", 2),
        decisions=[(1, "approved", 2)],
    )
    found = pull_history(path, "north", URL)
    assert found.latest_feed == URL and found.latest_approved
