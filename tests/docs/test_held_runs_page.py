"""docs/how-to/held-runs.md against `rosterflow sync`: the dry run the page shows over the
tenant's removal share is the one a sync prints for the feed it describes (a district's users
and enrollments files cut to their headers), and the way the page gives past the guards lets
that feed through."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app

ROOT = Path(__file__).resolve().parents[2]
HELD_RUNS_PAGE = ROOT / "docs/how-to/held-runs.md"
# the files a SIS export cut short leaves with their header line alone
CUT_FILES = ("users.csv", "enrollments.csv")

runner = CliRunner()


def words(text: str) -> str:
    """The text with every run of white space one space: a line the terminal wraps reads the
    same as the page's one line."""
    return " ".join(text.split())


def page_blocks(language: str) -> list[str]:
    """The page's fenced code blocks of `language`, in order."""
    return re.findall(rf"```{language}\n(.*?)```", HELD_RUNS_PAGE.read_text(), re.DOTALL)


def cut_short(feed: Path, out: Path) -> Path:
    """`feed` (a zip) as a SIS export cut short writes it: `CUT_FILES` with their header line
    alone, every other file as it was."""
    with zipfile.ZipFile(feed) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.namelist():
            data = source.read(member)
            if Path(member).name in CUT_FILES:
                data = data.split(b"\n", 1)[0] + b"\n"
            target.writestr(member, data)
    return out


@pytest.fixture
def held_feed(tmp_path: Path) -> tuple[Path, Path]:
    """The page's example: tenant north synced from a generated district, then its feed with
    every user and enrollment gone (the warehouse, the cut feed)."""
    feed, warehouse = tmp_path / "whole.zip", tmp_path / "wh.duckdb"
    generated = runner.invoke(app, ["generate", str(feed), "--students", "50"])
    assert generated.exit_code == 0, generated.output
    synced = runner.invoke(
        app, ["sync", str(feed), "--tenant", "north", "--warehouse", str(warehouse)]
    )
    assert synced.exit_code == 0, synced.output
    return warehouse, cut_short(feed, tmp_path / "north.zip")


def dry_run(feed: Path, warehouse: Path, *options: str) -> str:
    """The verdict a dry run of `feed` for tenant north prints last, as one line; it exits 0."""
    arguments = ["sync", str(feed), "--tenant", "north", "--warehouse", str(warehouse)]
    done = runner.invoke(app, [*arguments, "--dry-run", *options])
    assert done.exit_code == 0, done.output
    verdict = "north.zip: planned"
    return words(verdict + done.output.split(verdict)[-1])


def test_the_dry_run_the_page_shows_is_the_one_a_sync_prints(held_feed):
    """The page showed the advice of the tenant's share alone, where the sync also names the
    school's share the feed is over (every school loses all its users)."""
    warehouse, feed = held_feed
    (shown,) = [block for block in page_blocks("text") if "would be held" in block]

    printed = dry_run(feed, warehouse)

    # the page's run is 41 of a warehouse with history; this one's is its second
    assert words(re.sub(r"run \d+", "run 2", shown)) == printed


def test_the_shares_the_page_gives_let_the_feed_through(held_feed, tmp_path):
    """`--max-removal-share 1` alone leaves the feed held for its schools; with the page's
    `[safety]` block as --config too, it would be applied."""
    warehouse, feed = held_feed
    (settings,) = [block for block in page_blocks("toml") if "max_school_removal_share" in block]
    config = tmp_path / "settings.toml"
    config.write_text(settings)

    raised_alone = dry_run(feed, warehouse, "--max-removal-share", "1")
    raised_both = dry_run(feed, warehouse, "--max-removal-share", "1", "--config", str(config))

    assert "would be held" in raised_alone
    assert "max_school_removal_share = 0.5" in raised_alone
    assert "would be held" not in raised_both


def test_the_held_runs_message_names_the_warehouse_as_the_page_says(held_feed):
    """The page said the message names the run alone (`rosterflow approve 41`), where a held
    run's message names the warehouse by its absolute path, for any folder to decide from."""
    warehouse, feed = held_feed
    page = words(HELD_RUNS_PAGE.read_text())
    quoted = re.search(
        r"``(The run is held: `rosterflow approve 41 [^`]+` [^`]+`[^`]+` drops it)``", page
    )
    decide = re.search(r"`(Decide: rosterflow approve 41 --warehouse wh\.duckdb, [^`]+)`", page)
    assert quoted and decide, "the page quotes no held run's message or Decide line"

    arguments = ["sync", str(feed), "--tenant", "north", "--warehouse", str(warehouse)]
    held = runner.invoke(app, arguments)

    assert held.exit_code == 1, held.output
    printed = words(held.output)
    message = quoted.group(1).replace("/srv/sis/wh.duckdb", str(warehouse.resolve()))
    assert message.replace(" 41 ", " 2 ") in printed
    assert decide.group(1).replace(" 41 ", " 2 ").replace("wh.duckdb", str(warehouse)) in printed
