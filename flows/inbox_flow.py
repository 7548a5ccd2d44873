"""The Prefect inbox flow: `flows.inbox.scan_inbox` with each step wrapped in a task, and each
zip synced in its own `rosterflow-sync` subflow run. `rosterflow serve` serves it as a
deployment; `rosterflow serve --once` runs it once when a Prefect API is configured.

Run one scan with `python -m rosterflow.flows.inbox_flow INBOX [WAREHOUSE]`.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from prefect import flow, get_run_logger

from rosterflow.flows.inbox import (
    SETTLE_SECONDS,
    Filed,
    ScanSteps,
    applied_run_of,
    check_settings,
    file_zip,
    open_warehouse_once,
    ready_zips,
    scan_inbox,
)
from rosterflow.flows.sync import step_task, sync_flow
from rosterflow.schemas.runs import SyncResult


def sync_subflow(
    feed: str, warehouse: str, config: str | None, tenant: str | None = None
) -> SyncResult | BaseException:
    """A subflow run per zip: its failure is a state here, so one bad zip stops no other."""
    state = sync_flow(
        feed=feed, warehouse=warehouse, config=config, tenant=tenant, return_state=True
    )
    if state.is_final() and not state.is_cancelled():
        return state.result(raise_on_failure=False)
    # a person cancelled the subflow run (the UI, `prefect flow-run cancel`): nothing stops a
    # subflow in this process, and it may have applied its run before it ended, left
    # CANCELLING, whose result Prefect does not give ("UnfinishedRun"): that ended the whole
    # scan, as if publishing had failed, the other zips untried. What it recorded, found by
    # its flow run's id, is its outcome, as for a flow run on a work pool.
    from rosterflow.flows.fanout import flow_run_outcome

    ended = SimpleNamespace(id=state.state_details.flow_run_id, name=Path(feed).name, state=state)
    return flow_run_outcome(ended, warehouse, tenant)


def dispatching_steps(steps: ScanSteps) -> ScanSteps:
    """The scan with each zip synced as a flow run of the tenant deployment on its work pool
    (`flows.fanout`), the tenants side by side, each tenant's zips in order. The ledger and
    the filing run as plain calls in those threads; the flow runs they wait on are the scan's
    subflows."""
    from prefect.runtime import flow_run

    from rosterflow.flows.fanout import dispatched_sync, side_by_side

    scan = flow_run.id

    def sync(feed: str, warehouse: str, config: str | None, tenant: str | None = None):
        key = f"{scan}:{Path(feed).name}"  # a retried scan does not send this zip again
        return dispatched_sync(feed, warehouse, config, tenant=tenant, key=key)

    return replace(
        steps,
        sync=sync,
        look_up_ledger=applied_run_of,
        file_zip=file_zip,
        run_chains=side_by_side,
    )


STEPS = ScanSteps(
    sync=sync_subflow,
    check_settings=step_task(check_settings, "check-settings"),
    check_warehouse=step_task(open_warehouse_once, "check-warehouse"),
    find_ready_zips=step_task(ready_zips, "find-ready-zips"),
    look_up_ledger=step_task(applied_run_of, "look-up-ledger"),
    file_zip=step_task(file_zip, "file-zip"),
)


def _scan_name() -> str:
    from prefect.runtime import flow_run

    return f"scan of {Path(flow_run.parameters['inbox']).name}"


@flow(name="rosterflow-inbox", flow_run_name=_scan_name, persist_result=False)
def inbox_flow(
    inbox: str,
    warehouse: str = "rosterflow.duckdb",
    config: str | None = None,
    settle_seconds: float = SETTLE_SECONDS,
    dispatch: bool = False,
) -> list[Filed]:
    """Sync each new complete zip of the inbox in its own sync flow run, then file it. With
    `dispatch`, each sync is a run of the deployment `rosterflow-sync/tenants` on its work pool
    (`rosterflow serve --pool`), tenants at the same time."""
    steps = replace(STEPS, log=get_run_logger().info)
    if dispatch:
        steps = dispatching_steps(steps)
    return scan_inbox(steps, inbox, warehouse, config, settle_seconds)


if __name__ == "__main__":
    # python -m rosterflow.flows.inbox_flow INBOX [WAREHOUSE]: one scan, as `rosterflow serve --once` does
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m rosterflow.flows.inbox_flow INBOX [WAREHOUSE.duckdb]")
    for entry in inbox_flow(*sys.argv[1:], settle_seconds=SETTLE_SECONDS):
        print(entry.describe())
