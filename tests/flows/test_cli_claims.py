"""What the command line tells a person to type next works when typed, and its help says what
the command does (claims the documentation repeats: docs/how-to/held-runs.md,
docs/reference/cli.md)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district, with_cell, without_students, write_feed

runner = CliRunner()


def rosterflow(*arguments):
    return runner.invoke(app, [*map(str, arguments)])


def outcome(warehouse: Path, run_id: int) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select outcome from audit.sync_runs where run_id = ?", [run_id]
        ).fetchone()[0]


def decide_command(output: str, verb: str) -> list[str]:
    """The arguments of the `rosterflow approve ...` (or discard) the output's Decide line names."""
    (line,) = [line for line in output.splitlines() if "Decide: " in line]
    approve, _, discard = line.partition("Decide: ")[2].partition(", or ")
    words = shlex.split(approve if verb == "approve" else discard)
    assert words[:2] == ["rosterflow", verb], line
    return words[1:]


def test_a_run_held_in_a_named_warehouse_says_how_to_decide_it_there(tmp_path, monkeypatch):
    """The held run's message says `rosterflow approve 2`, which reads ./rosterflow.duckdb:
    typed after `sync --warehouse other.duckdb`, it approved another warehouse's run 2, or
    found none (exit 2). The line after the verdict names the warehouse, and works as typed."""
    monkeypatch.chdir(tmp_path)
    warehouse = tmp_path / "district 7.duckdb"  # a space: the command quotes it
    write_feed(tmp_path / "north.zip", tiny_district())
    write_feed(tmp_path / "north-2.zip", without_students(tiny_district()))
    assert rosterflow("sync", "north.zip", "--warehouse", warehouse, "--no-prefect").exit_code == 0

    held = rosterflow(
        "sync", "north-2.zip", "--tenant", "north", "--warehouse", warehouse, "--no-prefect"
    )

    assert held.exit_code == 1, held.output
    assert "held — run 2" in held.output
    approved = rosterflow(*decide_command(held.output, "approve"))
    assert approved.exit_code == 0, approved.output
    assert "approved held run 2" in approved.output
    assert outcome(warehouse, 3) == "applied"
    assert not (tmp_path / "rosterflow.duckdb").exists()


def test_a_run_held_in_the_default_warehouse_ends_on_its_verdict(tmp_path, monkeypatch):
    """Without --warehouse the message's own `rosterflow approve 2` is right: no line more."""
    monkeypatch.chdir(tmp_path)
    write_feed(tmp_path / "north.zip", tiny_district())
    write_feed(tmp_path / "north-2.zip", without_students(tiny_district()))
    assert rosterflow("sync", "north.zip", "--no-prefect").exit_code == 0

    held = rosterflow("sync", "north-2.zip", "--tenant", "north", "--no-prefect")

    assert held.exit_code == 1, held.output
    assert "Decide:" not in held.output
    assert held.output.splitlines()[-1].startswith("north-2.zip: held — run 2, tenant north")


def test_a_zip_an_inbox_scan_holds_is_decided_from_any_folder(tmp_path, monkeypatch):
    """A scan runs from cron, in another folder than the person who decides: the line it
    prints for a held zip names the layout by its absolute path, and works from elsewhere."""
    inbox, elsewhere = tmp_path / "inbox", tmp_path / "elsewhere"
    inbox.mkdir(), elsewhere.mkdir()
    layout = "wh/{tenant}.duckdb"
    monkeypatch.chdir(tmp_path)
    assert rosterflow("sync", write_feed(tmp_path / "north.zip", tiny_district()), "--warehouse", layout, "--no-prefect").exit_code == 0  # fmt: skip
    zipped = write_feed(inbox / "north.zip", without_students(tiny_district()))
    os.utime(zipped, (0, 0))  # settled long ago

    scan = rosterflow("serve", "--inbox", inbox, "--warehouse", layout, "--once", "--no-prefect")

    assert scan.exit_code == 1, scan.output
    assert (inbox / "held" / "north.zip").is_file()
    monkeypatch.chdir(elsewhere)
    discarded = rosterflow(*decide_command(scan.output, "discard"))
    assert discarded.exit_code == 0, discarded.output
    assert "discarded held run" in discarded.output


