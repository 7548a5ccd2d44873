"""`rosterflow demo` end to end: two syncs of the generated district into its own folder, and
the queries it suggests, run as printed."""

from __future__ import annotations

import re
import shlex

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


@pytest.mark.slow
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


def test_every_query_the_demo_suggests_runs_as_printed_and_finds_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shown = runner.invoke(app, ["demo", "--no-prefect"])
    assert shown.exit_code == 0, shown.output
    hints = [
        line.strip()
        for line in shown.output.splitlines()
        if line.strip().startswith("rosterflow query ")
    ]
    assert len(hints) == 3, shown.output

    for hint in hints:
        command = shlex.split(hint)  # as a shell reads the line
        assert command[0] == "rosterflow" and "rosterflow-demo/rosterflow.duckdb" in command
        done = runner.invoke(app, command[1:])

        assert done.exit_code == 0, f"{hint}\n{done.output}"
        count = re.search(r"^([\d,]+) rows?$", done.output, re.MULTILINE)
        assert count is not None and int(count[1].replace(",", "")) > 0, f"{hint}\n{done.output}"
