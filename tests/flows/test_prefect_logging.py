"""What rosterflow says about the Prefect API: its URL always without user:password@."""

from __future__ import annotations

import httpx
import pytest

from rosterflow.flows.prefect_logging import prefect_unreachable, starting_notice

WITH_CREDENTIALS = "http://bob:Hunter2@127.0.0.1:9/api"


@pytest.fixture
def api_with_credentials():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: WITH_CREDENTIALS}):
        yield


def test_an_unreachable_api_is_named_without_its_credentials(api_with_credentials):
    try:
        raise RuntimeError(f"Failed to reach API at {WITH_CREDENTIALS}/") from httpx.ConnectError(
            "refused"
        )
    except RuntimeError as wrapped:
        message = prefect_unreachable(wrapped)
    assert message is not None and "Hunter2" not in message and "bob" not in message
    assert message.startswith(
        "cannot reach the Prefect API at http://127.0.0.1:9/api (Failed to reach API at "
        "http://127.0.0.1:9/api/). Start it with `prefect server start`, or run with --no-prefect"
    )


def test_the_spinner_names_the_api_without_its_credentials(api_with_credentials):
    assert starting_notice() == "connecting to the Prefect API at http://127.0.0.1:9/api"


def test_an_error_without_a_transport_error_behind_it_is_not_an_unreachable_api():
    assert prefect_unreachable(RuntimeError("a bug")) is None


def test_a_temporary_server_that_does_not_start_in_time_says_what_to_set():
    """Prefect gives up on its temporary server after a wait a busy machine can exceed: that is
    no failed run (exit 1) but one that never began, with the setting that waits longer."""
    from prefect.settings import (
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    try:
        try:
            raise RuntimeError(
                "Timed out while attempting to connect to ephemeral Prefect API server."
            )
        except RuntimeError as late:
            raise ValueError("while starting the flow run") from late
    except ValueError as wrapped:
        with temporary_settings({PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 7}):
            message = prefect_unreachable(wrapped)
    assert message is not None
    assert message.startswith("the temporary Prefect server did not start within 7 s")
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher" in message
    assert "or run with --no-prefect" in message


def test_prefect_s_internal_errors_stay_off_the_terminal_unless_verbose(monkeypatch):
    """With the Prefect server gone mid-run, the events and log services printed a line of
    several kB per event, and `--- Error logging to API ---`, around rosterflow's one line
    saying the server could not be reached, without --verbose."""
    import io
    import logging

    from prefect.logging.handlers import _SafeStreamHandler

    from rosterflow.flows.prefect_logging import quiet_prefect

    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # (restored afterwards)
    monkeypatch.setattr(logging, "raiseExceptions", True)
    internal = logging.getLogger("prefect._internal.concurrency")
    # as Prefect's logging.yml configures `prefect._internal` (its stream: stderr)
    terminal = io.StringIO()
    configured = logging.getLogger("prefect._internal")
    monkeypatch.setattr(configured, "handlers", [_SafeStreamHandler(terminal)])
    monkeypatch.setattr(configured, "propagate", False)
    monkeypatch.setattr(configured, "level", logging.ERROR)
    try:
        quiet_prefect(verbose=False)
        internal.error("Service 'EventsWorker' failed to process item Event(...)")
        assert terminal.getvalue() == ""
        assert logging.raiseExceptions is False  # Prefect's log worker prints then
    finally:
        quiet_prefect(verbose=True)
    internal.error("Service 'EventsWorker' failed to process item Event(...)")
    assert "EventsWorker" in terminal.getvalue()
    assert logging.raiseExceptions is True
