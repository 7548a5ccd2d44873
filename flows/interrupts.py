"""The Ctrl-Cs this process received while its command ran: DuckDB's Python client turns a
KeyboardInterrupt raised while a statement runs into `RuntimeError('Query interrupted')`, so
what a command made of a Ctrl-C cannot tell it was one; noted here, it can."""

from __future__ import annotations

import contextlib
import importlib
import signal
import threading
from collections.abc import Iterator

# the Ctrl-Cs this process received while its command ran (`interrupts_noted`)
interrupts: list[int] = []


def _note_interrupt(signum: int, frame: object) -> None:
    """Python's own answer to Ctrl-C (a KeyboardInterrupt), the Ctrl-C noted first: DuckDB's
    Python client turns a KeyboardInterrupt raised while a statement runs into
    `RuntimeError('Query interrupted')`, which a sync recorded as a failed run (exit 1), and
    Polars reads a statement's rows as all read when that ends their reading (a query
    printed "0 rows", exit 0); noted, the command ends as interrupted whatever it made of it."""
    interrupts.append(signum)
    signal.default_int_handler(signum, frame)


@contextlib.contextmanager
def interrupts_noted() -> Iterator[None]:
    """Ctrl-C noted while the block runs (`_note_interrupt`), where this process answers it
    as Python does by default: a Ctrl-C ignored (a job a shell started in the background)
    stays ignored, and a handler the caller set stays."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    interrupts.clear()
    signal.signal(signal.SIGINT, _note_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        interrupts.clear()


def ctrl_c_received() -> bool:
    """Whether a Ctrl-C came while the command ran (in `interrupts_noted`)."""
    return bool(interrupts)


def load_keeping_ctrl_c_ignored(module: str) -> None:
    """Where this process was started ignoring Ctrl-C (a job a script starts with `&`,
    `nohup`), import `module` now and ignore Ctrl-C again after. Polars' native library
    installs a SIGINT handler of its own when it loads, behind Python's back (Python still
    reports SIGINT ignored): a sync started so was interrupted by the Ctrl-C meant for its
    caller, exit 130, from the moment a command first loaded Polars. SIGINT is blocked
    meanwhile (threads the import starts inherit the block), and one that came is discarded
    when the signal is ignored again. A process that answers Ctrl-C loads `module` when a
    command needs it, as before."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    ):
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        importlib.import_module(module)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # (set anew below Python too)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
