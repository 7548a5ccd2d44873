"""`serve --pool`: a flow run of the tenant deployment that someone cancelled (the UI, `prefect
flow-run cancel`) recorded no run and wrote nothing, and its feed was never judged. The scan
filed its zip under rejected/ as a failed sync ("the sync failed (RuntimeError: flow run ...
ended CANCELLED ...)"), and it was never tried again; it now stays in the inbox, the tenant's
later zips behind it, for the next scan, as a zip whose worker crashed does. A flow run, or
the deployment, deleted from the server is named as such, not "ObjectNotFound: None"."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from prefect.exceptions import ObjectNotFound

from rosterflow.flows.errors import NotRun
from rosterflow.flows.fanout import flow_run_outcome
from rosterflow.flows.inbox import PROCESSED, REJECTED, ZipsWaiting, scan_inbox, verdict
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from tests.feeds import tiny_district, with_cell, write_feed

TEMPLATE = "wh/{tenant}.duckdb"


def _cancelled(state: str, name: str = "north.zip"):
    """A flow run of the tenant deployment as `ended_flow_run` hands it back, cancelled."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Cancelled, Cancelling

    made = {"cancelled": Cancelled, "cancelling": Cancelling}[state]
    return FlowRun(
        flow_id="00000000-0000-0000-0000-000000000000",
        name=name,
        state=made(message="cancelled by ana from the UI"),
    )


def _north(path: Path, given_name: str = "Ann") -> Path:
    changed = with_cell(tiny_district(), "users", 0, "givenName", given_name)
    return write_feed(path, changed, properties={"source.systemCode": "north"})


def _aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _runs(tmp_path: Path) -> list[tuple]:
    with duckdb.connect(str(tmp_path / "wh" / "north.duckdb"), read_only=True) as con:
        return con.sql("select run_id, outcome from audit.sync_runs order by run_id").fetchall()


@pytest.mark.parametrize("state", ["cancelled", "cancelling"])
def test_a_cancelled_flow_run_is_not_run_and_its_zip_waits_in_the_inbox(tmp_path, state):
    # the tenant's file holds a run of another flow run: none of the cancelled one
    run_sync(
        write_feed(tmp_path / "earlier.zip", tiny_district()),
        str(tmp_path / TEMPLATE),
        Settings(),
        tenant="north",
        attempt="an-earlier-flow-run",
    )
    cancelled = _cancelled(state)

    outcome = flow_run_outcome(cancelled, str(tmp_path / TEMPLATE), "north")

    assert isinstance(outcome, NotRun), outcome
    found = verdict("north.zip", outcome)
    assert (found.outcome, found.folder) == ("waiting", None)
    assert found.message == (
        "flow run north.zip was cancelled (cancelled by ana from the UI) before it recorded a "
        "run: nothing was written, and the next scan syncs the zip (move it out of the inbox "
        "to leave it unsynced)"
    )
    assert [outcome for _, outcome in _runs(tmp_path)] == ["applied"]  # that one alone


def test_a_cancelled_flow_run_that_had_recorded_its_run_is_filed_by_that_run(tmp_path):
    """A cancel that came after the run committed: the run is applied, and the zip filed."""
    cancelled = _cancelled("cancelled")
    feed = _north(tmp_path / "north.zip")
    applied = run_sync(feed, str(tmp_path / TEMPLATE), Settings(), attempt=str(cancelled.id))

    outcome = flow_run_outcome(cancelled, str(tmp_path / TEMPLATE), "north")

    assert (outcome.outcome, outcome.run_id) == ("applied", applied.run_id)
    assert verdict("north.zip", outcome).folder == PROCESSED


def test_a_scan_whose_dispatch_was_cancelled_files_nothing_and_the_next_scan_syncs(tmp_path):
    from rosterflow.flows.plain import SCAN_STEPS, scan

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _aged(_north(inbox / "monday.zip", "Ann"), 20)
    _aged(_north(inbox / "tuesday.zip", "Anna"), 10)
    warehouse = str(tmp_path / TEMPLATE)
    sent: list[str] = []

    def cancelled_on_the_pool(feed, warehouse, config, tenant=None):
        sent.append(Path(feed).name)
        return flow_run_outcome(_cancelled("cancelled", Path(feed).name), warehouse, tenant)

    cancelling = replace(SCAN_STEPS, sync=cancelled_on_the_pool)
    with pytest.raises(ZipsWaiting) as waiting:
        scan_inbox(cancelling, str(inbox), warehouse, settle_seconds=0)

    filed = {f.name: f for f in waiting.value.filed}
    assert sent == ["monday.zip"]  # tuesday's waits behind monday's, untried
    assert {name: f.outcome for name, f in filed.items()} == {
        "monday.zip": "waiting",
        "tuesday.zip": "waiting",
    }
    assert "monday.zip: flow run monday.zip was cancelled" in str(waiting.value)
    assert sorted(p.name for p in inbox.iterdir()) == ["monday.zip", "tuesday.zip"]
    assert not (inbox / REJECTED).exists()

    again = scan(str(inbox), warehouse, settle_seconds=0)

    assert [(f.name, f.outcome) for f in again] == [
        ("monday.zip", "applied"),
        ("tuesday.zip", "applied"),
    ]
    assert _runs(tmp_path) == [(f.run_id, "applied") for f in again]


