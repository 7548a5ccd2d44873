"""`rosterflow --help`: what the tool reads, and every command."""

from __future__ import annotations

from typer.testing import CliRunner

from rosterflow.flows.cli import app

runner = CliRunner()


def test_the_help_names_both_oneroster_versions_and_every_command():
    done = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})

    assert done.exit_code == 0, done.output
    assert "Sync OneRoster 1.1 and 1.2 CSV feeds" in done.output
    for command in ("validate", "generate", "sync", "runs", "query", "demo", "serve", "grades"):
        assert f" {command} " in done.output, command


def test_a_feed_argument_reads_either_version():
    done = runner.invoke(app, ["validate", "--help"], env={"COLUMNS": "200"})

    assert "A OneRoster 1.1 or 1.2 CSV feed" in done.output
