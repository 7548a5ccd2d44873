"""The Prefect sync flow: the steps of `flows.steps`, each wrapped in a task, chained by
`flows.pipeline`.

The chain and its branching live once, in `pipeline.run_steps`; this module only hands it the
task-wrapped steps and publishes what a person wants to see afterwards as Prefect artifacts.

Every task carries big Polars frames or the open DuckDB connection, so none is cached or has its
result persisted (neither can be hashed or pickled sensibly). Only reading the feed is retried:
it may come from a slow network share. Applying is never retried: a failed apply has rolled
back and recorded its run as `failed`, and whether to try again is a person's decision.

Run it with `python -m rosterflow.flows.sync FEED [WAREHOUSE]`, or through `rosterflow sync` when a Prefect
API is configured (without one, the CLI runs the same steps in-process: `flows.plain`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

import polars as pl
from prefect import Task, flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from rosterflow.flows import pipeline
from rosterflow.flows import steps as sync_steps
from rosterflow.flows.notify import (
    MESSAGE_CHARACTERS,
    bounded,
    bounded_issue,
    notify_run,
    shortened,
)
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.flows.plain import LOAD_FEED_RETRIES, LOAD_FEED_RETRY_DELAY_SECONDS, run_settings
from rosterflow.flows.progress import announced, listening_to_records
from rosterflow.flows.tenant_lock import tenant_lock, tenant_slug
from rosterflow.schemas.issues import ISSUE_COLUMNS
from rosterflow.schemas.printable import one_line
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings
from rosterflow.warehouse.runs import recall

ARTIFACT_ISSUES = 50
P = ParamSpec("P")
R = TypeVar("R")

# --- plain functions the tasks wrap that pipeline.py does not have -----------------------------


def worth_retrying(_task, _task_run, state) -> bool:
    """Retry reading the feed only on an I/O error (a share dropping out). A FeedError is
    open_feed's verdict on the feed itself (missing, not a zip, unsafe): reading it again
    cannot change it, and a user who mistyped a path should not wait for retries."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, OSError)


def artifact_key(tenant: str, suffix: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes), one per tenant, so the UI's
    Artifacts page keeps each tenant's latest summary with its history of versions."""
    return f"sync-{tenant_slug(tenant)}-{suffix}"