@contextmanager
def a_person_on_the_pool(pool: str, act: Callable[[object, object], None]) -> Iterator[list]:
    """A person who, in another thread, does `act(client, flow_run)` to the first flow run that
    appears on `pool` (which no worker serves); the flow runs acted on, deleted at the end (the
    scale test counts the pool's runs)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, WorkPoolFilter, WorkPoolFilterName

    acted: list = []

    def watch() -> None:
        on_the_pool = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
        with get_client(sync_client=True) as client:
            for _ in range(600):
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(), work_pool_filter=on_the_pool
                )
                if runs:
                    act(client, runs[0])
                    acted.append(runs[0])
                    return
                time.sleep(0.1)

    person = threading.Thread(target=watch)
    person.start()
    try:
        yield acted
    finally:
        person.join(90)
        with get_client(sync_client=True) as client, suppress(ObjectNotFound):
            for flow_run in acted:
                client.delete_flow_run(flow_run.id)


@pytest.fixture
def idle_pool(monkeypatch) -> str:
    """The tenant deployment on a work pool of its own that no worker serves, polled often."""
    from rosterflow.flows import fanout

    pool = f"rosterflow-cancelled-{os.getpid()}"
    fanout.deploy_sync(pool)
    monkeypatch.setattr(fanout, "POLL_SECONDS", 0.1)
    return pool


@pytest.mark.flow
@pytest.mark.slow
def test_a_flow_run_cancelled_on_the_pool_leaves_its_zip_in_the_inbox(tmp_path, idle_pool):
    """Through the Prefect API: the scan sends the sync to a pool no worker serves, a person
    cancels it there, and the scan ends with the zip still in the inbox."""
    from prefect.states import Cancelled

    from rosterflow.flows.inbox_flow import inbox_flow

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _aged(_north(inbox / "north.zip"), 20)

    def cancel(client, flow_run) -> None:
        client.set_flow_run_state(flow_run.id, Cancelled(), force=True)

    with a_person_on_the_pool(idle_pool, cancel) as cancelled:
        state = inbox_flow(
            str(inbox), str(tmp_path / TEMPLATE), settle_seconds=0, dispatch=True, return_state=True
        )

    outcome = state.result(raise_on_failure=False)
    assert cancelled and isinstance(outcome, ZipsWaiting), outcome
    [entry] = outcome.filed
    assert entry.outcome == "waiting" and "was cancelled" in entry.message
    assert [p.name for p in inbox.iterdir()] == ["north.zip"]
    assert not (tmp_path / "wh" / "north.duckdb").exists()


@pytest.mark.flow
@pytest.mark.slow
def test_a_flow_run_deleted_while_the_scan_waits_is_named_not_object_not_found(tmp_path, idle_pool):
    """Prefect says "ObjectNotFound: None" of a flow run it no longer has: the zip's line
    read "cannot run the sync on the work pool (ObjectNotFound: None)"."""
    from rosterflow.flows.fanout import dispatched_sync

    feed = _north(tmp_path / "north.zip")

    def delete(client, flow_run) -> None:
        client.delete_flow_run(flow_run.id)

    with a_person_on_the_pool(idle_pool, delete) as deleted:
        outcome = dispatched_sync(str(feed), str(tmp_path / TEMPLATE), None, tenant="north")

    assert isinstance(outcome, NotRun), outcome
    assert str(outcome) == (
        f"flow run north.zip ({deleted[0].id}) was deleted from the Prefect server before it ended"
    )
    assert verdict("north.zip", outcome).outcome == "waiting"


@pytest.mark.flow
@pytest.mark.slow
def test_a_deployment_deleted_since_serve_created_it_says_how_to_make_it_again(
    tmp_path, monkeypatch
):
    from rosterflow.flows import fanout

    monkeypatch.setattr(fanout, "SYNC_DEPLOYMENT", f"rosterflow-sync/deleted-{os.getpid()}")
    feed = _north(tmp_path / "north.zip")

    outcome = fanout.dispatched_sync(str(feed), str(tmp_path / TEMPLATE), None, tenant="north")

    assert isinstance(outcome, NotRun), outcome
    assert str(outcome) == (
        f"the deployment rosterflow-sync/deleted-{os.getpid()} is not on the Prefect server "
        "(deleted since `rosterflow serve --pool` created it?): restart `rosterflow serve "
        "--pool POOL`, which creates it again"
    )


# --- a sync subflow of the scan's own process, cancelled -------------------------------------


@pytest.mark.parametrize("recorded", [True, False], ids=["applied before the cancel", "not"])
def test_a_cancelled_subflow_is_filed_by_what_it_recorded(tmp_path, monkeypatch, recorded):
    """Nothing stops a subflow in the scan's process: cancelled in the UI, it went on, applied
    its run and was left CANCELLING, whose result Prefect does not give: `state.result` raised
    UnfinishedRun, which ended the whole scan ("the run was recorded, but publishing its summary
    to Prefect failed"), the other zips untried."""
    from prefect.states import Cancelling

    from rosterflow.flows import inbox_flow

    feed = _north(tmp_path / "north.zip")
    warehouse = str(tmp_path / TEMPLATE)
    state = Cancelling(message="cancelled by ana from the UI")
    state.state_details.flow_run_id = uuid.uuid4()
    if recorded:  # the sync went on and committed, as a subflow does in this process
        run_sync(feed, warehouse, Settings(), attempt=str(state.state_details.flow_run_id))
    monkeypatch.setattr(inbox_flow, "sync_flow", lambda **_: state)

    outcome = inbox_flow.sync_subflow(str(feed), warehouse, None, "north")

    if recorded:
        assert (outcome.outcome, verdict(feed.name, outcome).folder) == ("applied", PROCESSED)
    else:
        assert isinstance(outcome, NotRun) and "north.zip was cancelled" in str(outcome)
        assert verdict(feed.name, outcome).outcome == "waiting"


@pytest.mark.flow
@pytest.mark.slow
def test_a_scan_whose_subflow_was_cancelled_files_the_run_it_applied(tmp_path, monkeypatch):
    """A person cancels the zip's sync subflow while it runs (here: as it starts its steps)."""
    from prefect import get_client
    from prefect.runtime import flow_run
    from prefect.states import Cancelling

    from rosterflow.flows import sync
    from rosterflow.flows.inbox_flow import inbox_flow

    steps = sync.run_steps

    def cancelled_as_it_runs(*args, **kwargs):
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
        return steps(*args, **kwargs)

    monkeypatch.setattr(sync, "run_steps", cancelled_as_it_runs)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _aged(_north(inbox / "north.zip"), 20)

    state = inbox_flow(str(inbox), str(tmp_path / TEMPLATE), settle_seconds=0, return_state=True)

    filed = state.result(raise_on_failure=False)
    assert [(f.name, f.outcome) for f in filed] == [("north.zip", "applied")], filed
    assert (inbox / PROCESSED / "north.zip").exists()
    assert _runs(tmp_path) == [(filed[0].run_id, "applied")]


@pytest.mark.flow
@pytest.mark.slow
def test_a_scan_cancelled_while_it_runs_prints_its_zips_not_a_traceback(tmp_path, monkeypatch):
    """`serve --once` with a Prefect server: a person cancels the scan's flow run in the UI.
    Nothing stops it in this process, and it filed every zip, but it stayed CANCELLING, whose
    result Prefect does not give: the command ended in UnfinishedRun's traceback (exit 1)."""
    from prefect import get_client
    from prefect.runtime import flow_run
    from prefect.states import Cancelling

    from rosterflow.flows import commands, inbox_flow

    scan = inbox_flow.scan_inbox

    def cancelled_as_it_scans(*args, **kwargs):
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
        return scan(*args, **kwargs)

    monkeypatch.setattr(inbox_flow, "scan_inbox", cancelled_as_it_scans)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _aged(_north(inbox / "north.zip"), 20)
    parameters = {
        "inbox": str(inbox),
        "warehouse": str(tmp_path / TEMPLATE),
        "config": None,
        "settle_seconds": 0,
    }

    scanned = commands.scan_once(parameters, verbose=False, in_prefect=True)

    assert [(f.name, f.outcome) for f in scanned.filed] == [("north.zip", "applied")]
    assert (scanned.waiting, scanned.exit_code) == (None, 0)
    assert (inbox / PROCESSED / "north.zip").exists()


@pytest.mark.flow
@pytest.mark.slow
def test_a_run_waiting_on_a_paused_pool_is_said_to_wait_for_the_pool_not_a_worker(
    tmp_path, idle_pool, monkeypatch
):
    """A person paused the pool (maintenance) and forgot it: the scan asked every minute
    whether `prefect worker start` was running, while the workers ran all along."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate
    from prefect.deployments import run_deployment
    from prefect.states import Cancelled

    from rosterflow.flows import fanout

    monkeypatch.setattr(fanout, "WAITING_NOTICE_SECONDS", 0.0)
    with get_client(sync_client=True) as client:
        client.update_work_pool(idle_pool, WorkPoolUpdate(is_paused=True))
    flow_run = run_deployment(
        fanout.SYNC_DEPLOYMENT,
        parameters={"feed": "f.zip", "warehouse": str(tmp_path / TEMPLATE)},
        timeout=0,
        flow_run_name="f.zip",
    )
    heard: list[str] = []

    def say(message: str) -> None:
        heard.append(message)
        with get_client(sync_client=True) as client:  # (the person cancels it: the wait ends)
            client.set_flow_run_state(flow_run.id, Cancelled(), force=True)

    try:
        fanout.ended_flow_run(flow_run.id, say)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_flow_run(flow_run.id)
            client.update_work_pool(idle_pool, WorkPoolUpdate(is_paused=False))

    assert heard[0] == (
        f"flow run f.zip waits on work pool {idle_pool}, which is paused: no worker takes its "
        f"runs until `prefect work-pool resume {idle_pool}`"
    )
