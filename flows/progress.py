"""Which step is running, for the CLI's spinner; no Prefect, no heavy imports.

Both ways of running a sync announce their steps here: the Prefect flow from each task (a flow
parameter must be JSON, so the spinner cannot be handed to the flow; the CLI runs the flow in its
own process and listens here instead), and the plain in-process run from each step function.
The names are the task names the Prefect UI shows: `load-feed`, `validate`, `plan`, ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_step_listeners: list[Callable[[str], None]] = []


@contextmanager
def listening_to_steps(listener: Callable[[str], None]) -> Iterator[None]:
    """Call `listener(step name)` each time a step starts (or retries) in this process."""
    _step_listeners.append(listener)
    try:
        yield
    finally:
        _step_listeners.remove(listener)


def announce(name: str) -> None:
    """Tell every listener that the step `name` starts."""
    for listener in list(_step_listeners):
        listener(name)


def announced(step: Callable[P, R], name: str) -> Callable[P, R]:
    """`step`, announcing `name` each time it is called."""

    @functools.wraps(step)
    def announcing(*args: P.args, **kwargs: P.kwargs) -> R:
        announce(name)
        return step(*args, **kwargs)

    return announcing
