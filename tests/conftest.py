"""Shared fixtures and the test selection. Flow tests share one Prefect test harness per session
(see tests/flows).

`pytest` runs every test but those marked `slow` (properties at full strength, end-to-end runs)
and `fuzz` (the fuzzed reader's long search): the README's test command, at most 5 minutes on 2
cores. `pytest -m slow` runs the slow ones, `pytest -m fuzz` the long search, `pytest -m "slow
or not slow"` all of them; CI runs the first two sets (.ci/run). A test named on the
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


# left out of a run that names no marker: `-m slow` (CI) or `-m fuzz` asks for them
ON_REQUEST = ("slow", "fuzz")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the slow tests and the long fuzz search out unless a marker expression or a test
    by name was asked for."""
    if config.option.markexpr or any("::" in arg for arg in config.args):
        return
    left_out = [i for i in items if any(i.get_closest_marker(m) for m in ON_REQUEST)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
