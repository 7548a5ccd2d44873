"""Tenants side by side: each tenant's sync a flow run of the tenant deployment on a process
work pool, one run of a tenant at a time, a retried flow run never applying its feed twice.

The scale test starts two real Prefect workers (`prefect worker start`) against the session's
test harness server; they run the flow runs in processes of their own, each syncing into its
tenant's file of a per-tenant layout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rosterflow.demo.district import generate_feed
from rosterflow.flows.errors import TenantBusy
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.layout import Layout
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district, with_cell

TEMPLATE = "wh/{tenant}.duckdb"


def _tenant_feed(path: Path, tenant: str, students: int, seed: int) -> Path:
    return write_feed(
        path, generate_feed(students, seed=seed), properties={"source.systemCode": tenant}
    )


def test_a_retried_attempt_returns_its_recorded_run_and_applies_nothing(tmp_path):
    feed = write_feed(tmp_path / "feed.zip", tiny_district())
    warehouse = str(tmp_path / TEMPLATE)
    first = run_sync(feed, warehouse, Settings(), tenant="north", attempt="flow-run-1")
    again = run_sync(feed, warehouse, Settings(), tenant="north", attempt="flow-run-1")
    assert first.outcome == again.outcome == "applied"
    assert again.run_id == first.run_id
    assert again.planning == "retried"
    assert again.summary.equals(first.summary)
    with connect(tmp_path / "wh" / "north.duckdb", read_only=True) as con:
        assert con.sql("select count(*) from audit.sync_runs").fetchall() == [(1,)]
    # another attempt of the same feed is a run of its own (recalled: nothing to change)
    other = run_sync(feed, warehouse, Settings(), tenant="north", attempt="flow-run-2")
    assert other.run_id == first.run_id + 1 and other.planning == "recalled"


@pytest.mark.slow
@pytest.mark.flow
def test_a_flow_run_retried_after_its_run_committed_applies_it_once(tmp_path, monkeypatch):
    from rosterflow.flows import sync as sync_module
    from rosterflow.flows.fanout import tenant_sync_flow

    broken = {"left": 1}
    publish = sync_module.publish

    def publish_once_broken(result):
        if broken["left"]:
            broken["left"] -= 1
            raise ConnectionError("the API dropped out after the run committed")
        return publish(result)

    monkeypatch.setattr(sync_module, "publish", publish_once_broken)
    feed = write_feed(tmp_path / "feed.zip", tiny_district())
    flow = tenant_sync_flow.with_options(retry_delay_seconds=0)
    result = flow(feed=str(feed), warehouse=str(tmp_path / TEMPLATE), tenant="north")
    assert result.outcome == "applied" and result.planning == "retried"
    with connect(tmp_path / "wh" / "north.duckdb", read_only=True) as con:
        runs = con.sql("select outcome, attempt_key from audit.sync_runs").fetchall()
    assert len(runs) == 1 and runs[0][0] == "applied" and runs[0][1]


@pytest.mark.flow
def test_the_sync_flow_holds_its_tenants_concurrency_slot(tmp_path):
    from prefect import get_client

    from rosterflow.flows.sync import sync_flow
    from rosterflow.flows.tenant_lock import tenant_limit_name

    feed = write_feed(tmp_path / "feed.zip", tiny_district())
    assert (
        sync_flow(feed=str(feed), warehouse=str(tmp_path / TEMPLATE), tenant="Nörth A").outcome
        == "applied"
    )
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(tenant_limit_name("Nörth A"))
    assert limit.limit == 1 and limit.active_slots == 0  # taken for the run, given back
    assert tenant_limit_name("a-b") != tenant_limit_name("A B")


@pytest.mark.flow
def test_a_tenant_slot_left_taken_ends_the_run_in_one_line_saying_how_to_free_it(
    tmp_path, monkeypatch
):
    """A Prefect server restarted during a run forgets the run's lease, not the slot it took:
    every later run of the tenant waited for ever, the spinner on "opening the feed"."""
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    from rosterflow.flows.sync import sync_flow
    from rosterflow.flows.tenant_lock import ensure_tenant_limit

    name = ensure_tenant_limit("stuck")
    with get_client(sync_client=True) as client:  # taken, by no run
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=1))
    monkeypatch.setenv("ROSTERFLOW_TENANT_WAIT_SECONDS", "0.5")
    feed = write_feed(tmp_path / "feed.zip", tiny_district())
    try:
        with pytest.raises(TenantBusy) as refused:
            sync_flow(feed=str(feed), warehouse=str(tmp_path / TEMPLATE), tenant="stuck")
    finally:
        with get_client(sync_client=True) as client:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(active_slots=0)
            )
    assert str(refused.value) == (
        f"tenant stuck: its Prefect concurrency slot {name} stayed taken for 0.5 s "
        "(ROSTERFLOW_TENANT_WAIT_SECONDS); if no run of the tenant is going (a Prefect server "
        f"restarted during one leaves its slot taken), free it with `prefect gcl update {name} "
        "--active-slots 0`"
    )
    assert not (tmp_path / "wh").exists() or not any((tmp_path / "wh").glob("*.duckdb"))


@pytest.mark.flow
def test_a_flow_run_no_worker_takes_is_reported_while_the_scan_waits(tmp_path, monkeypatch):
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Cancelled

    from rosterflow.flows import fanout

    pool = f"rosterflow-idle-{os.getpid()}"
    fanout.deploy_sync(pool)
    monkeypatch.setattr(fanout, "WAITING_NOTICE_SECONDS", 0.0)
    monkeypatch.setattr(fanout, "POLL_SECONDS", 0.1)
    flow_run = run_deployment(
        fanout.SYNC_DEPLOYMENT,
        parameters={"feed": "f.zip", "warehouse": str(tmp_path / TEMPLATE)},
        timeout=0,
        flow_run_name="f.zip",
    )
    heard: list[str] = []

    def say(message: str) -> None:
        heard.append(message)
        # nobody serves the pool: a person cancels the run, and the wait ends
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run.id, Cancelled(), force=True)

    ended = fanout.ended_flow_run(flow_run.id, say)
    with get_client(sync_client=True) as client:  # the scale test counts the deployment's runs
        client.delete_flow_run(flow_run.id)
    assert ended.state.is_cancelled()
    assert heard and f"waits for a worker on work pool {pool}" in heard[0]
    assert f"prefect worker start --pool {pool}" in heard[0]


# --- the scale test: 8 tenants, a process work pool, 2 workers --------------------------------


def _start_worker(pool: str, name: str, home: Path) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_HOME": str(home),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            pool,
            "--name",
            name,
            "--limit",
            "1",
        ],
        env=env,
        stdout=(home / "worker.log").open("w"),
        stderr=subprocess.STDOUT,
        cwd=home,
    )


def _wait_until_online(pool: str, names: set[str], logs: Path, seconds: float = 120) -> None:
    """Fail at once, with the workers' logs, when they do not start (the scan would wait)."""
    from prefect import get_client

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            online = {w.name for w in client.read_workers_for_work_pool(pool)}
            if names <= online:
                return
            time.sleep(0.5)
    told = "\n".join((logs / n / "worker.log").read_text()[-2000:] for n in sorted(names))
    pytest.fail(f"workers {sorted(names)} not online after {seconds:.0f} s:\n{told}")


