"""The house's shape: one import name, and layers that import one way.

The four top-level folders install as `rosterflow.flows`, `rosterflow.schemas`,
`rosterflow.transforms` and `rosterflow.warehouse`; every file of the repository imports them
under that name, so a bare `import schemas` (which another package may own) never works by
accident of the working directory.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("flows", "schemas", "transforms", "warehouse")
SOURCES = (*LAYERS, "tests", "bench", "notebooks", "docs")


def python_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in (ROOT / folder).rglob("*.py"))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports (absolute imports), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_the_layers_are_imported_under_the_one_name_rosterflow():
    bare = [
        f"{path.relative_to(ROOT)}:{line}: import {module}"
        for path in python_files()
        for line, module in imported_modules(path)
        if module.split(".")[0] in LAYERS
    ]
    assert bare == [], "\n".join(bare)


def test_nothing_points_outside_the_repository():
    beside = "../" + "shared"  # spelt apart, so that this file does not name it
    found = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if path.is_file()
        and not {".git", ".venv", "site", ".hypothesis"} & set(path.relative_to(ROOT).parts)
        and ".egg-info" not in str(path)
        and path.suffix in {".py", ".md", ".toml", ".txt", ".sql", ".yml", ".json", ".cfg", ""}
        and beside in path.read_text(errors="replace")
    ]
    assert found == []
