"""The demo package stands beside the pipeline, not on it: its district and its week-later
changes are OneRoster frames, so `rosterflow.demo` imports `rosterflow.schemas` and nothing else
of rosterflow (no flows, transforms or warehouse)."""

from __future__ import annotations

from pathlib import Path

from tests.test_house import imported_modules

DEMO = Path(__file__).resolve().parents[2] / "demo"


def test_the_demo_imports_only_the_schemas_of_rosterflow():
    beyond = [
        f"demo/{path.name}:{line}: import {module}"
        for path in sorted(DEMO.glob("*.py"))
        for line, module in imported_modules(path)
        if module.startswith("rosterflow.")
        and not module.startswith(("rosterflow.schemas", "rosterflow.demo"))
    ]
    assert beyond == [], "\n".join(beyond)
