"""The hand-written introduction of the command-line reference (docs/reference/cli.md, above
its generated part) against the program: what it says of `--tenant` is true of every command
that takes it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from rosterflow.flows.cli import app

ROOT = Path(__file__).resolve().parents[2]
CLI_PAGE = ROOT / "docs/reference/cli.md"


def commands_taking(option: str) -> dict[str, Any]:
    """Every command (`sync`, `grades export`) that takes `option`, with that option (typer's
    own click parameter: typer carries a click of its own, so no isinstance of click's)."""
    found: dict[str, Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))
        for param in command.params:
            if param.param_type_name == "option" and option in param.opts:
                found[" ".join(path)] = param

    walk(typer.main.get_command(app), ())
    return found


def tenant_paragraph() -> str:
    """The introduction's paragraph on `--tenant`, on one line."""
    introduction = CLI_PAGE.read_text().split("<!-- generated: cli -->")[0]
    paragraphs = [p for p in introduction.split("\n\n") if "`--tenant`" in p]
    assert len(paragraphs) == 1, paragraphs
    return " ".join(paragraphs[0].split())


def what_the_page_says(command: str) -> str:
    """`default`, `required` or `filter`: what the sentences naming `command` say its
    `--tenant` is."""
    sentences = re.split(r"(?<=\.)\s+(?=[A-Z`])", tenant_paragraph())
    named = " ".join(s for s in sentences if re.search(rf"`{command}( --[a-z]+| URL)?`", s))
    assert named, f"the --tenant paragraph of {CLI_PAGE.name} does not name `{command}`"
    if "defaults to" in named:
        return "default"
    if "needs" in named or "so do" in named:
        return "required"
    if "only narrows" in named:
        return "filter"
    raise AssertionError(f"{CLI_PAGE.name} names `{command}` but says nothing of it: {named}")


def what_the_program_does(option: Any) -> str:
    if option.required:
        return "required"
    if "default: the manifest's source.systemCode" in (option.help or ""):
        return "default"
    return "filter"


@pytest.mark.parametrize("command", sorted(commands_taking("--tenant")))
def test_the_cli_page_says_what_each_tenant_option_defaults_to(command):
    option = commands_taking("--tenant")[command]
    assert what_the_page_says(command) == what_the_program_does(option)


def test_the_cli_page_says_a_sync_of_a_url_needs_a_tenant():
    # `sync --tenant` defaults from the manifest, which a URL has none of: the program refuses
    # `sync URL` without --tenant (tests/flows), and the page says so
    assert re.search(r"`sync URL` needs\s+`--tenant`", tenant_paragraph())
