"""Shared fixtures and the test selection. Flow tests share one Prefect test harness per session
(see tests/flows).

`pytest` runs every test but those marked `slow` (properties at full strength, end-to-end runs):
the README's test command, at most 5 minutes on 2 cores. `pytest -m slow` runs the slow ones,
`pytest -m "slow or not slow"` all of them; CI runs both sets (.ci/run). A test named on the
command line (`path::name`) runs whatever its marks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# third-party feeds, with their SOURCE and licence (tests/data/README.md)
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def third_party_feeds() -> Path:
    """The OneRoster 1.1 feeds other implementations published, each with its `EXPECT`."""
    return DATA / "oneroster11"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the slow tests out unless a marker expression or a test by name was asked for."""
    if config.option.markexpr or any("::" in arg for arg in config.args):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
