"""Flow tests share one Prefect test harness (a temporary API server on a throwaway SQLite
database) for the whole session, with PREFECT_HOME in a temporary folder. Only tests marked
`flow` start it, so the plain logic tests here stay as fast as any other."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_HOME,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    # no telemetry from a server that lives for one test session (and CI may be offline); no
    # heartbeats: Prefect's heartbeat thread sleeps a whole second at a time and a flow run joins
    # it as it ends: up to a second more for each of the suites' hundreds of flow runs, most of
    # which take less; heartbeats tell a server which runs crashed, which no test asks of it
    with (
        temporary_settings(
            {
                PREFECT_HOME: home,
                PREFECT_SERVER_ANALYTICS_ENABLED: False,
                PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
            }
        ),
        prefect_test_harness(),
    ):
        yield home


@pytest.fixture(autouse=True)
def _harness_for_flow_tests(request):
    """Marking a test `flow` is enough to run it under the shared harness."""
    if request.node.get_closest_marker("flow"):
        request.getfixturevalue("prefect_harness")


@pytest.fixture
def prefect_events(monkeypatch):
    """Prefect's events worker sending to a client that keeps every event (as Prefect's own
    `asserting_events_worker` fixture does): `AssertingEventsClient.all[...].events`."""
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    AssertingEventsClient.reset()
    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    try:
        yield worker
    finally:
        worker.drain()


@pytest.fixture
def wide(monkeypatch):
    """A console wide enough that no table cell wraps, so a message reads as one string."""
    from rich.console import Console

    from rosterflow.flows import cli

    monkeypatch.setattr(cli, "console", Console(width=300, emoji=False))
