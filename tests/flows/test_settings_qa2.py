"""Settings files a district's data team gets wrong, through the command line, second pass: a
delta's overlap or full-pull period no date can hold is refused before anything is written
(it ended the next `sync URL` in a traceback), and a pull choice at their bounds is made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import EXIT_UNREADABLE, app
from rosterflow.flows.pulling import pull_since
from rosterflow.schemas.settings import (
    DELTA_OVERLAP_MINUTES_MAX,
    FULL_PULL_DAYS_MAX,
    Source,
)
from rosterflow.warehouse.pulls import PullHistory

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()
ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")


def runs(warehouse) -> list[tuple[int, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql("select run_id, outcome from audit.sync_runs order by run_id").fetchall()


@pytest.mark.parametrize(
    ("setting", "bound"),
    [("delta_overlap_minutes = 99999999999", "525600"), ("full_pull_days = 100000000000", "36500")],
)
def test_a_delta_setting_no_date_can_hold_is_refused_before_anything_is_written(
    tmp_path, setting, bound
):
    """The second `sync URL` ended in a traceback (OverflowError, exit 1) as it chose between
    a delta and a full pull."""
    frames = {n: f for n, f in generate_feed(20, seed=5).items() if n in ROSTERING}
    warehouse = tmp_path / "w.duckdb"
    config = tmp_path / "rosterflow.toml"
    config.write_text("[source]\ndelta = true\n")
    api = RosterApi(frames)
    with serving(api) as root:
        url = root + api.base_path
        sync = ["sync", url, "--warehouse", str(warehouse), "--tenant", "north", "--no-prefect"]
        first = runner.invoke(app, [*sync, "--config", str(config)])
        assert first.exit_code == 0, first.output
        config.write_text(f"[source]\ndelta = true\n{setting}\n")
        api.requests.clear()

        refused = runner.invoke(app, [*sync, "--config", str(config)])

        assert api.requests == []
    name, value = setting.split(" = ")
    assert refused.exit_code == EXIT_UNREADABLE, refused.output
    assert " ".join(refused.output.split()) == (
        f"rosterflow: {config}: [source] {name} = {value}; give a number less than or equal "
        f"to {bound}"
    )
    assert runs(warehouse) == [(1, "applied")]


def test_a_pull_is_chosen_at_the_bounds_of_both():
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    url = "https://sis.example/ims/oneroster/v1p1"
    started = now.replace(tzinfo=None) - timedelta(hours=2)
    history = PullHistory(url, started, False, started)
    source = Source(
        delta=True,
        full_pull_days=FULL_PULL_DAYS_MAX,
        delta_overlap_minutes=DELTA_OVERLAP_MINUTES_MAX,
    )

    choice = pull_since(history, url, source, now)

    assert choice.since == started.replace(tzinfo=UTC) - timedelta(days=365)


def test_a_token_url_without_its_scheme_is_refused_before_the_api_is_asked(tmp_path, monkeypatch):
    """The pull tried the token endpoint five times, and ended naming the URL in the HTTP
    client's words, not the setting to correct."""
    monkeypatch.setenv("ROSTERFLOW_CLIENT_SECRET", "s3cret")
    frames = {n: f for n, f in generate_feed(20, seed=5).items() if n in ROSTERING}
    config, out = tmp_path / "rosterflow.toml", tmp_path / "pulled.zip"
    config.write_text('[source]\ntoken_url = "sis.example.org/oauth/token"\nclient_id = "rf"\n')
    api = RosterApi(frames)
    with serving(api) as root:
        refused = runner.invoke(
            app, ["pull", root + api.base_path, str(out), "--config", str(config)]
        )
        assert api.requests == []

    assert refused.exit_code == EXIT_UNREADABLE, refused.output
    assert f"{config}: [source] token_url = 'sis.example.org' followed by a path not shown" in (
        " ".join(refused.output.split())
    )
    assert not out.exists()