def _markdown_table(frame: pl.DataFrame) -> list[str]:
    rows = frame.cast(pl.String).fill_null("").rows()  # a summary: a few dozen rows at most
    return [
        "| " + " | ".join(frame.columns) + " |",
        "|" + "---|" * frame.width,
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def summary_markdown(result: SyncResult) -> str:
    """The run at a glance: outcome, tenant, run, changes per entity and action, issue counts."""
    # the names as the SIS or a person gave them, kept to their line: a line feed in a zip's
    # name would end the heading and show the rest of it as a paragraph
    lines = [
        f"# Sync of {one_line(result.feed_name)}: {result.outcome}",
        "",
        f"- **outcome:** {result.outcome}",
        f"- **tenant:** {one_line(result.tenant)}",
        f"- **run_id:** {result.run_id}",
    ]
    if result.message:
        lines.append(f"- **why:** {shortened(result.message, MESSAGE_CHARACTERS)}")
    lines += ["", "## Changes"]
    if result.summary.height:
        lines += ["", *_markdown_table(result.summary)]
    else:
        lines += ["", "None." if result.outcome != "rejected" else "None: the run was rejected."]
    lines += ["", "## Issues"]
    counts = (
        result.issues.group_by("severity", "rule")
        .agg(pl.len().alias("count"))
        .sort(pl.col("severity") != "error", "rule")
    )
    lines += ["", *_markdown_table(counts)] if counts.height else ["", "None."]
    if result.issues.height > ARTIFACT_ISSUES:
        lines += ["", f"The first {ARTIFACT_ISSUES} issues are in the table artifact."]
    return "\n".join(lines) + "\n"


def first_issues(issues: pl.DataFrame, limit: int = ARTIFACT_ISSUES) -> list[dict]:
    """The first `limit` issues as the table artifact's rows, each value shortened (a cell of
    the feed can be of any length)."""
    return [bounded_issue(issue) for issue in issues.head(limit).select(*ISSUE_COLUMNS).to_dicts()]


def publish_artifacts(result: SyncResult) -> None:
    """The summary as a markdown artifact and the first issues as a table artifact."""
    create_markdown_artifact(
        summary_markdown(result),
        key=artifact_key(result.tenant, "summary"),
        description=f"run {result.run_id}: {result.outcome}",
    )
    count = result.issues.height
    create_table_artifact(
        first_issues(result.issues),
        key=artifact_key(result.tenant, "issues"),
        # ("the first 50 of 5 issues" said there were more to see)
        description=f"run {result.run_id}: the first {ARTIFACT_ISSUES} of {count:,} issues"
        if count > ARTIFACT_ISSUES
        else f"run {result.run_id}: {count:,} issue{'' if count == 1 else 's'}",
    )


RUN_EVENT = "rosterflow.run"


def _tenant_resource(tenant: str | None) -> dict[str, str]:
    return {
        "prefect.resource.id": f"rosterflow.tenant.{tenant_slug(tenant or 'unknown')}",
        "prefect.resource.name": tenant or "unknown",
        "rosterflow.tenant": tenant or "",
    }


def emit_run_event(result: SyncResult, warehouse: str) -> None:
    """The event `rosterflow.run.<outcome>` (applied, planned, held, rejected) on the tenant's
    resource, with the run's summary and first issues as its payload: a Prefect automation
    matching `rosterflow.run.held` or `rosterflow.run.rejected` notifies a person (docs/how-to/held-runs.md)."""
    emit_event(
        event=f"{RUN_EVENT}.{result.outcome}",
        resource=_tenant_resource(result.tenant),
        # shortened: Prefect refuses to emit an event of more than 1.5 MB, and the run that
        # is already recorded would fail with it
        payload=bounded(result.payload() | pipeline.where_it_is(warehouse)),
    )


def failure_event_payload(
    feed: str, tenant: str | None, error: BaseException, warehouse: str
) -> dict:
    """The payload of the event of a run that ended in `error` before recording an outcome:
    the notification's JSON (`pipeline.failure_payload`), its `outcome` `failed`, or
    `rejected` for a tenant's file the layout refuses."""
    # a pulled feed is named by its URL, any other by its file's name
    known = {"feed": feed if "://" in feed else Path(feed).name, "tenant": tenant}
    return bounded(pipeline.failure_payload(known, error) | pipeline.where_it_is(warehouse))


@dataclass
class Announcements:
    """How a try of the sync flow tells people of its run: the `[notify]` notification and the
    `rosterflow.run.*` event. A run it recorded (held, rejected, applied) is told at once. A
    failure is told at once too, unless `hold_failures`: the tenant flow of a work pool
    (`flows.fanout.tenant_sync_flow`) is retried, and a try whose failure a retry follows
    must not send its own notification (a lock held through three tries sent three); it holds
    them until it knows whether the try was the last (`release`, else `drop`)."""

    hold_failures: bool = False
    held: list[Callable[[], None]] = field(default_factory=list)

    def tell(self, outcome: str, send: Callable[[], None]) -> None:
        if outcome == "failed" and self.hold_failures:
            self.held.append(send)
        else:
            send()

    def notify(self, settings: Settings, payload: dict) -> None:
        """`Steps.notify`: the notify task, now or once the try is known to be the last; none
        without `[notify]`, as a notify task in the flow run reads as someone told."""
        if settings.notify.webhook or settings.notify.email:
            self.tell(payload["outcome"], lambda: notify(settings, payload))

    def release(self) -> None:
        """Send what was held: the try was the last, or its failure is final."""
        held, self.held = self.held, []
        for send in held:
            send()

    def drop(self) -> int:
        """Forget what was held (a retry follows, which tells its own); how many there were."""
        dropped, self.held = len(self.held), []
        return dropped


def emit_failure_event(
    feed: str,
    tenant: str | None,
    error: BaseException,
    warehouse: str,
    announcements: Announcements | None = None,
) -> None:
    """`rosterflow.run.failed`: the run broke (its flow run fails too); or
    `rosterflow.run.rejected` for a tenant's file the layout refuses, named by the outcome its
    payload, the inbox and `[notify]` give it, so that an automation on the name tells the two
    apart (`rosterflow.run.failed` is still every run that broke). Sent as `announcements`
    says (at once without)."""
    payload = failure_event_payload(feed, tenant, error, warehouse)
    (announcements or Announcements()).tell(
        payload["outcome"],
        lambda: emit_event(
            event=f"{RUN_EVENT}.{payload['outcome']}",
            resource=_tenant_resource(tenant),
            payload=payload,
        ),
    )


# --- tasks: one plain function each --------------------------------------------------------------


def step_task(step: Callable[P, R], name: str, **options) -> Task[P, R]:
    """`step` as a task named `name` that first tells the CLI's spinner its name
    (`flows.progress`; a Prefect `on_running` hook could do that too, but it logs two lines per
    task to every run)."""
    # frames and a DuckDB connection go in and out: nothing to hash for a cache, nothing to
    # pickle for a stored result
    return task(
        announced(step, name), name=name, cache_policy=NO_CACHE, persist_result=False, **options
    )


load_settings_task = step_task(run_settings, "load-settings")
load_feed = step_task(
    sync_steps.load_feed,
    "load-feed",
    retries=LOAD_FEED_RETRIES,
    retry_delay_seconds=LOAD_FEED_RETRY_DELAY_SECONDS,
    retry_condition_fn=worth_retrying,
)
read_feed = step_task(
    sync_steps.read_feed,
    "read-feed",
    retries=LOAD_FEED_RETRIES,
    retry_delay_seconds=LOAD_FEED_RETRY_DELAY_SECONDS,
    retry_condition_fn=worth_retrying,
)
recall = step_task(recall, "recall")
validate = step_task(sync_steps.validate, "validate")
plan = step_task(sync_steps.plan, "plan")
guard = step_task(sync_steps.guard, "guard")
reject = step_task(sync_steps.reject, "reject")
apply = step_task(sync_steps.apply, "apply")
hold = step_task(sync_steps.hold, "hold")


def notify_run_logged(settings: Settings, payload: dict) -> None:
    """`notify_run`, a notification it cannot deliver reported in the flow run's log: the
    Prefect UI shows it, where a worker's stderr (`serve --pool`) is seldom read."""
    from prefect.logging import get_run_logger

    notify_run(settings, payload, get_run_logger())


# not announced to the spinner: on a failure, the step it names is the one that failed
notify = task(notify_run_logged, name="notify", cache_policy=NO_CACHE, persist_result=False)
publish = step_task(publish_artifacts, "publish")

STEPS = Steps(
    load_feed=load_feed,
    read_feed=read_feed,
    recall=recall,
    validate=validate,
    plan=plan,
    guard=guard,
    reject=reject,
    apply=apply,
    hold=hold,
    notify=notify,
    tenant_lock=tenant_lock,
)


def _run_name() -> str:
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    name = parameters.get("feed_name") or Path(parameters["feed"]).name
    return f"{name} (dry run)" if parameters.get("dry_run") else name


@flow(name="rosterflow-sync", flow_run_name=_run_name, persist_result=False)
def sync_flow(
    feed: str,
    warehouse: str = "rosterflow.duckdb",
    tenant: str | None = None,
    config: str | None = None,
    dry_run: bool = False,
    max_removal_share: float | None = None,
    full: bool = False,
    feed_name: str | None = None,
    started_at: datetime | None = None,
) -> SyncResult:
    """Validate a OneRoster feed, plan its change set, guard it, and apply it atomically.
    `feed_name`: the name audit gives the feed (a pulled feed's URL), else its file's name;
    `started_at`: when the run started, if before the flow (a pull's: when it began reading)."""
    return synced(
        feed,
        warehouse,
        tenant,
        config,
        dry_run,
        max_removal_share,
        full,
        feed_name,
        started_at=started_at,
    )


def synced(
    feed: str,
    warehouse: str,
    tenant: str | None,
    config: str | None,
    dry_run: bool,
    max_removal_share: float | None,
    full: bool,
    feed_name: str | None,
    announcements: Announcements | None = None,
    started_at: datetime | None = None,
) -> SyncResult:
    """The sync flow's body, in the flow run under way; its run and failure told as
    `announcements` says (at once without)."""
    from prefect.runtime import flow_run

    announcements = announcements or Announcements()
    recorded: list[SyncResult] = []
    try:
        # in the try: settings it cannot use fail the run, and an automation hears of it too
        settings = load_settings_task(config, max_removal_share)
        # the flow run's id marks its run in audit: a retry of this flow run finds it there
        with listening_to_records(recorded.append):
            result = run_steps(
                replace(STEPS, notify=announcements.notify),
                feed,
                warehouse,
                settings,
                tenant,
                dry_run,
                full,
                attempt=flow_run.id,
                feed_name=feed_name,
                started_at=started_at,
            )
    except Exception as error:
        if recorded:  # committed before the error: the run is what it recorded
            emit_run_event(recorded[-1], warehouse)
        else:
            emit_failure_event(feed_name or feed, tenant, error, warehouse, announcements)
        raise
    if result.planning != "retried":  # else told by the try that recorded it, as [notify] is
        emit_run_event(result, warehouse)
    publish(result)
    return result


if __name__ == "__main__":
    # python -m rosterflow.flows.sync FEED [WAREHOUSE]: the flow alone; `rosterflow sync` adds the rest
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m rosterflow.flows.sync FEED [WAREHOUSE.duckdb]")
    from rosterflow.flows.prefect_logging import quiet_prefect

    quiet_prefect(verbose=True)  # Prefect's lines shown, its temporary server's telemetry off
    outcome = sync_flow(*sys.argv[1:])
    print(f"{outcome.feed_name}: {outcome.outcome}, run {outcome.run_id}, tenant {outcome.tenant}")
    sys.exit(outcome.exit_code)
