"""The house's shape: one import name, and layers that import one way.

The top-level folders install as `rosterflow.flows`, `rosterflow.schemas`,
`rosterflow.transforms`, `rosterflow.warehouse`, `rosterflow.sis` and `rosterflow.demo`; every file of the
repository imports them under that name, so a bare `import schemas` (which another package may
own) never works by accident of the working directory.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("demo", "flows", "schemas", "sis", "transforms", "warehouse")
SOURCES = (*LAYERS, "tests", "bench", "notebooks", "docs")


def python_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in (ROOT / folder).rglob("*.py"))


@functools.cache  # (five tests read every file of the repository)
def syntax_tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports (absolute imports), with its line."""
    found = []
    for node in ast.walk(syntax_tree(path)):
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


# an import in code handed to Python as text (`python -c "from flows.pipeline import ..."`)
IMPORT_IN_TEXT = re.compile(r"(?:^|[;\n]\s*)(?:from|import) +(" + "|".join(LAYERS) + r")\b")


def test_code_given_to_python_as_text_imports_the_one_name_too():
    """A script a test or the docs run in another interpreter imports `rosterflow.flows`, not
    `flows` from the working directory (a second copy of the module, with state of its own)."""
    bare = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.strip()[:80]!r}"
        for path in python_files()
        for node in ast.walk(syntax_tree(path))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and IMPORT_IN_TEXT.search(node.value)
    ]
    assert bare == [], "\n".join(bare)


def test_every_rosterflow_module_imported_anywhere_exists():
    """A module moved or renamed leaves no import behind, also in the scripts the tests do
    not run (bench/) and in imports made inside functions."""
    missing = sorted(
        {
            f"{path.relative_to(ROOT)}:{line}: {module}"
            for path in python_files()
            for line, module in imported_modules(path)
            if module.startswith("rosterflow.") and importlib.util.find_spec(module) is None
        }
    )
    assert missing == [], "\n".join(missing)


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


# which layers each layer may import: schemas is the ground floor, transforms and warehouse
# build on it side by side (never on each other), flows wires all three; the demo's district
# and its changes are OneRoster frames, built on schemas alone, and flows runs the demo
MAY_IMPORT = {
    "schemas": {"schemas"},
    "transforms": {"schemas", "transforms"},
    "warehouse": {"schemas", "warehouse"},
    "demo": {"schemas", "demo"},
    # the district's SIS over its OneRoster REST API: frames shaped as the CSV files
    "sis": {"schemas", "sis"},
    "flows": {"schemas", "transforms", "warehouse", "demo", "sis", "flows"},
}


def layer_imports(layer: str) -> list[tuple[str, int, str]]:
    """(file, line, layer imported) for every import of a rosterflow layer in `layer`."""
    return [
        (str(path.relative_to(ROOT)), line, module.split(".")[1])
        for path in sorted((ROOT / layer).rglob("*.py"))
        for line, module in imported_modules(path)
        if module.startswith("rosterflow.") and module.count(".") >= 1
    ]


def test_layers_import_one_way():
    wrong = [
        f"{file}:{line}: {layer} imports {imported}"
        for layer, allowed in MAY_IMPORT.items()
        for file, line, imported in layer_imports(layer)
        if imported in MAY_IMPORT and imported not in allowed
    ]
    assert wrong == [], "\n".join(wrong)


def sql_calls(path: Path) -> list[int]:
    """Lines of `*.execute(...)` and `*.sql(...)` calls: SQL run against a connection."""
    return [
        node.lineno
        for node in ast.walk(syntax_tree(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("execute", "sql")
    ]


def test_sql_lives_in_the_warehouse():
    """Only warehouse/ talks to DuckDB: transforms and schemas never import it, and flows
    hands a connection from one warehouse call to the next without running SQL itself."""
    imports_duckdb = [
        f"{path.relative_to(ROOT)}:{line}"
        for layer in ("schemas", "sis", "transforms")
        for path in sorted((ROOT / layer).rglob("*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] == "duckdb"
    ]
    runs_sql = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "flows").rglob("*.py"))
        for line in sql_calls(path)
    ]
    assert imports_duckdb == [] and runs_sql == []