def test_validate_applies_the_identity_key_of_its_settings_as_its_help_says(tmp_path):
    feed = write_feed(
        tmp_path / "north.zip",
        with_cell(tiny_district(), "users", 1, "email", "ada.lovelace@example.org"),
    )
    settings = tmp_path / "settings.toml"
    settings.write_text('[identity]\nkey = "email"\n')
    report = tmp_path / "issues.csv"

    done = rosterflow("validate", feed, "--config", settings, "--report", report)

    assert done.exit_code == 1, done.output
    assert "identity.login_duplicate" in report.read_text()
    help_text = " ".join(rosterflow("validate", "--help").output.split())
    assert "[identity] key" in help_text


def test_the_help_shows_a_flag_as_taking_no_value(tmp_path):
    """typer showed `--dry-run <bool>`, and `--dry-run true`, typed as the help reads, is a
    usage mistake: a flag shows no value, an option its own."""
    for path in (["sync"], ["undo"], ["grades", "push"], ["query"], []):
        rows = [
            line.strip("│ ").split()
            for line in rosterflow(*path, "--help").output.splitlines()
            if line.startswith("│") and line.strip("│ ").startswith("--")
        ]
        flags = {row[0]: row[1:] for row in rows if row[0] in ("--dry-run", "--force", "--help")}
        assert flags and all(not words[0].startswith("<") for words in flags.values()), flags
        options = {row[0]: row[1] for row in rows if row[0] in ("--warehouse", "--max-rows")}
        assert all(value.startswith("<") for value in options.values()), options
    taken_as_given = rosterflow("sync", tmp_path / "north.zip", "--dry-run", "true")
    assert taken_as_given.exit_code == 2  # (so the help must not ask for the value)


def test_a_district_run_serve_sources_holds_says_how_to_decide_it_from_any_folder(
    tmp_path, monkeypatch
):
    from rosterflow.demo.api import RosterApi, serving
    from rosterflow.demo.district import generate_feed

    rostering = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
    district = {n: f for n, f in generate_feed(25, seed=1).items() if n in rostering}
    api, elsewhere = RosterApi(district), tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    with serving(api) as served:
        sources = tmp_path / "sources.toml"
        sources.write_text(f'[[source]]\ntenant = "north"\nurl = "{served}{api.base_path}"\n')
        scan = ["serve", "--sources", sources, "--warehouse", "w.duckdb", "--once", "--no-prefect"]
        assert rosterflow(*scan).exit_code == 0
        api.load(without_students(district))  # the SIS sends its staff alone
        held = rosterflow(*scan)

    assert held.exit_code == 1, held.output
    assert "north: held — run 2" in held.output
    monkeypatch.chdir(elsewhere)
    approved = rosterflow(*decide_command(held.output, "approve"))
    assert approved.exit_code == 0, approved.output
    assert outcome(tmp_path / "w.duckdb", 3) == "applied"


def test_a_query_table_narrowed_to_the_console_keeps_every_column_name_whole():
    """`query --help`: on a console too narrow for the columns, each row is a record; where
    the table is printed, rich narrowed its text columns alike, and `sourced_id` was folded
    into `sourced` over `_id` (copied wrong into the next query) while the table fitted with
    each name whole. The widest columns give way, none below its name."""
    import io

    import polars as pl
    from rich.console import Console

    from rosterflow.flows.report import print_rows

    rows = pl.DataFrame(
        {
            "grade_run_id": [1],
            "entity": ["lineItem"],
            "sourced_id": ["li-2"],
            "line_item_id": [2],
            "user_id": [7],
            "reason": ["line_item.hand_made_course"],
            "message": ["course 900 (Hand) was made by hand in the platform: the SIS knows none"],
        }
    )
    out = io.StringIO()

    print_rows(Console(file=out, width=80, color_system=None), rows)

    header, rule, *lines = out.getvalue().splitlines()
    assert header.split() == rows.columns
    assert max(len(line) for line in [header, rule, *lines]) <= 80
    assert lines[-1] == "1 row"
