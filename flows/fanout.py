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
- **Retries only for what a retry can mend**: a warehouse another process held past the lock
  wait, or an error of no input (the API dropping out, a bug). A refusal of the input (the
  settings, a feed that does not read, a tenant's file the layout refuses) fails the same way
  every time: its flow run fails at once, notified once. A try that a retry follows tells
  nobody: `[notify]` and the `rosterflow.run.failed` event tell of the last try that failed
  (a run a try recorded, held or rejected, is told by that try, and by no retry).
- **The same verdict as without a pool**: a flow run that recorded no run carries the kind of
  its error back in its state's message, and the scan files its zip as the in-process scan
  would (`flows.inbox.verdict`): a feed that does not read as `unreadable`, a warehouse locked
  past the wait as `waiting` (the zip stays in the inbox), a refused tenant file as `rejected`.
  A flow run that crashed or that someone cancelled wrote nothing and judged nothing: its zip
  waits in the inbox for the next scan too.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path

from prefect import flow, get_client
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from rosterflow.flows.errors import NOT_THE_FEEDS_FAULT, NotRun, error_chain, input_error
from rosterflow.flows.inbox import reading_ledger
from rosterflow.flows.sync import Announcements, sync_flow, synced
from rosterflow.schemas.feed import FeedError
from rosterflow.schemas.runs import SyncResult
from rosterflow.warehouse.layout import TenantFileRefused, existing_tenant_warehouse, is_layout
from rosterflow.warehouse.runs import recorded_attempt
from rosterflow.warehouse.schema import error_text, is_lock

SYNC_DEPLOYMENT_NAME = "tenants"
SYNC_DEPLOYMENT = f"rosterflow-sync/{SYNC_DEPLOYMENT_NAME}"
MAX_TENANTS_AT_ONCE = 64  # dispatching threads of one scan (each waits on one flow run)
FLOW_RUN_RETRIES = 2
FLOW_RUN_RETRY_DELAY_SECONDS = 15
POLL_SECONDS = 2.0
WAITING_NOTICE_SECONDS = 60.0
_CREATING = threading.Lock()


# --- the flow the deployment runs -------------------------------------------------------------


def worth_another_try(error: BaseException) -> bool:
    """Whether a retry of the flow run can mend `error`: a warehouse file another process held
    past the lock wait, or an error of no input (the Prefect API dropping out, a bug). Any
    other input error (the settings, a feed that does not read, a tenant's file the layout
    refuses, a tenant's slot left taken) fails the same way every time."""
    return input_error(error) is None or held_by_another_process(error)


def held_by_another_process(error: BaseException) -> bool:
    """A WarehouseError raised for DuckDB's lock (`warehouse.schema.while_locked` raises it
    while handling DuckDB's own error, which stays in its chain)."""
    return any(is_lock(cause) for cause in error_chain(error))


def no_more_retries() -> None:
    """End the retries of the flow run under way. Prefect 3 retries a flow run on the server
    (its policy's `retries`), with no condition a flow could set, as `retry_condition_fn`
    does for a task: the run's policy is lowered instead, so that the failed state this run
    proposes is final. A policy that cannot be lowered (the API dropping out) leaves the
    retries as they were: the error is raised all the same."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    try:
        with get_client(sync_client=True) as client:
            policy = client.read_flow_run(context.flow_run.id).empirical_policy
            client.update_flow_run(
                context.flow_run.id, empirical_policy=policy.model_copy(update={"retries": 0})
            )
    except Exception as error:
        _log(f"the flow run will be retried all the same: its retries not ended ({error})")


def tries_made_and_allowed() -> tuple[int, int]:
    """The tries of the flow run under way made so far, this one included (`run_count`), and
    how many its server allows (`RetryFailedFlows`: its policy's retries, the flow's `retries`
    unless `no_more_retries` lowered them, plus the first try). (1, 1) outside a flow run."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return 1, 1
    made = context.flow_run.run_count
    return made, max((context.flow_run.empirical_policy.retries or 0) + 1, made)


# retried, because a retry is safe (see above), when a retry can mend what failed; the CLI's
# `rosterflow sync` runs the sync flow without retries, a person at the terminal decides
@flow(
    name=sync_flow.name,
    flow_run_name=sync_flow.flow_run_name,
    persist_result=False,
    retries=FLOW_RUN_RETRIES,
    retry_delay_seconds=FLOW_RUN_RETRY_DELAY_SECONDS,
)
def tenant_sync_flow(
    feed: str,
    warehouse: str = "rosterflow.duckdb",
    tenant: str | None = None,
    config: str | None = None,
    dry_run: bool = False,
    max_removal_share: float | None = None,
    full: bool = False,
    feed_name: str | None = None,
) -> SyncResult:
    """The sync flow of `rosterflow sync`, retried on a lock or a crash, never on a refusal of
    its input (`worth_another_try`). A failure is told (`[notify]`, `rosterflow.run.failed`)
    by the try it is final for alone: each try telling its own, a lock held through the three
    tries sent three notifications per scan (and the zip then waits for the next scan)."""
    announcements = Announcements(hold_failures=True)
    try:
        result = synced(
            feed,
            warehouse,
            tenant,
            config,
            dry_run,
            max_removal_share,
            full,
            feed_name,
            announcements,
        )
    except Exception as error:
        mendable = worth_another_try(error)
        if not mendable:
            no_more_retries()
        made, allowed = tries_made_and_allowed()
        if mendable and made < allowed:
            announcements.drop()
            _log(
                f"try {made} of {allowed} failed ({error_text(error)}); the flow run "
                "is tried again, and [notify] and the event rosterflow.run.failed tell of its "
                "last try alone"
            )
        else:
            announcements.release()
        raise
    announcements.release()
    return result


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
    # read-only, as the inbox reads its ledger: an analyst's session on the tenant's file (a
    # notebook, the catalog) kept a writer's open waiting out the lock wait, and the zip of a
    # run applied on the worker then waited in the inbox as if its warehouse were locked
    with reading_ledger(path) as con:
        return recorded_attempt(con, flow_run_id) if con is not None else None


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
                    say(waiting_notice(client, flow_run))
                    noticed = time.monotonic()
            else:
                noticed = time.monotonic()
            time.sleep(POLL_SECONDS)


def waiting_notice(client, flow_run) -> str:
    """Why no worker has taken `flow_run` yet, as far as the server tells: a paused work pool
    hands its runs to no worker, however many run (asking whether one was started sent the
    person after workers that were running all along), else no worker may be running."""
    pool = flow_run.work_pool_name
    try:
        paused = client.read_work_pool(pool).is_paused
    except Exception:  # (the API, for this one look: the usual question is asked instead)
        paused = False
    if paused:
        return (
            f"flow run {flow_run.name} waits on work pool {pool}, which is paused: no worker "
            f"takes its runs until `prefect work-pool resume {pool}`"
        )
    return (
        f"flow run {flow_run.name} waits for a worker on work pool {pool}: is `prefect worker "
        f"start --pool {pool}` running?"
    )


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

    created = None
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
    except ObjectNotFound:
        # Prefect's own words are "ObjectNotFound: None", which named neither
        return NotRun(not_found(created))
    except Exception as error:  # the API: this zip waits for the next scan, the others go on
        return NotRun(f"cannot run the sync on the work pool ({error_text(error)})")
    return flow_run_outcome(flow_run, warehouse, tenant)


def not_found(created) -> str:
    """What the Prefect server no longer had: the deployment, before the flow run `created`
    was made (None), or that flow run, while the scan waited for it to end."""
    if created is None:
        return (
            f"the deployment {SYNC_DEPLOYMENT} is not on the Prefect server (deleted since "
            "`rosterflow serve --pool` created it?): restart `rosterflow serve --pool POOL`, "
            "which creates it again"
        )
    # (a worker may still be running it: a run it commits is found by the zip's sha256 then)
    return (
        f"flow run {created.name} ({created.id}) was deleted from the Prefect server before it "
        "ended"
    )


def flow_run_outcome(flow_run, warehouse: str, tenant: str | None) -> SyncResult | BaseException:
    """What an ended flow run of the tenant deployment came to: the run it recorded, else the
    error it failed with, of the kind the inbox files by (`carried_error`)."""
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
    if state is not None and (state.is_cancelled() or state.is_cancelling()):
        # someone cancelled it (the UI, `prefect flow-run cancel`): a run is applied whole or
        # not at all, so nothing was written, and its feed was never judged (filed as a failed
        # sync under rejected/, as it was, the zip was never tried again)
        return NotRun(
            f"flow run {flow_run.name} was cancelled"
            f"{' (' + state.message + ')' if state.message else ''} before it recorded a run: "
            "nothing was written, and the next scan syncs the zip (move it out of the inbox to "
            "leave it unsynced)"
        )
    if state is not None and state.is_failed():
        carried = carried_error(state.message, tenant)
        if carried is not None:
            return carried
    return RuntimeError(ended)


# how Prefect words the failed state of a flow run that raised (`prefect.states.
# exception_to_failed_state`): the error's class name, then its message
_RAISED = re.compile(r"encountered an exception: (?P<kind>[A-Za-z_]\w*): (?P<text>.*)", re.DOTALL)


def carried_error(message: str | None, tenant: str | None) -> Exception | None:
    """The error a failed flow run raised, made again from its state's message, when it is of
    a kind the inbox files by: a feed that does not read (`FeedError`), a refused tenant file
    (`TenantFileRefused`, of `tenant`), an error that is not the feed's (`NOT_THE_FEEDS_FAULT`:
    a lock, the settings). The run's result is not persisted (a worker's result storage is
    not the scan's to read), and its state's message is all that comes back. None for any
    other error: the sync failed."""
    raised = _RAISED.search(message or "")
    kind = carried_kinds().get(raised["kind"]) if raised else None
    if kind is None:
        return None
    # made without its __init__, which may want more than a message: the verdict reads its
    # class, its message and a refused file's tenant
    error = kind.__new__(kind)
    error.args = (raised["text"],)
    if isinstance(error, TenantFileRefused):
        error.tenant = tenant
    return error


def carried_kinds() -> dict[str, type[Exception]]:
    """The error classes the inbox's verdict tells apart, and their subclasses, by name."""
    kinds: dict[str, type[Exception]] = {}
    pending: list[type[Exception]] = [FeedError, TenantFileRefused, *NOT_THE_FEEDS_FAULT]
    while pending:
        kind = pending.pop(0)
        kinds.setdefault(kind.__name__, kind)
        pending += kind.__subclasses__()
    return kinds


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
