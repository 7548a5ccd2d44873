"""The warehouse the documentation's statements about a real warehouse are checked against."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks.school_changes import build_school_changes_warehouse


@pytest.fixture(scope="session")
def school_changes_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small district's six runs in which students change schools in every way a sync
    records it, a school and a section are deleted and a run is undone
    (tests/notebooks/school_changes.py)."""
    folder = tmp_path_factory.mktemp("school-changes")
    warehouse = folder / "rosterflow.duckdb"
    assert build_school_changes_warehouse(warehouse, folder) == ["applied"] * 6
    return warehouse
