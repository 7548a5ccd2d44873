"""The front page against the product: the picture of `rosterflow demo` (docs/assets/demo.svg)
is what the demo prints now, and the figures README.md quotes from it are the demo's."""

from __future__ import annotations

import contextlib
import html
import importlib.util
import io
import itertools
import re
import shlex
import sys
from pathlib import Path

import pytest
import typer

from rosterflow.schemas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PICTURE = ROOT / "docs/assets/demo.svg"


@pytest.fixture(scope="module")
def recorder():
    """docs/record_demo.py, loaded from its path: what it would record is what the picture
    must show."""
    spec = importlib.util.spec_from_file_location(
        "rosterflow_record_demo", ROOT / "docs/record_demo.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def demo_printed(recorder) -> str:
    """What the demo prints up to its "Try it" part, as plain text."""
    from rich.text import Text

    return Text.from_ansi(recorder.until_try_it(recorder.demo_output())).plain


def without_space(text: str) -> str:
    """The text without any white space: the picture breaks a line into pieces and spaces
    into non-breaking ones where the terminal broke it into words."""
    return re.sub(r"\s", "", text)


def picture_text() -> str:
    pieces = re.findall(r"<text[^>]*>(.*?)</text>", PICTURE.read_text(), re.DOTALL)
    return html.unescape("".join(re.sub(r"<[^>]+>", "", piece) for piece in pieces))


def readme_text() -> str:
    return " ".join(README.read_text().split())


def number(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.mark.slow
def test_the_picture_shows_what_the_demo_prints_now(demo_printed):
    assert without_space(demo_printed) in without_space(picture_text()), (
        "docs/assets/demo.svg is stale: record it again with `.venv/bin/python docs/record_demo.py`"
    )


@pytest.mark.slow
def test_the_readme_quotes_the_demo_figures(demo_printed):
    printed = " ".join(demo_printed.split())
    readme = readme_text()
    first = re.search(r"creates ([\d,]+) rows", readme)
    second = re.search(r"changes (\d+) rows", readme)
    planned = re.search(
        r"(\d+) of its ([\d,]+) records had changed and (\d+) had been removed", readme
    )
    assert first and second and planned, "the README no longer quotes the demo's figures"

    applied = [
        number(n) for n in re.findall(r"applied — run \d+, tenant demo, ([\d,]+) changes", printed)
    ]
    assert applied == [number(first[1]), number(second[1])]
    changed, records, removed = (number(n) for n in planned.groups())
    assert (
        f"{changed:,} of {records:,} records changed and {removed:,} removed since run 1" in printed
    )


# --- the tour's commands and tables ----------------------------------------------------------


def readme_commands() -> list[list[str]]:
    """Every `rosterflow` command of the README's shell blocks, as its words (comments left
    out; `a && b` is two commands)."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.DOTALL)
    lines = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()]
    commands = [
        list(words)
        for line in lines
        for is_and, words in itertools.groupby(line, key=lambda word: word == "&&")
        if not is_and
    ]
    return [command[1:] for command in commands if command[0].endswith("bin/rosterflow")]


def parsed(arguments: list[str]) -> dict:
    """The parameters the command line makes of `arguments`, for the (sub)command they name,
    its own work left undone: each command's callback is replaced by one that records them.
    A command, option or argument it does not take is a usage error (exit 2)."""
    from rosterflow.flows.cli import app

    root = typer.main.get_command(app)  # built anew at each call: the app stays as it is
    received: list[dict] = []
    commands = [root]
    while commands:
        command = commands.pop()
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            command.callback = lambda **params: received.append(params)
        else:
            commands += subcommands.values()
    said, code = io.StringIO(), None
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        try:
            root.main(arguments, prog_name="rosterflow")
        except SystemExit as end:
            code = end.code
    assert code == 0 and len(received) == 1, (
        f"README: rosterflow {shlex.join(arguments)}: {said.getvalue()}"
    )
    return received[0]


def test_every_command_the_readme_prints_is_one_the_command_line_takes():
    commands = readme_commands()
    assert len(commands) >= 9, "the README's commands were not found"
    for arguments in commands:
        parsed(arguments)


def test_the_readme_says_rosterflow_reads_a_districts_api():
    readme = readme_text()
    first_paragraph = " ".join(README.read_text().split("\n\n")[1].split())
    assert "REST API" in first_paragraph, "the first paragraph names CSV uploads alone"
    for variable in ("ROSTERFLOW_TOKEN_URL", "ROSTERFLOW_CLIENT_ID", "ROSTERFLOW_CLIENT_SECRET"):
        assert f"export {variable}=" in README.read_text()
    pulls = [c for c in readme_commands() if c[0] == "pull"]
    syncs = [c for c in readme_commands() if c[0] == "sync" and c[1].startswith("https://")]
    assert pulls and pulls[0][1].endswith("/ims/oneroster/v1p1")
    assert syncs and syncs[0][1].endswith("/ims/oneroster/v1p1") and "--tenant" in syncs[0]
    assert "](docs/how-to/pull-from-an-api.md)" in readme


def test_the_readme_shows_both_ways_grades_go_back_to_the_sis():
    grades = {c[1]: parsed(c) for c in readme_commands() if c[0] == "grades"}
    assert set(grades) == {"export", "push"}
    assert str(grades["export"]["out"]).endswith(".zip")
    assert grades["push"]["url"].endswith("/ims/oneroster/v1p1")
    assert all(params["tenant"] and params["warehouse"] for params in grades.values())
    readme = readme_text()
    assert "`--oneroster 1.2`" in readme
    assert "](docs/how-to/grades.md)" in readme


def test_the_readme_names_the_columns_a_platform_must_write_for_its_grades(tmp_path):
    """The columns of lms.line_items that are required (not null, no default) are those the
    README lists, and those of lms.scores are among the ones it names."""
    from rosterflow.warehouse.schema import connect

    readme = readme_text()
    named = {
        table: re.search(rf"`lms\.{table}`[^`]*`([a-z_, ]+)`", readme)
        for table in ("line_items", "scores")
    }
    assert all(named.values()), "the README no longer names the gradebook's columns"
    listed = {table: found[1].split(", ") for table, found in named.items()}
    warehouse = connect(tmp_path / "rosterflow.duckdb")
    required = dict(
        warehouse.sql(
            "select table_name, list(column_name order by column_index) "
            "from duckdb_columns() where schema_name = 'lms' "
            "and table_name in ('line_items', 'scores') "
            "and not is_nullable and column_default is null group by table_name"
        ).fetchall()
    )
    columns = dict(
        warehouse.sql(
            "select table_name, list(column_name) from duckdb_columns() "
            "where schema_name = 'lms' and table_name in ('line_items', 'scores') "
            "group by table_name"
        ).fetchall()
    )
    warehouse.close()
    assert listed["line_items"] == required["line_items"]
    assert set(required["scores"]) <= set(listed["scores"]) <= set(columns["scores"])


def test_the_readme_says_what_becomes_of_a_record_that_adopts_nobody():
    readme = readme_text()
    feeds = (ROOT / "docs/reference/feeds.md").read_text()
    assert "A record that adopts nobody" in readme and "is created anew" in readme
    for rule in ("identity.adopt_ambiguous", "identity.adopt_role_conflict"):
        assert f"`{rule}`" in readme
        assert f"| `{rule}` |" in feeds, f"{rule} is no rule of docs/reference/feeds.md"


def test_the_readme_tells_how_to_find_a_files_encoding_and_the_setting_takes_what_it_names():
    readme = readme_text()
    assert "`file -i users.csv`" in readme and "`[feed] encoding`" in readme
    for named in re.findall(r'as (?:almost always )?`"([a-z0-9-]+)"`', readme):
        assert Settings.model_validate({"feed": {"encoding": named}}).feed.encoding
