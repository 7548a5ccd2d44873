"""`rosterflow --help`: what the tool reads, and every command."""

from __future__ import annotations

import typer
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


def _commands(group, path=()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_every_command_s_help_wraps_at_the_terminal_not_at_the_source_lines():
    """rich prints a help text's line breaks as they are: a docstring wrapped in the source
    came out broken mid-sentence on an 80-column terminal (`rosterflow catalog --help`)."""
    commands = dict(_commands(typer.main.get_command(app)))
    assert {("validate",), ("catalog",), ("grades", "export")} <= commands.keys()
    for path, command in commands.items():
        paragraphs = (command.help or "").split("\n\n")
        assert all("\n" not in paragraph for paragraph in paragraphs), path

    done = runner.invoke(app, ["catalog", "--help"], env={"COLUMNS": "80"})
    assert "`rosterflow catalog > catalog.sql`, then `duckdb -init" in " ".join(
        line.strip(" │") for line in done.output.splitlines()
    )
