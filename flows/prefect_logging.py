"""Prefect's logging in a command: its console quiet unless --verbose, the line saying which
Prefect server a run goes to, and the sentence for a server that cannot be reached.

Only a command that runs in Prefect calls these, so Prefect is imported inside them: `rosterflow
validate`, `--help` and every run without Prefect never import it.
"""

from __future__ import annotations

import logging
import os
import sys

from rosterflow.schemas.urls import without_userinfo

SILENT = logging.CRITICAL + 1

_console_levels: dict[logging.Handler, int] = {}  # Prefect's console handlers as configured


def quiet_prefect(verbose: bool) -> None:
    """Keep Prefect's console lines (server start and stop, every task's state, the traceback
    of a feed that cannot be read) out of rosterflow's output unless --verbose: rosterflow says
    what happened in its own words. Only the console handler is silenced: the same records
    still go to the Prefect API, so flow runs and their logs stay complete in the UI. Not undone
    at the end of a command, because the temporary server logs its stop at exit."""
    import prefect  # noqa: F401  (configures Prefect's logging on first import)
    from prefect.logging.handlers import PrefectConsoleHandler, _SafeStreamHandler
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        # the temporary server lives for one command; on the offline machines districts often
        # use, its telemetry would only log an error line into the user's terminal (the server
        # process reads this from the environment when it starts, on the first flow run)
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

    for logger in (logging.getLogger(), *prefect_loggers()):
        for handler in logger.handlers:
            # Prefect's console, and the stream `prefect._internal` writes to: with the API
            # gone, its background services (events, logs) print a line of several kB each
            if isinstance(handler, PrefectConsoleHandler | _SafeStreamHandler):
                level = _console_levels.setdefault(handler, handler.level)
                handler.setLevel(level if verbose else SILENT)
    # Prefect's log worker writes `--- Error logging to API ---` and the error to stderr by
    # itself when the API is gone, as logging does where it `raiseExceptions` (for a record a
    # handler fails to write); the run's own message says the API is gone, in one line
    logging.raiseExceptions = verbose


def prefect_loggers() -> list[logging.Logger]:
    """Every logger of Prefect and of the server it runs (uvicorn) created so far."""
    return [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and name.split(".")[0] in ("prefect", "uvicorn")
    ]


def starting_notice() -> str:
    """What the spinner says while Prefect starts: the API a run goes to, or the temporary
    server it starts first."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if url:
        return f"connecting to the Prefect API at {without_userinfo(url)}"
    return "starting a temporary Prefect server (about 10 s; set PREFECT_API_URL to use yours)"


WITHOUT_PREFECT = (
    "run with --no-prefect (the run is then recorded in the warehouse's audit tables only)"
)


def prefect_unreachable(error: BaseException, instead: str = WITHOUT_PREFECT) -> str | None:
    """The fix for a Prefect API that `error` (or what it was raised from) could not reach:
    start it, or do `instead`; None for any other error."""
    if _temporary_server_late(error):
        from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        waited = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        return (
            f"the temporary Prefect server did not start within {waited} s (a busy machine "
            "can need longer): set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher, "
            f"point PREFECT_API_URL at a running server (`prefect server start`), or {instead}"
        )
    if not _transport_error(error):
        return None
    from prefect.settings import PREFECT_API_URL

    return without_userinfo(  # the URL's user:password@ (and the error's) never shown
        f"cannot reach the Prefect API at {PREFECT_API_URL.value()} ({error}). Start it with "
        f"`prefect server start`, or {instead}"
    )


def prefect_lost(error: BaseException, run_id: int, outcome: str) -> str | None:
    """What to say when the Prefect API could not be reached (`error`, or what it was raised
    from) after run `run_id` was committed with `outcome`: the warehouse holds the run, only
    Prefect's record of it is incomplete. None for any other error."""
    if not _transport_error(error):
        return None
    from prefect.settings import PREFECT_API_URL

    return without_userinfo(
        f"run {run_id} is recorded in the warehouse ({outcome}, in audit.sync_runs), but the "
        f"Prefect API at {PREFECT_API_URL.value()} could not be reached afterwards ({error}): "
        "Prefect shows its flow run unfinished, and the warehouse needs nothing more"
    )


# what Prefect raises when the temporary server it started does not answer in time
TEMPORARY_SERVER_LATE = "Timed out while attempting to connect to ephemeral Prefect API server"


def _temporary_server_late(error: BaseException) -> bool:
    """Whether `error`, or what it was raised from, is Prefect giving up on starting its
    temporary server (`--prefect` without PREFECT_API_URL): no run began."""
    from rosterflow.flows.errors import error_chain

    return any(
        isinstance(e, RuntimeError) and str(e).startswith(TEMPORARY_SERVER_LATE)
        for e in error_chain(error)
    )


def _transport_error(error: BaseException) -> bool:
    """Whether `error`, or what it was raised from, is an HTTP request that got no answer."""
    from rosterflow.flows.errors import error_chain

    httpx = sys.modules.get("httpx")  # not imported: no HTTP error (and no Prefect) to look for
    return httpx is not None and any(
        isinstance(e, httpx.TransportError) for e in error_chain(error)
    )
