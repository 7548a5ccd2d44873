"""The spinner a command shows while it runs: the step it is in, in words."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from rosterflow.flows import console
from rosterflow.flows.progress import announce


@pytest.fixture
def said(monkeypatch) -> list[str]:
    """What the spinner says, update by update."""
    updates: list[str] = []

    class Status:
        def update(self, text: str) -> None:
            updates.append(text)

    @contextmanager
    def status(text: str):
        updates.append(text)
        yield Status()

    monkeypatch.setattr(console.console, "status", status)
    return updates


@pytest.mark.parametrize(
    ("dry_run", "applying"),
    [
        (False, "applying the changes…"),
        (True, "recording the planned changes (a dry run: nothing is applied)…"),
    ],
)
def test_the_apply_step_of_a_dry_run_says_that_nothing_is_applied(said, dry_run, applying):
    """A dry run's spinner said 'applying the changes' while it recorded its plan alone."""
    with console.progress(verbose=False, in_prefect=False, dry_run=dry_run) as steps:
        announce("plan")
        announce("apply")

    assert steps == ["plan", "apply"]
    assert said[1:] == ["planning the changes…", applying]
