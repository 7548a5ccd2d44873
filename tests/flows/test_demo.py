"""`rosterflow demo` end to end: two syncs of the generated district into its own folder."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from rosterflow.demo.district import generate_feed
from rosterflow.demo.scenario import DEMO_STUDENTS
from rosterflow.demo.week import NEW_TEACHER, cast_of
from rosterflow.flows.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def district():
    return generate_feed(DEMO_STUDENTS, seed=0)


@pytest.mark.flow
def test_demo_runs_end_to_end_twice_in_the_same_folder(tmp_path, monkeypatch, district):
    monkeypatch.chdir(tmp_path)

    first = runner.invoke(app, ["demo"])

    assert first.exit_code == 0, first.output
    assert first.output.count(": applied — run ") == 2
    assert "select * from audit.changes where action = 'move';" in first.output
    warehouse = tmp_path / "rosterflow-demo" / "rosterflow.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        changes = con.sql(
            "select entity, external_id, action from audit.changes where run_id = 2"
        ).fetchall()
    assert ("user", f"or--{NEW_TEACHER['sourcedId']}", "create") in changes
    assert [c for c in changes if c[2] == "move"] == [
        ("user", f"or--{cast_of(district).mover}", "move")
    ]

    again = runner.invoke(app, ["demo"])

    assert again.exit_code == 0, again.output
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.sql("select count(*) from audit.sync_runs").fetchall() == [(2,)]
