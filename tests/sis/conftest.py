"""A OneRoster API the tests start on this machine (`demo.api.RosterApi` under uvicorn), over
a small generated district, and a retry policy that does not keep them waiting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import polars as pl
import pytest

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.sis.client import RetryPolicy

ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
# three tries, a hundredth of a second apart: the retries without the waiting
QUICK = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=5.0, timeout=10.0)


@pytest.fixture(scope="session")
def district() -> dict[str, pl.DataFrame]:
    """A district of 40 students: the files an API serves, as the CSV export has them."""
    return {name: frame for name, frame in generate_feed(40).items() if name in ROSTERING}


@pytest.fixture
def serve() -> Iterator[Callable[[RosterApi], str]]:
    """Start an app on a free port for the test; returns its OneRoster base URL."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serving(app)) + app.base_path
