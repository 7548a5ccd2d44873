"""A query's clock is UTC, as audit's and history's times are, whatever the machine's zone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from tests.feeds import tiny_district, write_feed

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

# a run just made started within the hour before now: in the machine's zone, `now()` put it
# 5.5 hours before (Asia/Kolkata) or 5 after (America/New_York)
JUST_NOW = (
    "select count(*) from audit.sync_runs "
    "where started_at between now() - interval 1 hour and now()"
)


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York"])
@pytest.mark.parametrize("warehouse", ["rosterflow.duckdb", "wh/{tenant}.duckdb"])
def test_now_in_a_query_is_utc_as_audit_is(tmp_path, zone, warehouse):
    """A warehouse file, and a per-tenant layout's catalog."""
    warehouse = str(tmp_path / warehouse)
    feed = write_feed(tmp_path / "feed.zip", tiny_district())
    assert run_sync(feed, warehouse, Settings(), tenant="t").outcome == "applied"
    script = (
        "from rosterflow.warehouse.readonly import read_query; "
        f"print(read_query({warehouse!r}, {JUST_NOW!r}).item())"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script],
        env=os.environ | {"TZ": zone},
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.strip() == "1"
