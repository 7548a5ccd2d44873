"""The front page against the product: the picture of `rosterflow demo` (docs/assets/demo.svg)
is what the demo prints now, and the figures README.md quotes from it are the demo's."""

from __future__ import annotations

import html
import importlib.util
import re
import sys
from pathlib import Path

import pytest

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
