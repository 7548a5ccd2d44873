"""The operations commands over a per-tenant layout as a district data team meets it: several
tenants, one tenant's file held by another process (a long nightly sync), one tenant whose
name the file name percent-encodes, and a tenant typed in another Unicode form."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import unicodedata
from datetime import datetime
from io import StringIO
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.flows.operations import approve_run, runs, undo_run
from rosterflow.flows.pipeline import run_sync
from rosterflow.flows.report import print_runs
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.layout import Layout
from rosterflow.warehouse.operations import OperationRefused
from rosterflow.warehouse.schema import LOCK_WAIT_ENV, WarehouseError
from tests.feeds import tiny_district, without_students
from tests.holding import MONTREAL, held, synced_layout

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three tenants synced into a layout, one run each."""
    return synced_layout(tmp_path_factory.mktemp("layout"))


def _runs(template: str, *options: str):
    return runner.invoke(app, ["runs", "--warehouse", template, *options])


def _file_of(template: str, tenant: str) -> Path:
    return Layout(template).path_for(tenant)


def test_a_tenant_file_a_sync_holds_leaves_the_other_tenants_runs_listed(layout, monkeypatch, wide):
    """`runs` over a layout exited 2 with north's lock alone: while one district synced, no
    district's runs could be looked at."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    north = _file_of(layout, "north")

    with held(north):
        listed = _runs(layout)
        of_south = _runs(layout, "--tenant", "south")

    assert listed.exit_code == 2, listed.output
    shown = {line.split()[1] for line in listed.stdout.splitlines()[2:] if line.strip()}
    assert shown == {"south", MONTREAL}
    (note,) = listed.stderr.splitlines()
    assert note.startswith(f"rosterflow: the runs of tenant 'north' are not listed: {north}: ")
    assert "locked by another process" in note
    # a tenant whose own file is free is listed as ever
    assert of_south.exit_code == 0, of_south.output
    assert of_south.stderr == ""


def test_a_held_tenant_file_is_named_and_no_runs_is_not_claimed(layout, monkeypatch, wide):
    """The tenant's own file held: its runs cannot be known, so "no runs of tenant north"
    would be false; the line names the file and the command exits 2."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")

    with held(_file_of(layout, "north")):
        listed = _runs(layout, "--tenant", "north")

    assert listed.exit_code == 2, listed.output
    assert listed.stdout == ""
    assert "the runs of tenant 'north' are not listed" in listed.stderr
    assert str(_file_of(layout, "north")) in listed.stderr


def test_a_mistyped_tenant_names_the_tenants_with_runs_while_one_file_is_held(
    layout, monkeypatch, wide
):
    """The tenants named beside "no runs" were read through the catalog of every file, which
    a held file stopped: exit 2 with north's lock, for a tenant that is not north."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")

    with held(_file_of(layout, "north")):
        listed = _runs(layout, "--tenant", "Sooth")

    assert listed.exit_code == 0, listed.output
    assert listed.output == (
        f"{layout}: no runs of tenant Sooth (the tenants with runs: {MONTREAL}, north, south)\n"
    )


def test_a_tenant_typed_in_another_unicode_form_lists_its_runs(layout, wide):
    """`--tenant Montréal/Est` typed with `e` and a combining accent said "no runs of tenant
    Montréal/Est (the tenants with runs: Montréal/Est, ...)": one name, printed alike."""
    decomposed = unicodedata.normalize("NFD", MONTREAL)
    assert decomposed != MONTREAL

    listed = _runs(layout, "--tenant", decomposed)

    assert listed.exit_code == 0, listed.output
    assert "no runs" not in listed.output
    assert runs(layout, decomposed)["tenant"].to_list() == [MONTREAL]


def test_listing_runs_as_a_function_still_refuses_a_held_file_naming_its_tenant(
    layout, monkeypatch
):
    """`flows.operations.runs` returns a frame: a file it could not read is an error, never a
    list that leaves a tenant out without a word; and it names the tenant, whose file name
    (`Montr%C3%A9al%2FEst.duckdb`) a reader would not know for Montréal/Est's."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    montreal = _file_of(layout, MONTREAL)
    assert montreal.name == "Montr%C3%A9al%2FEst.duckdb"

    with held(montreal), pytest.raises(WarehouseError) as refused:
        runs(layout)

    assert str(refused.value).startswith(
        f"the runs of tenant {MONTREAL!r} are not listed: {montreal}: cannot open the warehouse"
    )


def _copied(command: str) -> list[str]:
    """The arguments of a `rosterflow ...` command a message suggests, as a shell splits it."""
    words = shlex.split(command)
    assert words[0] == "rosterflow"
    return words[1:]


def test_the_commands_a_refusal_suggests_in_a_layout_name_the_layout(tmp_path, monkeypatch):
    """`undo` of a held run suggested `rosterflow discard RUN`, and of an approved one
    `rosterflow undo RUN`: copied as they read in a layout, they read the default one-file
    warehouse ("no such warehouse", exit 2), which holds none of the layout's runs."""
    monkeypatch.chdir(tmp_path)
    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    for tenant in ("north", MONTREAL):
        feed = write_feed(tmp_path / "district.zip", tiny_district())
        assert run_sync(feed, template, Settings(), tenant=tenant).outcome == "applied"
    fewer = write_feed(tmp_path / "fewer.zip", without_students(tiny_district()))
    first = run_sync(fewer, template, Settings(), tenant=MONTREAL)
    second = run_sync(fewer, template, Settings(), tenant=MONTREAL)
    assert (first.outcome, second.outcome) == ("held", "held")

    with pytest.raises(OperationRefused) as refused:
        undo_run(template, first.run_id)
    discard = re.search(r"`(rosterflow discard [^`]+)` drops a held run", str(refused.value))
    assert discard is not None, refused.value
    discarded = runner.invoke(app, _copied(discard[1]))
    assert discarded.exit_code == 0, discarded.output
    assert f"discarded held run {first.run_id} (tenant {MONTREAL}" in discarded.output

    approved = approve_run(template, second.run_id)
    with pytest.raises(OperationRefused) as refused:
        undo_run(template, second.run_id)
    undo = re.search(r"`(rosterflow undo [^`]+)` undoes that", str(refused.value))
    assert undo is not None, refused.value
    undone = runner.invoke(app, _copied(undo[1]))
    assert undone.exit_code == 0, undone.output
    assert f"undid run {approved.run_id}" in undone.output

    with pytest.raises(OperationRefused) as refused:
        undo_run(template, approved.run_id)
    again = re.search(r"`(rosterflow undo [^`]+)` would bring them back", str(refused.value))
    assert again is not None, refused.value
    assert _copied(again[1])[-2:] == ["--warehouse", template]


