"""Shared fixtures. Flow tests share one Prefect test harness per session (see tests/flows)."""

from __future__ import annotations

from pathlib import Path

import pytest

# third-party feeds, with their SOURCE and licence (tests/data/README.md)
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def third_party_feeds() -> Path:
    """The OneRoster 1.1 feeds other implementations published, each with its `EXPECT`."""
    return DATA / "oneroster11"
