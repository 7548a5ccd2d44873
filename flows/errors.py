"""Which errors a person fixes by changing their input (exit code 2), found even when Prefect
or a library has wrapped them in another exception."""

from __future__ import annotations

from collections.abc import Iterator

from rosterflow.schemas.changes import PlanError
from rosterflow.schemas.environment import EnvironmentVariableError
from rosterflow.schemas.feed import FeedError
from rosterflow.schemas.settings import SettingsError
from rosterflow.warehouse.schema import WarehouseError


class InboxBusy(Exception):
    """Another scan of the inbox held it for longer than the lock wait: this scan filed nothing."""


class TenantBusy(Exception):
    """The tenant's Prefect concurrency slot stayed taken for longer than the wait: the run
    did not start."""


# the feed, the settings, the environment's limits, the warehouse (unreadable, locked, newer, or
# holding duplicated managed rows a person must resolve), an inbox another scan holds, a
# tenant whose slot stays taken: each message already says what to do
INPUT_ERRORS: tuple[type[Exception], ...] = (
    FeedError,
    SettingsError,
    EnvironmentVariableError,
    WarehouseError,
    PlanError,
    InboxBusy,
    TenantBusy,
)


class NotRun(Exception):
    """A dispatched sync came to no outcome for a reason outside its feed: the Prefect API
    failed, or the process running it crashed (a worker's machine went down, say)."""


# errors that are not the feed's fault: the inbox leaves the feed where it is for the next scan
NOT_THE_FEEDS_FAULT: tuple[type[Exception], ...] = (
    SettingsError,
    EnvironmentVariableError,
    WarehouseError,
    PlanError,
    TenantBusy,
    NotRun,
)


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what it was raised from or during, without looping on a cycle."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def input_error(
    error: BaseException, kinds: tuple[type[Exception], ...] = INPUT_ERRORS
) -> Exception | None:
    """The first error of `kinds` in `error`'s chain, or None."""
    return next((e for e in error_chain(error) if isinstance(e, kinds)), None)