def test_a_held_run_whose_tenant_file_a_sync_holds_is_named_with_its_tenant(tmp_path, monkeypatch):
    """`approve` of Montréal/Est's run while its file was held said only
    "wh/Montr%C3%A9al%2FEst.duckdb: cannot open the warehouse: it is locked ...": a file
    name the data team does not know for the district's. Another tenant's file held keeps
    nothing from the run."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    template = str(tmp_path / "wh" / "{tenant}.duckdb")
    feed = write_feed(tmp_path / "district.zip", tiny_district())
    fewer = write_feed(tmp_path / "fewer.zip", without_students(tiny_district()))
    for tenant in ("north", MONTREAL):
        assert run_sync(feed, template, Settings(), tenant=tenant).outcome == "applied"
    waiting = run_sync(fewer, template, Settings(), tenant=MONTREAL)
    assert waiting.outcome == "held"
    montreal = _file_of(template, MONTREAL)

    with held(montreal):
        refused = runner.invoke(app, ["approve", str(waiting.run_id), "--warehouse", template])
    with held(_file_of(template, "north")):
        approved = runner.invoke(app, ["approve", str(waiting.run_id), "--warehouse", template])

    assert refused.exit_code == 2, refused.output
    assert refused.stderr.startswith(
        f"rosterflow: run {waiting.run_id} of tenant {MONTREAL!r}: {montreal}: cannot open the "
        "warehouse: it is locked by another process"
    )
    assert approved.exit_code == 0, approved.output


def test_ctrl_c_ends_runs_while_a_held_tenant_file_is_waited_for(layout):
    """The tenant files are read side by side, each waited for while held: Ctrl-C must end
    the command at once, not when the wait for the held file runs out."""
    command = [sys.executable, "-c", "from rosterflow.flows.cli import main; main()"]
    with held(_file_of(layout, "north")):
        listing = subprocess.Popen(
            [*command, "runs", "--warehouse", layout],
            env=os.environ | {LOCK_WAIT_ENV: "60"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)  # (imported, and waiting for north's file)
        listing.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, said = listing.communicate(timeout=60)
        ended = time.monotonic() - started

    assert listing.returncode == 130, said
    assert said == "rosterflow: interrupted\n"
    assert ended < 5


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_the_run_a_decision_names_is_never_cut_in_the_runs_listing(width):
    """In a layout's 13-digit run ids, `undone by run 3298534883332` printed at 80 columns as
    `undo`/`ne by`/`run`/`3298`/`5348`/`8333`/`2`: a run id no one can copy into `rosterflow
    undo`. The table keeps it whole, or the runs print as records."""
    listed = pl.DataFrame(
        {
            "run_id": [3298534883332, 3298534883331, 3298534883330],
            "tenant": [MONTREAL] * 3,
            "started_at": [datetime(2026, 12, 6, 8, 13, s) for s in (16, 15, 1)],
            "outcome": ["applied", "applied", "held"],
            # (runs the listing does not show: their ids are printed in the decisions alone)
            "decision": [None, "undone by run 3298534883399", "approved by run 3298534883398"],
            "feed_name": ["undo of run 3298534883331", "small.zip", "small.zip"],
            "changes": [10_745] * 3,
            "planning": [None] * 3,
            "message": ["undid run 3298534883331", "approved held run 3298534883330", None],
        }
    )
    out = StringIO()

    print_runs(Console(file=out, width=width), listed)

    printed = out.getvalue()
    assert max(len(line) for line in printed.splitlines()) <= width
    assert "3298534883399" in printed and "3298534883398" in printed, printed


def test_a_small_run_id_looked_for_in_a_held_file_says_why_that_file(layout, monkeypatch):
    """`undo 5` in a layout looks in every tenant file (a one-file warehouse copied in numbers
    its runs from 1): north's file held, it said only that north's file was locked, which
    read as nonsense for a run of no tenant in particular."""
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.2")
    north = _file_of(layout, "north")

    with held(north):
        done = runner.invoke(app, ["undo", "5", "--warehouse", layout])

    assert done.exit_code == 2, done.output
    assert done.stderr.startswith(
        f"rosterflow: run 5 is numbered as a one-file warehouse's runs are (below "
        f"1,099,511,627,776, where the tenants of {layout} number theirs), so it is looked "
        f"for in every tenant file, and one could not be read: {north}: cannot open"
    )
