"""Benchmark figures live in bench/ only (bench/README.md, with how each was measured): a page
of the documentation, or a comment of the code that points at the bench, says what is faster
or lighter and links to the section that measures it, so that no figure goes stale apart from
its measurement. Timeouts, sizes a limit states and the messages a command prints are no
benchmark figures: the ones a measurement gives are decimals, rates and ratios."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# what only a measurement writes: 0.45 s, 4.5 GiB, 2.0x, 127,006 records/s, 8 times faster
MEASUREMENT = re.compile(
    r"\b\d+\.\d+ ?(?:s|ms|seconds|CPU seconds|GiB|MiB)\b"
    r"|\b\d+(?:\.\d+)?x\b"
    r"|\b\d+(?:\.\d+)? times (?:faster|slower|the)\b"
    r"|records/s\b|records per second"
)


def prose(markdown: str) -> str:
    """The page's prose: its code blocks and spans (messages, commands) and link targets (a
    bench section's anchor may name a figure) left out."""
    markdown = re.sub(r"^(```|~~~).*?^\1", "", markdown, flags=re.DOTALL | re.MULTILINE)
    markdown = re.sub(r"`[^`]*`", "", markdown)
    return re.sub(r"\]\([^)]*\)", "]", markdown)


def measurements(text: str) -> list[str]:
    return [match[0] for match in MEASUREMENT.finditer(text)]


# docs/development.md says how long the test suite takes, which is no benchmark
PAGES = sorted(
    str(page.relative_to(ROOT))
    for page in (ROOT / "docs").rglob("*.md")
    if page != ROOT / "docs/development.md"
)


@pytest.mark.parametrize("page", PAGES)
def test_a_page_of_the_documentation_quotes_no_benchmark_figure(page):
    assert measurements(prose((ROOT / page).read_text())) == [], (
        f"{page}: link to the section of bench/README.md that measures it instead"
    )


def test_the_zip_reader_points_at_its_benchmark_without_quoting_it():
    module = ast.parse((ROOT / "schemas/unzip.py").read_text())
    docstring = " ".join(ast.get_docstring(module).split())
    assert measurements(docstring) == [] and "twice as fast" not in docstring
    assert 'bench/README.md, "The zip reader"' in docstring


def test_the_dependencies_comments_quote_no_benchmark_figure():
    text = (ROOT / "pyproject.toml").read_text()
    dependencies = tomllib.loads(text)["project"]["dependencies"]
    assert any(dependency.startswith("zlib-ng") for dependency in dependencies)
    comments = [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]
    assert measurements(" ".join(comments)) == []
