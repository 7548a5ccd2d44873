"""The tutorial (docs/tutorial/first-district.md) run as a newcomer runs it: every command of
its steps, as written, in an empty folder, with the installed `rosterflow` and `python` first
on PATH (the venv activated), each output the page shows compared with what the command
prints, and what its prose says of the warehouse checked in the warehouse."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs/tutorial/first-district.md"
# the width the page's outputs were taken at: it says the audit.changes table is 90 wide
COLUMNS = 90


@dataclass(frozen=True)
class Step:
    """A command of the page, and the output the page shows right after it (None: none)."""

    command: str
    shown: str | None


def tutorial_steps(text: str) -> list[Step]:
    """Every command of the page's bash blocks but the install's, in order; a `text` block
    shows the output of the last command of the block before it."""
    steps: list[Step] = []
    for language, body in re.findall(r"```(\w+)\n(.*?)```", text, re.DOTALL):
        if language == "bash" and "pip install" not in body:
            steps += [Step(line.strip(), None) for line in body.splitlines() if line.strip()]
        elif language == "text" and steps:
            steps[-1] = Step(steps[-1].command, body)
    return steps


def words(text: str) -> str:
    """The text with every run of white space one space: a line a terminal wraps elsewhere, or
    ends with padding, reads the same."""
    return " ".join(text.split())


def run(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """`command` as a shell in `folder` runs it, with the venv activated (its bin first on
    PATH), in-process (no Prefect server), at the page's width."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "COLUMNS": str(COLUMNS),
        "ROSTERFLOW_PREFECT": "0",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        ["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True
    )


def test_the_tutorial_has_its_steps():
    steps = tutorial_steps(TUTORIAL.read_text())
    assert [s.command.split()[:2] for s in steps][:3] == [
        ["rosterflow", "generate"],
        ["rosterflow", "validate"],
        ["rosterflow", "sync"],
    ]
    assert sum(s.shown is not None for s in steps) >= 6  # generate to the audit.changes query


@pytest.mark.slow
def test_the_tutorial_runs_as_written_and_prints_what_it_shows(tmp_path):
    printed = {}
    for step in tutorial_steps(TUTORIAL.read_text()):
        done = run(step.command, tmp_path)

        assert done.returncode == 0, f"{step.command}\n{done.stdout}{done.stderr}"
        if step.shown is not None:
            assert words(done.stdout) == words(step.shown), step.command
        printed[step.command.split(" --")[0]] = done.stdout

    # step 7: runs shows the undone run; the SIS is still the source of truth
    assert "undone by" in printed["rosterflow runs"]
    again = run("rosterflow sync district --warehouse tutorial.duckdb", tmp_path)
    assert "district: applied — run 5, tenant demo-0, 2 changes" in words(again.stdout)

    with duckdb.connect(str(tmp_path / "tutorial.duckdb"), read_only=True) as con:
        lily = con.sql(
            "select family_name, opened_run_id, closed_run_id from history.users "
            "where external_id = 'or--usr-stu-7' order by valid_from"
        ).fetchall()
        teacher = con.sql(
            "select opened_run_id, status from history.users "
            "where external_id = 'or--usr-tch-3' order by valid_from"
        ).fetchall()
        planning = con.sql("select planning from audit.sync_runs order by run_id").fetchall()
    # Hill until run 3, Hill-Moreno until the undo (run 4), Hill again until run 5 applied
    # the change again
    assert lily == [
        ("Hill", 1, 3),
        ("Hill-Moreno", 3, 4),
        ("Hill", 4, 5),
        ("Hill-Moreno", 5, None),
    ]
    assert teacher == [(1, "active"), (3, "inactive"), (4, "active"), (5, "inactive")]
    # as docs/explanation/incremental.md says: the dry run and its sync incremental, the undo
    # planned nothing, and the run after an undo in full
    assert [p for (p,) in planning] == ["full", "incremental", "incremental", None, "full"]
