"""The terminal a command writes to, and what it shows while a run goes on.

`console` (stdout) takes what a command reports, `errors` (stderr) the one line that says why it
stopped. While a sync or an inbox scan runs, `progress` shows a spinner naming the running step,
announced by the steps themselves (`flows.progress`) whether the run is a Prefect flow run or
runs in this process; Prefect's own console lines stay out of it unless --verbose
(`flows.prefect_logging`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

from rosterflow.schemas.printable import printable

# emoji=False: rich reads `:x:` or `:id:` in a value (`st:x:udent`, `urn:id:12`) as an emoji
# code and prints ❌ or 🆔 in its place; `shown` escapes markup, not emoji codes
console = Console(emoji=False)
errors = Console(stderr=True, emoji=False)


def shown(text: object) -> str:
    """Text that comes from data (a value, a message, a file, member, folder, feed or tenant
    name, a path) as markup that prints it as written and harmless: each control character as
    its escape (`schemas.printable`: an ESC sequence in a value never colours the terminal, a
    NUL or a vertical tab never vanishes), then square brackets escaped, which rich would
    otherwise read as markup (`[identity]`). Every command prints data-derived text through
    this, and only the styles written in the code are markup."""
    return escape(printable(text))


# the steps' names (the task names the Prefect UI shows) as the spinner says them
STEP_LABELS = {
    "load-settings": "reading the settings",
    "load-feed": "opening the feed",
    "read-feed": "reading the feed's files",
    "pull": "pulling the roster from the SIS's API",
    "write-feed": "writing the feed",
    "read-gradebook": "reading the gradebook",
    "push": "sending grades to the SIS's API",
    "record-push": "recording the push",
    "recall": "looking for an earlier run of the same feed",
    "validate": "validating",
    "plan": "planning the changes",
    "guard": "checking the safety guard",
    "reject": "recording the rejection",
    "apply": "applying the changes",
    "hold": "holding the run for approval",
    "publish": "publishing the summary to Prefect",
    "check-settings": "reading the settings",
    "check-warehouse": "opening the warehouse",
    "find-ready-zips": "looking for complete zips",
    "look-up-ledger": "looking the zip up in audit.sync_runs",
    "file-zip": "filing the zip",
}


@contextmanager
def own_logs(verbose: bool) -> Iterator[None]:
    """Without Prefect, --verbose shows rosterflow's own log lines (a scan's zip by zip) while
    the command runs; the logger is left as it was found after it, so a command run inside a
    longer process (a notebook, a test session) leaves no handler behind."""
    if not verbose:
        yield
        return
    from rich.logging import RichHandler

    logger = logging.getLogger("rosterflow")
    handler = RichHandler(console=errors, show_time=False, show_path=False)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# what a dry run's steps do instead, as the spinner says it: its `apply` records the plan alone
DRY_RUN_LABELS = {"apply": "recording the planned changes (a dry run: nothing is applied)"}


@contextmanager
def progress(verbose: bool, in_prefect: bool, dry_run: bool = False) -> Iterator[list[str]]:
    """A spinner naming the running step; yields the steps seen so far, newest last."""
    from rosterflow.flows.progress import listening_to_steps

    steps: list[str] = []
    if in_prefect:
        from rosterflow.flows.prefect_logging import quiet_prefect, starting_notice

        quiet_prefect(verbose)
        starting = starting_notice()
    else:
        starting = "starting (without Prefect: the run is recorded in the warehouse)"
    with own_logs(verbose and not in_prefect), console.status(escape(starting)) as status:
        labels = STEP_LABELS | DRY_RUN_LABELS if dry_run else STEP_LABELS

        def show(step: str) -> None:
            steps.append(step)
            status.update(escape(labels.get(step, step)) + "…")

        with listening_to_steps(show):
            yield steps
