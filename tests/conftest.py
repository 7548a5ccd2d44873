"""Shared fixtures. Flow tests share one Prefect test harness per session (see tests/flows)."""

from __future__ import annotations

from pathlib import Path

import pytest

# CI clones main with ../shared beside it, as on a developer's machine
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    assert path.is_dir(), f"the third-party feeds are expected in {path}"
    return path
