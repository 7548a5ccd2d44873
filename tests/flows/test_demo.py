"""`rosterflow demo` end to end: two syncs of the generated district into its own folder, and
the queries it suggests, run as printed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.slow
def test_the_installed_demo_prints_hints_a_shell_runs_as_they_are(tmp_path):
    """As a person runs it: the console script by its path (the venv not activated), then
    each hint pasted into a shell."""
    program = Path(sys.executable).parent / "rosterflow"
    # the venv's bin/ not on the PATH, as before `activate`; no Prefect server
    environment = {**os.environ, "PATH": "/usr/bin:/bin"}
    environment.pop("PREFECT_API_URL", None)
    shown = subprocess.run(
        [str(program), "demo", "--no-prefect"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    hints = [
        line.strip()
        for line in shown.stdout.splitlines()
        if line.strip().startswith(f"{program} query ")
    ]
    assert len(hints) == 3, shown.stdout

    for hint in hints:
        done = subprocess.run(
            hint, shell=True, cwd=tmp_path, env=environment, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{hint}\n{done.stdout}{done.stderr}"
        count = re.search(r"^([\d,]+) rows?$", done.stdout, re.MULTILINE)
        assert count is not None and int(count[1].replace(",", "")) > 0, f"{hint}\n{done.stdout}"
