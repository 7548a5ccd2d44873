"""`serve --pool`: a dispatched sync that recorded no run is filed as the in-process scan files
it (a feed that does not read as unreadable, a lock as waiting, a refused tenant file as
rejected), not as `failed` under rejected/; and the deployment's flow run is retried only on
what a retry can mend (a lock, a crash), not on a refusal of its input."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rosterflow.flows.errors import NotRun, TenantBusy
from rosterflow.flows.fanout import carried_error, held_by_another_process, worth_another_try
from rosterflow.flows.inbox import GIVE_UP_SECONDS, PROCESSED, REJECTED, verdict
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.feed import FeedError, FeedUnreadable
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings, SettingsError
from rosterflow.warehouse.layout import TenantFileRefused, TenantNameError
from rosterflow.warehouse.schema import WarehouseError, connect
from tests.feeds import tiny_district, with_cell, write_feed

TEMPLATE = "wh/{tenant}.duckdb"

HOLDER = """
import sys, time, duckdb
# another machine's sync of the tenant (writing), or an analyst's notebook (read-only)
con = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == "read-only")
print("open", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _failed_state_message(error: Exception) -> str:
    """The message Prefect gives the failed state of a flow run that raised `error`."""
    from prefect.states import exception_to_failed_state

    state = asyncio.run(
        exception_to_failed_state(error, message="Flow run encountered an exception:")
    )
    return state.message


def _not_a_feed(path: Path) -> Path:
    """A file named .zip that is no zip, as the inbox takes it once it stopped arriving (older
    than GIVE_UP_SECONDS): no feed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("the SIS exported its error page\n")
    return _aged(path, GIVE_UP_SECONDS + 60)


def _aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _hold(path: Path, seconds: float, how: str = "write") -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds), how],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "open\n"
    return holder


def _released(holder: subprocess.Popen) -> None:
    holder.kill()
    holder.wait(timeout=30)


def _one_file_copied_in(tmp_path: Path, tenant: str) -> Path:
    """A one-file warehouse copied in as the tenant's file of the layout: refused as it stands."""
    one_file = tmp_path / f"{tenant}-one-file.duckdb"
    run_sync(write_feed(tmp_path / f"{tenant}.zip", tiny_district()), one_file, Settings(), tenant)
    (tmp_path / "wh").mkdir(exist_ok=True)
    return Path(shutil.copy(one_file, tmp_path / "wh" / f"{tenant}.duckdb"))


# --- the error's kind, carried back in the flow run's state -------------------------------------


@pytest.mark.parametrize(
    ("raised", "outcome", "folder"),
    [
        (FeedError("nightly.zip: no manifest.csv in the zip"), "unreadable", REJECTED),
        (
            TenantNameError("manifest.csv: source.systemCode '' names no tenant"),
            "unreadable",
            REJECTED,
        ),
        (FeedUnreadable("nightly.zip: permission denied"), "waiting", None),
        (
            WarehouseError("wh/north.duckdb: cannot open the warehouse: it is locked by another"),
            "waiting",
            None,
        ),
        (SettingsError("settings.toml line 2: [safety] max_removal_share: 2"), "waiting", None),
        (TenantBusy("tenant north: its Prefect concurrency slot stayed taken"), "waiting", None),
        (
            TenantFileRefused("wh/north.duckdb: holds a one-file warehouse", "north"),
            "rejected",
            REJECTED,
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_a_failed_flow_run_s_error_comes_back_of_its_kind_for_the_same_verdict(
    raised, outcome, folder
):
    """Without a pool, the inbox files by the error's class; over a pool, the flow run's result
    is not persisted, and every such run came back as RuntimeError("... ended FAILED ..."):
    filed as `failed` under rejected/, a lock's zip with it."""
    carried = carried_error(_failed_state_message(raised), "north")

    assert type(carried) is type(raised) and str(carried) == str(raised)
    dispatched, in_process = verdict("n.zip", carried), verdict("n.zip", raised)
    assert (dispatched.outcome, dispatched.folder) == (outcome, folder)
    assert dispatched.issues.equals(in_process.issues)
    assert (dispatched.tenant, dispatched.message) == (in_process.tenant, in_process.message)


def test_a_message_of_several_lines_comes_back_whole():
    raised = FeedError("nightly.zip: users.csv line 3: not UTF-8\n(save it as UTF-8)")
    carried = carried_error(_failed_state_message(raised), None)
    assert isinstance(carried, FeedError) and str(carried) == str(raised)


@pytest.mark.parametrize(
    "message",
    [
        "Flow run encountered an exception: RuntimeError: boom",
        "Flow run encountered an exception: KeyError: 'FeedError: no'",
        "Flow run exceeded timeout of 60 second(s)",
        None,
    ],
)
def test_any_other_ending_is_no_kind_the_inbox_files_by(message):
    assert carried_error(message, "north") is None


def test_a_flow_run_that_failed_for_another_reason_is_still_filed_as_failed(tmp_path):
    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Crashed, Failed

    from rosterflow.flows.fanout import flow_run_outcome

    failed = FlowRun(
        flow_id="00000000-0000-0000-0000-000000000000",
        name="nightly.zip",
        state=Failed(message="Flow run encountered an exception: ZeroDivisionError: division"),
    )
    outcome = flow_run_outcome(failed, str(tmp_path / TEMPLATE), "north")
    assert isinstance(outcome, RuntimeError) and verdict("n.zip", outcome).outcome == "failed"
    crashed = failed.model_copy(update={"state": Crashed(message="the worker's machine died")})
    assert isinstance(flow_run_outcome(crashed, str(tmp_path / TEMPLATE), "north"), NotRun)


def test_a_run_applied_on_a_worker_is_read_back_beside_an_analyst_s_session(tmp_path, monkeypatch):
    """The scan read the run back through a writer's open of the tenant's file: an analyst's
    read-only session on it (a notebook, the catalog) kept it out until the lock wait ran out,
    and the zip of a run the worker had applied stayed in the inbox as `waiting`."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Completed

    from rosterflow.flows.fanout import flow_run_outcome

    ended = FlowRun(
        flow_id="00000000-0000-0000-0000-000000000000", name="nightly.zip", state=Completed()
    )
    feed = write_feed(tmp_path / "nightly.zip", tiny_district())
    warehouse = str(tmp_path / TEMPLATE)
    applied = run_sync(feed, warehouse, Settings(), tenant="north", attempt=str(ended.id))
    monkeypatch.setenv("ROSTERFLOW_LOCK_WAIT_SECONDS", "0.2")
    analyst = _hold(tmp_path / "wh" / "north.duckdb", 30, "read-only")
    try:
        outcome = flow_run_outcome(ended, warehouse, "north")
    finally:
        _released(analyst)

    assert isinstance(outcome, SyncResult), outcome
    assert (outcome.outcome, outcome.run_id) == ("applied", applied.run_id)
    assert verdict(feed.name, outcome).folder == PROCESSED


# --- which errors a retry can mend ----------------------------------------------------------------


def test_a_warehouse_locked_past_the_wait_is_worth_another_try_a_refusal_is_not(
    tmp_path, monkeypatch
):
    path = tmp_path / "north.duckdb"
    connect(path).close()
    monkeypatch.setenv("ROSTERFLOW_LOCK_WAIT_SECONDS", "0.2")
    holder = _hold(path, 30)
    try:
        with pytest.raises(WarehouseError, match="locked by another process") as locked:
            connect(path)
    finally:
        _released(holder)

    assert held_by_another_process(locked.value) and worth_another_try(locked.value)
    for refusal in (
        FeedError("nightly.zip: no manifest.csv"),
        SettingsError("settings.toml: unreadable"),
        TenantFileRefused("wh/north.duckdb: one-file", "north"),
        WarehouseError("wh/north.duckdb: schema version 99, written by a newer rosterflow"),
        TenantBusy("tenant north: its Prefect concurrency slot stayed taken"),
    ):
        assert not worth_another_try(refusal), refusal
    for crash in (ConnectionError("the API dropped out"), RuntimeError("a bug")):
        assert worth_another_try(crash)


@pytest.mark.flow
def test_an_unreadable_feed_fails_its_flow_run_once_and_notifies_once(tmp_path):
    """Two retries 15 s apart of a zip that is no feed: 30 s and three notifications for a
    refusal that came alike each time."""
    from prefect import get_client

    from rosterflow.flows.fanout import flow_run_outcome, tenant_sync_flow
    from tests.webhook import Receiver

    webhook = Receiver()
    config = tmp_path / "settings.toml"
    config.write_text(f'[notify]\nwebhook = "{webhook.url}"\n')
    feed = _not_a_feed(tmp_path / "nightly.zip")
    warehouse = str(tmp_path / TEMPLATE)
    flow = tenant_sync_flow.with_options(retry_delay_seconds=0)
    try:
        state = flow(feed=str(feed), warehouse=warehouse, config=str(config), return_state=True)
    finally:
        webhook.close()

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.state.is_failed() and flow_run.run_count == 1
    assert [post["outcome"] for post in webhook.posts] == ["failed"]
    filed = verdict(feed.name, flow_run_outcome(flow_run, warehouse, None))
    assert (filed.outcome, filed.folder) == ("unreadable", REJECTED)
    assert "not a zip archive" in filed.message


@pytest.mark.flow
def test_a_warehouse_locked_past_the_wait_is_retried_and_its_zip_then_waits(tmp_path, monkeypatch):
    from prefect import get_client

    from rosterflow.flows.fanout import FLOW_RUN_RETRIES, flow_run_outcome, tenant_sync_flow

    feed = write_feed(tmp_path / "nightly.zip", tiny_district())
    warehouse = str(tmp_path / TEMPLATE)
    run_sync(feed, warehouse, Settings(), tenant="north")
    monkeypatch.setenv("ROSTERFLOW_LOCK_WAIT_SECONDS", "0.2")
    changed = write_feed(
        tmp_path / "tuesday.zip", with_cell(tiny_district(), "users", 0, "givenName", "Ann")
    )
    holder = _hold(tmp_path / "wh" / "north.duckdb", 60)
    try:
        flow = tenant_sync_flow.with_options(retry_delay_seconds=0)
        state = flow(feed=str(changed), warehouse=warehouse, tenant="north", return_state=True)
    finally:
        _released(holder)

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.state.is_failed() and flow_run.run_count == FLOW_RUN_RETRIES + 1
    filed = verdict(changed.name, flow_run_outcome(flow_run, warehouse, "north"))
    assert (filed.outcome, filed.folder) == ("waiting", None)
    assert "locked by another process" in filed.message


# --- the scan over a real work pool ----------------------------------------------------------------


@pytest.mark.flow
@pytest.mark.slow
def test_a_pool_scan_files_unreadable_and_refused_zips_as_the_in_process_scan_does(tmp_path):
    """Over a work pool, a zip that is no feed was filed as `failed` (its report: "the sync
    failed (RuntimeError: flow run ... ended FAILED ...)"), and so was a zip of a tenant whose
    file the layout refuses, each after two retries."""
    from prefect import get_client

    from rosterflow.flows.fanout import deploy_sync
    from rosterflow.flows.inbox_flow import inbox_flow
    from tests.flows.test_fanout import _start_worker, _wait_until_online

    pool = f"rosterflow-qa-{os.getpid()}"
    deploy_sync(pool)
    (tmp_path / "worker").mkdir()
    worker = _start_worker(pool, "worker-qa", tmp_path / "worker")
    try:
        _wait_until_online(pool, {"worker-qa"}, tmp_path)
        _one_file_copied_in(tmp_path, "north")
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        _not_a_feed(inbox / "wrong-folder.zip")
        changed = with_cell(tiny_district(), "users", 0, "givenName", "Ann")
        nightly = write_feed(
            inbox / "north.zip", changed, properties={"source.systemCode": "north"}
        )
        _aged(nightly, 20)
        _aged(write_feed(inbox / "south.zip", tiny_district()), 10)

        state = inbox_flow(
            str(inbox), str(tmp_path / TEMPLATE), settle_seconds=0, dispatch=True, return_state=True
        )
        filed = {f.name: f for f in state.result()}
    finally:
        worker.terminate()
        worker.wait(30)
        with get_client(sync_client=True) as client:
            runs = [client.read_flow_run(r.id) for r in _deployment_runs(client, pool)]
            for run in runs:  # (the scale test counts the deployment's runs)
                client.delete_flow_run(run.id)

    assert {name: f.outcome for name, f in filed.items()} == {
        "wrong-folder.zip": "unreadable",
        "north.zip": "rejected",
        "south.zip": "applied",
    }
    assert filed["north.zip"].tenant == "north"
    assert "one-file warehouse" in filed["north.zip"].message
    assert "not a zip archive" in filed["wrong-folder.zip"].message
    assert {p.name for p in (inbox / REJECTED).iterdir()} == {
        "wrong-folder.zip",
        "wrong-folder.issues.csv",
        "north.zip",
        "north.issues.csv",
    }
    assert (inbox / PROCESSED / "south.zip").exists()
    # no retry of a refusal: each zip's flow run ran once
    assert len(runs) == 3 and all(run.run_count == 1 for run in runs)


def _deployment_runs(client, pool: str):
    from prefect.client.schemas.filters import FlowRunFilter, WorkPoolFilter, WorkPoolFilterName

    return client.read_flow_runs(
        flow_run_filter=FlowRunFilter(),
        work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])),
    )
