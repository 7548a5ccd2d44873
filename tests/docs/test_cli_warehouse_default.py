"""The introduction of docs/reference/cli.md says what `--warehouse` defaults to: true of every
command that takes it."""

from __future__ import annotations

from pathlib import Path

from tests.docs.test_cli_page import commands_taking

ROOT = Path(__file__).resolve().parents[2]
CLI_PAGE = ROOT / "docs/reference/cli.md"
STATED_DEFAULT = "rosterflow.duckdb"


def warehouse_paragraph() -> str:
    """The introduction's paragraph on `--warehouse`, on one line."""
    introduction = CLI_PAGE.read_text().split("<!-- generated: cli -->")[0]
    paragraphs = [p for p in introduction.split("\n\n") if "takes `--warehouse`" in p]
    assert len(paragraphs) == 1, paragraphs
    return " ".join(paragraphs[0].split())


def test_a_command_whose_warehouse_default_differs_is_named_with_it():
    """`catalog` defaults to 'wh/{tenant}.duckdb' where the page said every command defaults
    to rosterflow.duckdb."""
    paragraph = warehouse_paragraph()
    assert f"the default is `{STATED_DEFAULT}`" in paragraph
    others = {
        command: str(option.default)
        for command, option in commands_taking("--warehouse").items()
        # None: no warehouse unless one is given (`validate` checks the feed alone)
        if option.default is not None and str(option.default) != STATED_DEFAULT
    }
    assert others, "every command defaults to rosterflow.duckdb: say it without exception"
    for command, default in others.items():
        assert f"`{command}`" in paragraph and f"`'{default}'`" in paragraph, (command, default)
