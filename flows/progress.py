"""Which step is running, for the CLI's spinner; no Prefect, no heavy imports.

Both ways of running a sync announce their steps here: the Prefect flow from each task (a flow
parameter must be JSON, so the spinner cannot be handed to the flow; the CLI runs the flow in its
own process and listens here instead), and the plain in-process run from each step function.
The names are the task names the Prefect UI shows: `load-feed`, `validate`, `plan`, ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    from rosterflow.schemas.runs import SyncResult

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_step_listeners: list[Callable[[str], None]] = []
_record_listeners: list[Callable[[SyncResult], None]] = []


@contextmanager
def _listening(
    listeners: list[Callable[[T], None]], listener: Callable[[T], None]
) -> Iterator[None]:
    listeners.append(listener)
    try:
        yield
    finally:
        listeners.remove(listener)


def listening_to_steps(listener: Callable[[str], None]) -> AbstractContextManager[None]:
    """Call `listener(step name)` each time a step starts (or retries) in this process."""
    return _listening(_step_listeners, listener)


def announce(name: str) -> None:
    """Tell every listener that the step `name` starts."""
    for listener in list(_step_listeners):
        listener(name)


def listening_to_records(listener: Callable[[SyncResult], None]) -> AbstractContextManager[None]:
    """Call `listener(result)` each time a run is committed to the warehouse in this process."""
    return _listening(_record_listeners, listener)


def announce_recorded(result: SyncResult) -> None:
    """Tell every listener that the run `result` is committed. What fails after it (Prefect's
    API gone while the engine records the end of the task that committed, say) undid nothing:
    the user is told so rather than to run the sync again, and notified of its outcome, not
    of a failure."""
    for listener in list(_record_listeners):
        listener(result)


def announced(step: Callable[P, R], name: str) -> Callable[P, R]:
    """`step`, announcing `name` each time it is called."""

    @functools.wraps(step)
    def announcing(*args: P.args, **kwargs: P.kwargs) -> R:
        announce(name)
        return step(*args, **kwargs)

    return announcing
