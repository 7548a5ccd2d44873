"""Text beyond ASCII as the commands print it: a value's bidirectional override or isolate
(which a terminal or a spreadsheet laying out right-to-left text obeys to the end of the line)
prints as its escape, where right-to-left letters, emoji and the marks that steer one
character print as sent; and the value an issue names shows every character, those a screen
shows as nothing too (a zero-width space, a byte-order mark), which may be what is wrong."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.schemas.printable import every_character_shown, printable
from tests.feeds import tiny_district, with_cell, write_feed

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()

# a role that a right-to-left layout prints as `teacher`, the rest of its line turned over
TURNED = "\u202erehcaet"
# the bidirectional embeddings, overrides and isolates: each lasts until the end of the line
LASTING = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (TURNED, "\\u202erehcaet"),
        ("a\u2066b\u2069c", "a\\u2066b\\u2069c"),
        ("محمد", "محمد"),  # right-to-left letters
        ("\u200fשלום", "\u200fשלום"),  # a right-to-left mark steers one character
        ("👩\u200d👩\u200d👧", "👩\u200d👩\u200d👧"),  # a family emoji, joined
        ("علی\u200cرضا", "علی\u200cرضا"),  # a Persian name's zero-width non-joiner
    ],
)
def test_a_bidirectional_override_prints_as_its_escape_and_letters_as_sent(text, shown):
    assert printable(text) == shown
    assert printable(printable(text)) == printable(text)


def test_no_override_or_isolate_reaches_the_terminal_or_the_csv_report(tmp_path, wide):
    feed = write_feed(tmp_path / "d.zip", with_cell(tiny_district(), "users", 2, "role", TURNED))
    report = tmp_path / "issues.csv"
    exact = tmp_path / "issues.json"

    result = runner.invoke(app, ["validate", str(feed), "--report", str(report)])
    runner.invoke(app, ["validate", str(feed), "--report", str(exact)])

    assert result.exit_code == 1, result.output
    assert "role = '\\u202erehcaet'" in result.output
    assert not set(LASTING) & set(result.output), result.output
    written = report.read_text(encoding="utf-8")
    assert "\\u202erehcaet" in written
    assert not set(LASTING) & set(written), written
    # the data itself keeps the character
    assert TURNED in {row["value"] for row in json.loads(exact.read_text(encoding="utf-8"))}


def test_a_tenant_feed_and_value_with_an_override_print_escaped_in_sync_runs_and_query(
    tmp_path, wide
):
    district = with_cell(tiny_district(), "users", 2, "givenName", TURNED)
    feed = write_feed(tmp_path / "fe\u202eed.zip", district)
    warehouse = str(tmp_path / "w.duckdb")

    synced = runner.invoke(
        app, ["sync", str(feed), "--warehouse", warehouse, "--tenant", "t\u2067x", "--no-prefect"]
    )
    listed = runner.invoke(app, ["runs", "--warehouse", warehouse])
    queried = runner.invoke(
        app, ["query", "select given_name from lms.users", "--warehouse", warehouse]
    )

    assert synced.exit_code == 0, synced.output
    assert "fe\\u202eed.zip: applied" in synced.output
    assert "tenant t\\u2067x" in synced.output
    assert "t\\u2067x" in listed.output
    assert "\\u202erehcaet" in queried.output
    for output in (synced.output, listed.output, queried.output):
        assert not set(LASTING) & set(output), output


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("student\u200b", "student\\u200b"),  # a zero-width space
        ("\ufefftrue", "\\ufefftrue"),  # a byte-order mark
        ("t1\u00ad", "t1\\xad"),  # a soft hyphen
        ("Zo\u00eb \u6771\u4eac", "Zo\u00eb \u6771\u4eac"),  # letters as sent
        ("a\x1bb", "a\\x1bb"),  # control characters as printable shows them
    ],
)
def test_every_character_of_a_value_is_shown(text, shown):
    assert every_character_shown(text) == shown


def test_an_issue_s_value_shows_the_character_that_makes_it_wrong(tmp_path, wide):
    district = with_cell(tiny_district(), "users", 2, "role", "student\u200b")
    district = with_cell(district, "users", 3, "enabledUser", "\ufefftrue")
    feed = write_feed(tmp_path / "d.zip", district)

    result = runner.invoke(app, ["validate", str(feed)])

    assert result.exit_code == 1, result.output
    assert "role = 'student\\u200b'" in result.output
    assert "enabledUser = '\\ufefftrue'" in result.output
