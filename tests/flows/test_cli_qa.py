"""The operator's command line under Ctrl-C and on a narrow terminal: what a person reads, and
the exit code a script reads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
from rich.console import Console
from typer.testing import CliRunner

from rosterflow.flows import cli
from rosterflow.flows.cli import app
from tests.feeds import tiny_district, with_cell, write_feed

ROOT = Path(__file__).resolve().parents[2]

# the console script, Ctrl-C arriving in the plain sync's step argv[1] while DuckDB runs one
# of its statements; the rest are the command's arguments. DuckDB's Python client answers the
# KeyboardInterrupt raised meanwhile with RuntimeError('Query interrupted'), as it is made to
# here: whether DuckDB notices a signal while a statement runs, and when, depends on its
# threads, so a real statement would make a test that hangs now and then
INTERRUPTED = """
import dataclasses, os, signal, sys, time
from rosterflow.flows import cli, plain
from rosterflow.flows.progress import announce

step, *arguments = sys.argv[1:]


def interrupted_in_duckdb(*args, **kwargs):
    announce(step)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(60)
    except KeyboardInterrupt:
        raise RuntimeError("Query interrupted") from None


plain.STEPS = dataclasses.replace(plain.STEPS, **{step: interrupted_in_duckdb})
sys.argv = ["rosterflow", *arguments]
cli.main()
"""


def interrupted(cwd: Path, step: str, *arguments) -> subprocess.CompletedProcess:
    """`rosterflow ARGUMENTS...`, Ctrl-C pressed while DuckDB runs a statement of `step`."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")
    } | {"PREFECT_HOME": str(cwd / ".prefect-home"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", INTERRUPTED, step, *map(str, arguments)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=120,
        # Ctrl-C raises KeyboardInterrupt, also under a shell that started the tests with
        # SIGINT ignored (a background job), which Python would leave ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_a_sync_interrupted_while_duckdb_plans_exits_130_saying_so(tmp_path):
    """Ctrl-C while DuckDB ran one of the plan's statements ended the sync as a failure,
    exit 1: "the sync failed while planning the changes (RuntimeError: Query interrupted)",
    for DuckDB turns the interrupt into that error. It is an interrupt: exit 130 and
    `rosterflow: interrupted`, after the line that says what became of the run (recorded as
    failed, lms unchanged)."""
    warehouse = tmp_path / "w.duckdb"
    feed = write_feed(tmp_path / "d.zip", tiny_district())

    done = interrupted(tmp_path, "plan", "sync", feed, "--warehouse", warehouse)

    assert done.returncode == 130, done.stdout + done.stderr
    said = done.stderr.splitlines()
    assert said[-1] == "rosterflow: interrupted", done.stderr
    assert said[0].startswith("rosterflow: the sync failed while planning the changes")
    assert "lms is unchanged" in said[0]
    assert "Traceback" not in done.stdout + done.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.sql("select count(*) from lms.users").fetchall() == [(0,)]
        assert con.sql("select outcome from audit.sync_runs").fetchall() == [("failed",)]


def test_issues_on_a_narrow_terminal_keep_every_name_and_value_whole(tmp_path, monkeypatch):
    """At 40 columns `validate` cut the summary's names short (`enrollments…`, `referen…`: no
    file, no rule to look up) and folded the first issues into columns of four or five
    characters (`userS` over `ource` over `dId`). Where the columns cannot hold the names,
    each issue prints as a record, a line per column."""
    monkeypatch.setattr(cli, "console", Console(width=40))
    feed = write_feed(
        tmp_path / "d.zip",
        with_cell(tiny_district(), "enrollments", 0, "userSourcedId", "usr-gone"),
    )

    done = CliRunner().invoke(app, ["validate", str(feed)])

    assert done.exit_code == 1, done.output
    assert "…" not in done.output
    lines = [line.rstrip() for line in done.output.splitlines()]
    assert "file      enrollments.csv" in lines
    assert "rule      reference" in lines
    assert "field = value  userSourcedId =" in lines
    assert "'usr-gone'" in (line.strip() for line in lines)
    assert "where          enrollments.csv:2" in lines
