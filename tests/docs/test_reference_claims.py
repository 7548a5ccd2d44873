"""Claims of the reference pages held against the product, run for real on small feeds: what a
rule of docs/reference/feeds.md says fires it does, and nothing less."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district, with_cell, write_feed

ROOT = Path(__file__).resolve().parents[2]
FEEDS_PAGE = ROOT / "docs/reference/feeds.md"
runner = CliRunner()


def rule_row(rule: str) -> tuple[str, str]:
    """The severity and the "fired by" cell of `rule`'s row in the page's table of rules."""
    found = re.search(
        rf"^\| `{re.escape(rule)}` \| (\w+) \| (.+) \|$", FEEDS_PAGE.read_text(), re.M
    )
    assert found, f"feeds.md has no row for {rule}"
    return found.group(1), found.group(2)


def issues(tmp_path: Path, frames) -> list[dict]:
    feed = write_feed(tmp_path / "north.zip", frames)
    report = tmp_path / "issues.json"
    done = runner.invoke(app, ["validate", str(feed), "--report", str(report)])
    assert done.exit_code in (0, 1), done.output
    return json.loads(report.read_text())


@pytest.mark.parametrize(
    ("name", "subjects", "codes", "fired"),
    [
        ("courses", "Math,Science", "M1", "error"),  # both given, 2 against 1
        ("classes", "Math", "M1,M2", "warning"),
        ("courses", None, "M1", None),  # subjects not given: nothing to pair the codes with
        ("courses", "Math,Science", None, None),
        ("courses", "Math,Science", "M1,S1", None),
    ],
)
def test_list_length_fires_when_both_lists_are_given_and_differ(
    tmp_path, name, subjects, codes, fired
):
    severity, fired_by = rule_row("list.length")
    assert severity == "both"
    assert "both given" in fired_by  # (the page said "of different lengths" alone)
    frames = with_cell(tiny_district(), name, 0, "subjects", subjects)
    frames = with_cell(frames, name, 0, "subjectCodes", codes)

    found = [i for i in issues(tmp_path, frames) if i["rule"] == "list.length"]

    expected = [] if fired is None else [(f"{name}.csv", 2, "subjectCodes", codes, fired)]
    assert [(i["file"], i["line"], i["field"], i["value"], i["severity"]) for i in found] == (
        expected
    )
