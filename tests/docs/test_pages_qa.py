"""QA of the pages as a reader follows them: what `rosterflow runs` shows of a held run's
message is what docs/how-to/held-runs.md says it shows, the school-change recipe of
docs/how-to/query.md names the demo's students as the demo has them, and the pages name
Prefect's wait for its temporary server as Prefect has it."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from rich.console import Console
from typer.testing import CliRunner

from rosterflow.demo.district import generate_feed
from rosterflow.demo.scenario import DEMO_STUDENTS
from rosterflow.demo.week import cast_of
from rosterflow.flows import cli
from rosterflow.flows.cli import app
from tests.docs.test_held_runs_page import cut_short, words

ROOT = Path(__file__).resolve().parents[2]
HELD_RUNS_PAGE = ROOT / "docs/how-to/held-runs.md"
QUERY_PAGE = ROOT / "docs/how-to/query.md"

runner = CliRunner()


def test_runs_shows_a_held_runs_message_cut_as_the_page_says(tmp_path, monkeypatch):
    """The page said the message, with the commands that decide at its end, is in `rosterflow
    runs`, where `runs` shows its first characters alone: the commands are in
    audit.sync_runs."""
    page = words(HELD_RUNS_PAGE.read_text())
    cut = re.search(
        r"`runs` shows each run's message \(why it was held\) in its last column, "
        r"cut to (\d+) characters",
        page,
    )
    assert cut, "the page does not say how much of a message `runs` shows"
    shown = int(cut[1])
    feed, warehouse = tmp_path / "whole.zip", tmp_path / "wh.duckdb"
    arguments = ["--tenant", "north", "--warehouse", str(warehouse)]
    assert runner.invoke(app, ["generate", str(feed), "--students", "10"]).exit_code == 0
    assert runner.invoke(app, ["sync", str(feed), *arguments]).exit_code == 0
    held = runner.invoke(app, ["sync", str(cut_short(feed, tmp_path / "north.zip")), *arguments])
    assert held.exit_code == 1, held.output

    # a terminal wide enough for the message's column (the console is made once per process)
    monkeypatch.setattr(cli, "console", Console(width=250, emoji=False))
    listed = runner.invoke(app, ["runs", "--warehouse", str(warehouse)])

    assert listed.exit_code == 0, listed.output
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (message,) = con.sql(
            "select message from audit.sync_runs where outcome = 'held'"
        ).fetchall()[0]
    assert len(message) > shown and message.endswith("drops it")
    assert message[: shown - 1] + "…" in listed.output
    assert "rosterflow approve" not in listed.output


def test_the_school_change_recipe_names_the_demo_students_as_the_demo_has_them():
    """The recipe's parameters name usr-stu-1, who leaves the demo's district and so has one
    school: the page names the student the demo moves too."""
    cast = cast_of(generate_feed(DEMO_STUDENTS, seed=0))
    after = QUERY_PAGE.read_text().split("When a student changed schools")[1]
    params = words(after.split("What a run changed")[0].split("```\n\n")[-1])

    assert f'"student_sourced_id": "{cast.leaver}"' in params
    assert f"`{cast.leaver}` is the student who leaves the district" in params
    assert f'`"{cast.mover}"` the one who moves school' in params


def test_the_temporary_servers_start_up_wait_is_prefects_as_the_pages_name_it():
    """A sync with --prefect on a busy machine ended 'failed while starting' when Prefect's
    temporary server took over its 20 s to start, and no page named the setting that waits
    longer: the pages name Prefect's setting, with its default, as Prefect has them."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as setting
    from prefect.settings.models.server.ephemeral import ServerEphemeralSettings

    # (the default, not the value: the machine running the tests may set the variable)
    default = ServerEphemeralSettings.model_fields["startup_timeout_seconds"].default
    prefect_page = words((ROOT / "docs/how-to/prefect-server.md").read_text())
    environment_page = (ROOT / "docs/reference/environment.md").read_text()

    assert f"`{setting.name}` ({default} s) for that server to start" in prefect_page
    assert re.search(
        rf"^\| `{setting.name}` \| `--prefect` without a server \| {default} \(Prefect's\) \|",
        environment_page,
        flags=re.MULTILINE,
    )
