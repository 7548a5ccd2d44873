"""Settings files a district's data team gets wrong, through the command line: a field named
twice in `[validation]` is one error per record, not two; a settings file that is not UTF-8 is
refused by its line before any warehouse is made; and a setting that changes nothing a sync
builds leaves the next run recalled rather than planned in full."""

from __future__ import annotations

import csv
import os

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import EXIT_REJECTED, EXIT_UNREADABLE, app
from tests.feeds import tiny_district, with_cell, write_feed
from tests.syncing import Warehouse

runner = CliRunner()


def test_a_field_and_a_file_named_twice_are_one_error_each(tmp_path):
    """Each was demanded as often as it was named: two errors on the same line and field."""
    feed = write_feed(
        tmp_path / "d.zip", with_cell(tiny_district(), "courses", 0, "courseCode", None)
    )
    config, report = tmp_path / "s.toml", tmp_path / "issues.csv"
    config.write_text(
        '[validation]\nrequired = { courses = ["courseCode", "courseCode"] }\n'
        'files = ["demographics", "demographics"]\n'
    )

    result = runner.invoke(
        app, ["validate", str(feed), "--config", str(config), "--report", str(report)]
    )

    assert result.exit_code == EXIT_REJECTED, result.output
    with report.open(newline="", encoding="utf-8") as issues:
        rules = [(row["file"], row["line"], row["rule"]) for row in csv.DictReader(issues)]
    assert sorted(rules) == [
        ("courses.csv", "2", "platform.required"),
        ("manifest.csv", "10", "manifest.required_file"),  # file.demographics,absent
    ]


def test_a_settings_file_not_in_utf8_is_refused_by_its_line_before_anything_is_written(
    tmp_path,
):
    feed, warehouse = write_feed(tmp_path / "d.zip", tiny_district()), tmp_path / "w.duckdb"
    config = tmp_path / "s.toml"
    config.write_bytes(b'# r\xe9glages du district\n[policy]\nusers = "keep"\n')  # cp1252

    refused = runner.invoke(
        app,
        ["sync", str(feed), "--warehouse", str(warehouse), "--config", str(config), "--no-prefect"],
    )

    assert refused.exit_code == EXIT_UNREADABLE, refused.output
    assert "line 1, column 4 is not UTF-8 text; save the file as UTF-8" in refused.output
    assert not warehouse.exists()


@pytest.mark.parametrize("command", ["sync", "serve"])
def test_a_settings_pipe_is_refused_by_the_commands_that_read_their_settings_again(
    tmp_path, command
):
    """A sync reads its settings where it runs (its flow run, each zip of a scan): a pipe
    (`--config /dev/stdin`, `<(...)`) gave them to the first read alone, and the sync ran
    with the defaults without a word."""
    feed, warehouse = write_feed(tmp_path / "d.zip", tiny_district()), tmp_path / "w.duckdb"
    read_end, write_end = os.pipe()  # (as a shell's `<(...)` gives it: /dev/fd/N)
    os.write(write_end, b'[validation]\nfiles = ["demographics"]\n')
    os.close(write_end)
    pipe = f"/dev/fd/{read_end}"
    given = (
        [str(feed), "--no-prefect"] if command == "sync" else ["--inbox", str(tmp_path), "--once"]
    )

    refused = runner.invoke(
        app, [command, *given, "--warehouse", str(warehouse), "--config", str(pipe)]
    )

    assert refused.exit_code == EXIT_UNREADABLE, refused.output
    os.close(read_end)
    assert f"--config {pipe}: not a file (a pipe can be read once" in refused.output
    assert not warehouse.exists()


def test_adopting_across_roles_without_adopting_leaves_the_next_run_recalled(tmp_path):
    """`adopt_across_roles` adopts nobody without `adopt_by`, yet it planned the tenant's
    next run in full, its note naming a setting that changed nothing."""
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())

    again = warehouse.sync(tiny_district(), settings={"identity": {"adopt_across_roles": True}})

    assert (again.outcome, again.planning, again.summary.height) == ("applied", "recalled", 0)
