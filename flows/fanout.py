"""Many districts at once: each tenant's sync as its own flow run on a Prefect work pool.

- **The deployment** `rosterflow-sync/tenants` runs `tenant_sync_flow` (the sync flow, with
  retries) on a process work pool. Any number of workers, on any number of machines, take its
  runs: `prefect worker start --pool POOL` where rosterflow is installed and the inbox and the
  per-tenant warehouse folder are on the same paths (shared storage).
- **One run per tenant at a time**: every sync flow run holds its tenant's global concurrency
  limit (`rosterflow-tenant-<slug>-<hash>`, one slot) from before it opens the warehouse until
  it closes it, so two feeds of one district never overlap, whichever workers take them. The
  dispatcher also sends a tenant's zips one after the other, oldest first: Monday's export is
  applied before Tuesday's. Different tenants run at once, each in its own warehouse file
  (`--warehouse 'wh/{tenant}.duckdb'`, `warehouse.layout`).
- **Retries never apply a run twice**: a sync flow run records its flow run id with its run
  (`audit.sync_runs.attempt_key`); a retry of that flow run that finds its run recorded returns
  it and does nothing else (only a `failed` run, which rolled back, is tried again). The
  dispatcher creates each flow run under an idempotency key (its scan's flow run and the
  zip), so a retried scan does not send a zip twice either.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path

from prefect import get_client
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from rosterflow.flows.errors import NotRun
from rosterflow.flows.sync import sync_flow
from rosterflow.schemas.runs import SyncResult
from rosterflow.warehouse.layout import existing_tenant_warehouse, is_layout
from rosterflow.warehouse.runs import recorded_attempt
from rosterflow.warehouse.schema import connect

SYNC_DEPLOYMENT_NAME = "tenants"
SYNC_DEPLOYMENT = f"rosterflow-sync/{SYNC_DEPLOYMENT_NAME}"
MAX_TENANTS_AT_ONCE = 64  # dispatching threads of one scan (each waits on one flow run)
FLOW_RUN_RETRIES = 2
FLOW_RUN_RETRY_DELAY_SECONDS = 15
POLL_SECONDS = 2.0
WAITING_NOTICE_SECONDS = 60.0
_CREATING = threading.Lock()

# the flow the deployment runs: retried, because a retry is safe (see above); the CLI's
# `rosterflow sync` runs the flow without retries, a person at the terminal decides
tenant_sync_flow = sync_flow.with_options(
    retries=FLOW_RUN_RETRIES, retry_delay_seconds=FLOW_RUN_RETRY_DELAY_SECONDS
)


# --- the deployment -------------------------------------------------------------------------


def deploy_sync(pool: str) -> str:
    """Create (or update) the process work pool `pool` and the deployment of the tenant sync
    flow on it; returns the deployment's name. Workers import rosterflow where they run: no
    code is uploaded or pulled."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.utilities.callables import parameter_schema

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        flow_id = client.create_flow_from_name(tenant_sync_flow.name)
        client.create_deployment(
            flow_id=flow_id,
            name=SYNC_DEPLOYMENT_NAME,
            work_pool_name=pool,
            entrypoint="rosterflow.flows.fanout.tenant_sync_flow",  # a module path: the installed package
            parameter_openapi_schema=parameter_schema(tenant_sync_flow).model_dump_for_openapi(),
            enforce_parameter_schema=False,
            pull_steps=[],
            description="One tenant's sync (rosterflow), dispatched by the inbox scan",
        )
    return SYNC_DEPLOYMENT


# --- dispatching ------------------------------------------------------------------------------


def run_outcome(warehouse: str, tenant: str | None, flow_run_id: str) -> SyncResult | None:
    """What the flow run recorded in its tenant's warehouse, found by its attempt key."""
    if tenant is None and is_layout(warehouse):
        return None  # a zip that named no tenant recorded nothing in any tenant's file
    path = existing_tenant_warehouse(warehouse, tenant or "")
    if path is None:
        return None
    con = connect(path)
    try:
        return recorded_attempt(con, flow_run_id)
    finally:
        con.close()


def ended_flow_run(flow_run_id, say: Callable[[str], None] | None = None):
    """The flow run, once it reached a final state (a retry's wait is not one). While no
    worker has taken it, `say` hears so every WAITING_NOTICE_SECONDS: a pool without a
    running worker keeps the scan waiting, and someone should know why."""
    say = say or _log
    noticed = time.monotonic()
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(flow_run_id)
            state = flow_run.state
            if state is not None and state.is_final():
                return flow_run
            if state is not None and state.is_scheduled():
                if time.monotonic() - noticed >= WAITING_NOTICE_SECONDS:
                    say(
                        f"flow run {flow_run.name} waits for a worker on work pool "
                        f"{flow_run.work_pool_name}: is `prefect worker start --pool "
                        f"{flow_run.work_pool_name}` running?"
                    )
                    noticed = time.monotonic()
            else:
                noticed = time.monotonic()
            time.sleep(POLL_SECONDS)


def _log(message: str) -> None:
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        get_run_logger().warning(message)
    except MissingContextError:
        logging.getLogger("rosterflow").warning(message)


def dispatched_sync(
    feed: str,
    warehouse: str,
    config: str | None,
    *,
    tenant: str | None = None,
    key: str | None = None,
) -> SyncResult | BaseException:
    """Sync `feed` as a flow run of the tenant deployment on the work pool and wait for it;
    its result is read back from the warehouse (the flow's results are not persisted)."""
    from prefect.deployments import run_deployment

    try:
        # one creation at a time: a burst of them from every tenant's thread at once stalls
        # a SQLite-backed Prefect server ("database is locked", retried after backoff)
        with _CREATING:
            created = run_deployment(
                SYNC_DEPLOYMENT,
                parameters={
                    "feed": feed,
                    "warehouse": warehouse,
                    "config": config,
                    "tenant": tenant,
                },
                idempotency_key=key,
                timeout=0,
                flow_run_name=Path(feed).name,
            )
        flow_run = ended_flow_run(created.id)
    except Exception as error:  # the API: this zip waits for the next scan, the others go on
        return NotRun(f"cannot run the sync on the work pool ({type(error).__name__}: {error})")
    try:
        outcome = run_outcome(warehouse, tenant, str(flow_run.id))
    except Exception as error:  # the warehouse (locked, say): the zip waits too
        return error
    if outcome is not None:
        return outcome
    state = flow_run.state
    ended = (
        f"flow run {flow_run.name} ended {state.type.value if state else 'without a state'}"
        f"{': ' + state.message if state and state.message else ''}, and recorded no run"
    )
    if state is not None and state.is_crashed():
        # its process died (the worker's machine, say), not its feed: try it next scan
        return NotRun(ended)
    return RuntimeError(ended)


def side_by_side(chains: list[list[Path]], work: Callable[[Path], object]) -> list:
    """Each chain in a thread of its own, its items in order; results in the chains' order.
    Each thread runs in a copy of the caller's context, so a flow run started from it is a
    subflow of the scan."""

    def run_chain(chain: list[Path]) -> list:
        return [work(item) for item in chain]

    if not chains:
        return []
    with ThreadPoolExecutor(max_workers=min(len(chains), MAX_TENANTS_AT_ONCE)) as pool:
        futures = [pool.submit(copy_context().run, run_chain, chain) for chain in chains]
        return [entry for future in futures for entry in future.result()]