@pytest.fixture
def two_workers(tmp_path, worker_homes):
    from rosterflow.flows.fanout import deploy_sync

    pool = f"rosterflow-test-{os.getpid()}"
    deploy_sync(pool)
    workers = [_start_worker(pool, f"worker-{i}", tmp_path / f"worker-{i}") for i in (1, 2)]
    _wait_until_online(pool, {"worker-1", "worker-2"}, tmp_path)
    yield workers
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(30)


@pytest.fixture
def worker_homes(tmp_path):
    for i in (1, 2):
        (tmp_path / f"worker-{i}").mkdir()


@pytest.mark.flow
@pytest.mark.slow
def test_eight_tenants_on_two_workers_each_run_applied_once(tmp_path, two_workers):
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    from rosterflow.flows.fanout import SYNC_DEPLOYMENT
    from rosterflow.flows.inbox_flow import inbox_flow

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    tenants = [f"district-{i}" for i in range(8)]
    old = time.time() - 60  # settled long ago, and in this order
    for i, tenant in enumerate(tenants):
        feed = _tenant_feed(inbox / f"{tenant}-monday.zip", tenant, 150, seed=i)
        os.utime(feed, (old + i, old + i))
    # a second export of one district, a day later: after its first, never beside it
    tuesday = with_cell(generate_feed(150, seed=0), "users", 0, "givenName", "Tuesday")
    second = write_feed(
        inbox / "district-0-tuesday.zip", tuesday, properties={"source.systemCode": tenants[0]}
    )
    os.utime(second, (old + 20, old + 20))
    warehouse = str(tmp_path / TEMPLATE)

    state = inbox_flow(str(inbox), warehouse, settle_seconds=0, dispatch=True, return_state=True)
    filed = state.result()

    assert sorted((f.name, f.outcome) for f in filed) == sorted(
        [(f"{t}-monday.zip", "applied") for t in tenants] + [("district-0-tuesday.zip", "applied")]
    )
    layout = Layout(warehouse)
    assert set(layout.files()) == set(tenants)
    for tenant, path in layout.files().items():
        with connect(path, read_only=True) as con:
            # isolation: a tenant's file holds that tenant only
            assert con.sql("select distinct tenant from lms.users").fetchall() == [(tenant,)]
            runs = con.sql(
                "select feed_name, outcome, attempt_key, started_at, finished_at "
                "from audit.sync_runs order by run_id"
            ).fetchall()
        expected = [f"{tenant}-monday.zip"] + (
            ["district-0-tuesday.zip"] if tenant == tenants[0] else []
        )
        assert [r[0] for r in runs] == expected  # each applied once, in order
        assert all(r[1] == "applied" and r[2] for r in runs)
        if len(runs) == 2:  # one tenant's runs never overlap
            assert runs[0][4] <= runs[1][3]
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(SYNC_DEPLOYMENT)
        flow_runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id])
            )
        )
    assert len(flow_runs) == 9 and all(r.state.is_completed() for r in flow_runs)
    assert len({r.infrastructure_pid for r in flow_runs}) == 9  # each in a process of its own
    # both workers took runs, and no run was taken twice: a worker logs each run it fetched,
    # and aborts the submission of one that another worker had already claimed
    taken = {}
    for worker in ("worker-1", "worker-2"):
        log = (tmp_path / worker / "worker.log").read_text()
        fetched = re.findall(r"submitting flow run '([0-9a-f-]+)'", log)
        aborted = set(re.findall(r"Aborted submission of flow run '([0-9a-f-]+)'", log))
        taken[worker] = [run for run in fetched if run not in aborted]
    assert all(taken.values())
    assert sorted(i for ids in taken.values() for i in ids) == sorted(str(r.id) for r in flow_runs)


def test_a_tenant_s_two_unicode_forms_share_one_concurrency_slot():
    """`Montréal` with a composed and a decomposed é had a slot each: runs of both at once
    could both register the tenant in a layout before either saw the other."""
    from rosterflow.flows.tenant_lock import tenant_limit_name

    composed, decomposed = "Montr\u00e9al", "Montre\u0301al"
    assert tenant_limit_name(composed) == tenant_limit_name(decomposed)
    assert tenant_limit_name(composed).startswith("rosterflow-tenant-montr-al-")
    assert tenant_limit_name("Montreal") != tenant_limit_name(composed)
