"""What comes from data and settings prints as written: rich reads `[identity]` or `[bold]` as
markup, so every message, value and name is escaped before it reaches the terminal."""

from __future__ import annotations

from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district, with_cell, write_feed

runner = CliRunner()


def test_an_unknown_setting_names_its_table(tmp_path):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    config = tmp_path / "s.toml"
    config.write_text('[identity]\nadopt_bye = "email"\n')  # a misspelt setting

    result = runner.invoke(app, ["validate", str(feed), "--config", str(config)])

    assert result.exit_code == 2, result.output
    assert "unknown setting [identity] adopt_bye" in result.output


def test_an_issue_message_keeps_the_settings_table_it_names(tmp_path, wide):
    feed = write_feed(
        tmp_path / "d.zip", with_cell(tiny_district(), "courses", 0, "courseCode", None)
    )
    config = tmp_path / "s.toml"
    config.write_text('[validation]\nrequired = { courses = ["courseCode"] }\n')

    result = runner.invoke(app, ["validate", str(feed), "--config", str(config)])

    assert result.exit_code == 1, result.output
    assert "courseCode is required by this platform ([validation] required)" in result.output


def test_a_value_and_a_feed_name_print_as_written_in_the_issue_table(tmp_path, wide):
    district = with_cell(tiny_district(), "users", 2, "role", "[bold]pupil[/bold]")
    feed = write_feed(tmp_path / "north [district].zip", district)

    result = runner.invoke(app, ["validate", str(feed)])

    assert result.exit_code == 1, result.output
    assert "role = '[bold]pupil[/bold]'" in result.output
    assert "north [district].zip: invalid" in result.output


def test_a_tenant_prints_as_written_in_the_verdict_and_the_runs(tmp_path, wide):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    warehouse = str(tmp_path / "w.duckdb")

    synced = runner.invoke(
        app, ["sync", str(feed), "--warehouse", warehouse, "--tenant", "[red]north", "--no-prefect"]
    )
    listed = runner.invoke(app, ["runs", "--warehouse", warehouse])

    assert synced.exit_code == 0, synced.output
    assert "d.zip: applied — run 1, tenant [red]north" in synced.output
    assert listed.exit_code == 0, listed.output
    assert "[red]north" in listed.output
