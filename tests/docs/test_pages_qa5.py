"""What a newcomer copies from the pages holds: a variable read of anywhere has its row in the
environment variables reference (docs/reference/environment.md), and every settings or sources
file a page shows loads as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from rosterflow.schemas.settings import load_settings
from rosterflow.schemas.sources import load_sources
from tests.docs.test_front_page import parsed

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT_PAGE = ROOT / "docs/reference/environment.md"
PACKAGE_FOLDERS = ("demo", "flows", "schemas", "sis", "transforms", "warehouse", "notebooks")
SHELL_OPERATORS = {"&&", "||", "|", "&", ";", ">", ">>", "2>&1"}
VARIABLE = re.compile(r"\b(?:ROSTERFLOW|PREFECT)_[A-Z0-9_]+\b")

# set where `prefect server start` runs, for the server's own process: no rosterflow command
# reads it, and the page that names it says so
SERVER_SETTINGS = {"PREFECT_API_DATABASE_CONNECTION_URL"}


def documented() -> set[str]:
    """The variables the reference has a row for."""
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", ENVIRONMENT_PAGE.read_text(), re.MULTILINE))


def test_every_rosterflow_variable_the_code_reads_has_a_row():
    literals = {
        name
        for folder in PACKAGE_FOLDERS
        for source in (ROOT / folder).rglob("*.py")
        for name in re.findall(r"[\"'](ROSTERFLOW_[A-Z0-9_]+)[\"']", source.read_text())
    }
    # a hook the tests set to pause a run mid-apply, not a setting of the product
    read = {name for name in literals if not name.startswith("ROSTERFLOW_TEST_")}

    assert read, "no ROSTERFLOW_ variable found in the code: the scan is broken"
    assert read - documented() == set()


def test_every_variable_a_page_names_has_a_row():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    named = {
        (name, page.relative_to(ROOT).as_posix())
        for page in pages
        if page != ENVIRONMENT_PAGE
        for name in VARIABLE.findall(page.read_text())
    }
    missing = sorted(
        (name, page) for name, page in named if name not in documented() | SERVER_SETTINGS
    )

    assert missing == []


def toml_blocks() -> list[tuple[str, str]]:
    """Every ```toml block of the README and the pages, with its page."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [
        (page.relative_to(ROOT).as_posix(), block)
        for page in pages
        for block in re.findall(r"^```toml\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)
    ]


def test_every_settings_or_sources_file_a_page_shows_is_taken_as_written(tmp_path):
    # a reader copies these into north.toml or sources.toml: each must load as it stands
    blocks = toml_blocks()
    assert len(blocks) >= 5, "the pages' TOML blocks were not found: the scan is broken"
    for number, (page, block) in enumerate(blocks):
        path = tmp_path / f"{number}.toml"
        path.write_text(block)
        if "[[source]]" in block:
            assert load_sources(path), page
        else:
            load_settings(path)  # raises a SettingsError naming the key the page got wrong


def page_commands() -> list[tuple[str, list[str]]]:
    """Every `rosterflow` command of the pages' shell and cron blocks, with its page, as its
    words up to the first shell operator (`> catalog.sql`, `&`, `&&`); comments left out."""
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text()
        for block in re.findall(r"^```(?:bash|cron)\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                starts = [i for i, word in enumerate(words) if Path(word).name == "rosterflow"]
                for start in starts:
                    command = []
                    for word in words[start + 1 :]:
                        if word in SHELL_OPERATORS:
                            break
                        command.append(word)
                    found.append((page.relative_to(ROOT).as_posix(), command))
    return found


def test_every_command_a_page_prints_is_one_the_command_line_takes():
    # typed as printed, none may stop at a usage error (an option renamed, a command gone)
    commands = page_commands()
    assert len(commands) >= 40, "the pages' commands were not found: the scan is broken"
    for page, arguments in commands:
        assert parsed(arguments) is not None, page


def test_a_block_that_starts_the_prefect_server_holds_nothing_after_it():
    # the server runs in the foreground until stopped: a reader typing the block line by line
    # would wait for it forever before the next line, so what follows goes in a block of its own
    starts = 0
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text()
        for block in re.findall(r"^```bash\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
            commands = [line for line in block.splitlines() if shlex.split(line, comments=True)]
            for number, line in enumerate(commands):
                if "prefect server start" in line and not line.rstrip().endswith("&"):
                    starts += 1
                    assert number == len(commands) - 1, f"{page.name}: {commands[number + 1]}"
    assert starts, "no page starts the Prefect server: the scan is broken"
