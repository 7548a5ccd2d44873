"""The sync as a chain of steps: load -> (recall) -> validate -> plan -> guard -> apply (or
hold, or reject) -> publish.

Each step is a plain function in `flows.steps`, a call into one layer; the Prefect flow
(`flows.sync`) passes task-wrapped versions of the same functions, so the order and the
branching exist once, in `run_steps`. Tests and benchmarks may call `run_sync`, which chains
them without the engine.

`recall` answers at once for a feed whose contents the tenant's last applied run already had,
when lms is as that run left it (a nightly export of an unchanged district). Otherwise the run
is planned incrementally when it can be (lms and the stored state exactly as the last applied
run left them, under the same settings and rosterflow), else in full.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from polars.exceptions import PanicException

from rosterflow.flows import steps as plain_steps
from rosterflow.flows.errors import INPUT_ERRORS
from rosterflow.flows.notify import notify_run
from rosterflow.flows.progress import listening_to_records
from rosterflow.flows.steps import PlannedRun, ValidatedRun, start_run, with_warnings
from rosterflow.schemas.changes import PlanError
from rosterflow.schemas.feed import Feed
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings
from rosterflow.warehouse.apply import record_failed
from rosterflow.warehouse.layout import existing_tenant_warehouse, open_warehouse
from rosterflow.warehouse.runs import recall, recorded_attempt
from rosterflow.warehouse.schema import error_text


@dataclass(frozen=True)
class Steps:
    """The step functions a sync chains. The Prefect flow passes task-wrapped versions of the
    same functions, so the order and the branching exist once, in `run_steps`."""

    load_feed: Callable[..., Feed] = plain_steps.load_feed
    read_feed: Callable[..., Feed] = plain_steps.read_feed
    recall: Callable[..., SyncResult | None] = recall
    validate: Callable[..., ValidatedRun] = plain_steps.validate
    plan: Callable[..., PlannedRun] = plain_steps.plan
    guard: Callable[..., str | None] = plain_steps.guard
    reject: Callable[..., SyncResult] = plain_steps.reject
    apply: Callable[..., SyncResult] = plain_steps.apply
    hold: Callable[..., SyncResult] = plain_steps.hold
    notify: Callable[..., None] = notify_run
    # held around a tenant's run: the Prefect flow takes the tenant's concurrency slot, so two
    # feeds of one district never overlap on any worker (`flows.fanout`)
    tenant_lock: Callable[[str], AbstractContextManager[object]] = nullcontext


def run_steps(
    steps: Steps,
    feed_path: str | Path,
    warehouse: str | Path,
    settings: Settings,
    tenant: str | None = None,
    dry_run: bool = False,
    full: bool = False,
    attempt: str | None = None,
    feed_name: str | None = None,
    started_at: datetime | None = None,
) -> SyncResult:
    """load -> (recall) -> validate -> plan -> guard -> apply (or hold); a rejected run writes
    only its audit rows; a feed the tenant's last applied run had, with lms untouched since, is
    recalled. `full` plans every record even when only some changed (and never recalls). A
    failed, rejected or held run is announced as `[notify]` says. `attempt` names this try of
    a run (a Prefect flow run id): if an earlier try recorded it, that result is returned and
    nothing is done again. `feed_name` names the feed in audit instead of its file's name (a
    pulled feed, by the API's URL); `started_at` when the run started, if before it was
    called (a pulled feed's run: when the pull began reading the API)."""
    known: dict[str, object] = {"feed": feed_name or Path(feed_path).name, "tenant": tenant}
    where = where_it_is(warehouse)
    recorded: list[SyncResult] = []
    try:
        with listening_to_records(recorded.append):
            result = _run_steps(
                steps,
                feed_path,
                warehouse,
                settings,
                tenant,
                dry_run,
                full,
                known,
                attempt,
                feed_name,
                started_at,
            )
    except PanicException as panic:
        # Polars' own bug (a BaseException, which would pass every `except Exception` above
        # the sync as a traceback): a run that failed all the same, announced and ended so
        error = RuntimeError(f"Polars panicked: {panic}")
        steps.notify(settings, failure_payload(known, error) | where)
        raise error from panic
    except Exception as error:
        if recorded:
            # committed before it (the Prefect API lost as the task that committed ended,
            # say): the run is what it recorded, and that is what is announced
            _notify_of(steps, settings, recorded[-1], where)
        else:
            steps.notify(settings, failure_payload(known, error) | where)
        raise
    if result.planning == "retried":
        return result  # announced by the try that recorded it
    _notify_of(steps, settings, result, where)
    return result


def _notify_of(steps: Steps, settings: Settings, result: SyncResult, where: dict) -> None:
    if result.outcome in NOTIFIED:
        steps.notify(settings, result.payload() | where)


NOTIFIED = ("rejected", "held", "failed")


def where_it_is(warehouse: str | Path) -> dict[str, str]:
    """A notification's `warehouse`: where the run is, for whoever reads it (rarely in the
    folder the sync ran in)."""
    return {"warehouse": os.path.abspath(warehouse)}


def failure_payload(known: dict[str, object], error: BaseException) -> dict:
    """A run that ended in `error` before recording an outcome, as a notification says it. A
    tenant's file the layout refuses as it stands is `rejected`, in the inbox's words (its zip
    is filed under `rejected/` with this message): every later sync is refused alike, so it
    needs a person, and no sync broke."""
    from rosterflow.flows.errors import input_error
    from rosterflow.warehouse.layout import TenantFileRefused

    if (refused := input_error(error, (TenantFileRefused,))) is not None:
        outcome, message = "rejected", str(refused)
    else:
        outcome, message = "failed", error_text(error)
    return {
        "outcome": outcome,
        "tenant": known.get("tenant"),
        "run_id": known.get("run_id"),
        "feed": known.get("feed"),
        "message": message,
        "planning": None,
        "changes": [],
        "issue_counts": [],
        "issues": [],
    }


def _run_steps(
    steps: Steps,
    feed_path: str | Path,
    warehouse: str | Path,
    settings: Settings,
    tenant: str | None,
    dry_run: bool,
    full: bool,
    known: dict[str, object],
    attempt: str | None = None,
    feed_name: str | None = None,
    started_at: datetime | None = None,
) -> SyncResult:
    feed = steps.load_feed(feed_path, settings.feed.encoding)
    if feed_name:
        feed.name = feed_name
    tenant = tenant or feed.default_tenant()
    known.update(feed=feed.name, tenant=tenant)
    with steps.tenant_lock(tenant):
        # a tenant without a warehouse file has nothing stored to read its feed against: the
        # feed is read and parsed before the file is created (and a layout's tenant
        # registered), so that a feed that cannot be read (exit 2: a member that does not
        # inflate, a file not in its encoding) leaves nothing behind, as a zip whose
        # directory is broken never gets past load_feed
        new_file = existing_tenant_warehouse(warehouse, tenant) is None
        if new_file:
            feed = steps.read_feed(feed, None, tenant, full, settings)
        with open_warehouse(warehouse, tenant, settings.safety.lms_check_days) as con:
            try:
                earlier = recorded_attempt(con, attempt) if attempt else None
                if earlier is not None:
                    return replace(
                        earlier,
                        planning="retried",
                        planning_note=f"this attempt already recorded run {earlier.run_id}",
                    )
                if not new_file:
                    feed = steps.read_feed(feed, con, tenant, full, settings)
                run = start_run(con, feed, tenant, dry_run, settings, full, attempt, started_at)
                known["run_id"] = run.run_id
                unchanged = None if full else steps.recall(con, run, feed.lines())
                if unchanged is not None:
                    return unchanged
                try:
                    validated = steps.validate(feed, con, run, settings)
                except INPUT_ERRORS:  # the input's fault (exit 2): nothing is written
                    raise
                except (Exception, PanicException) as error:  # a run that broke is recorded
                    record_failed(con, run, feed.read_issues, error)
                    raise
                if not validated.ok:
                    errors = validated.error_count
                    message = f"{errors:,} validation error{'' if errors == 1 else 's'}"
                    return steps.reject(con, run, validated.issues, message)
                try:
                    planned = steps.plan(validated, con, run, settings)
                except (
                    PlanError
                ) as error:  # the warehouse holds something the sync must not guess at
                    return steps.reject(con, run, validated.issues, str(error))
                except (Exception, PanicException) as error:
                    record_failed(con, run, validated.issues, error)
                    raise
                issues = with_warnings(validated.issues, planned, settings)
                refusal = steps.guard(planned, settings, dry_run)
                if refusal and not dry_run:
                    return steps.hold(con, planned, issues, refusal, warehouse)
                if refusal:  # a dry run applies nothing anyway: it says it would be held
                    planned = replace(
                        planned, run=replace(planned.run, message=f"would be held: {refusal}")
                    )
                return steps.apply(con, planned, issues)
            finally:
                # a reading of the stored records that the feed's lines made needless may
                # still run on a cursor of this connection, which must not close under it
                feed.release()


def run_sync(
    feed_path: str | Path,
    warehouse: str | Path,
    settings: Settings,
    tenant: str | None = None,
    dry_run: bool = False,
    full: bool = False,
    attempt: str | None = None,
) -> SyncResult:
    """The whole sync as plain function calls, without the Prefect engine."""
    return run_steps(Steps(), feed_path, warehouse, settings, tenant, dry_run, full, attempt)
