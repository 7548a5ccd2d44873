"""The sync's steps as plain functions: load, recall, validate, plan, guard, apply.

The Prefect flow (`flows.sync`) wraps each step in a task; tests and benchmarks may call
`run_sync` directly, which chains the same functions without the engine. `recall` answers at
once for a feed whose contents the tenant's last applied run already had, when lms is as that
run left it (a nightly export of an unchanged district); everything else is planned in full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path

import duckdb
import polars as pl

from schemas.feed import Feed, open_feed
from schemas.issues import ISSUE_SCHEMA
from schemas.settings import Settings
from schemas.spec import SYNCED_FILES
from schemas.validate import ValidatedFeed, validate_feed
from transforms.desired import desired_state
from transforms.plan import REMOVALS, Plan, PlanError, plan_changes
from transforms.source_state import SourceWrite, next_source_state, source_write
from warehouse.apply import RunRecord, next_run_id, record_run, record_unchanged, utc_now
from warehouse.entities import ENTITIES
from warehouse.schema import connect
from warehouse.state import (
    current_rows,
    lms_checksum,
    next_ids,
    record_ids,
    source_fingerprints,
    source_state,
)

GUARDED = ("user", "enrollment")


@dataclass
class SyncResult:
    run_id: int
    tenant: str
    feed_name: str
    outcome: str  # applied | planned | rejected | failed
    message: str | None
    summary: pl.DataFrame  # entity, action, count
    issues: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ISSUE_SCHEMA))

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome in ("applied", "planned") else 1


@dataclass
class PlannedRun:
    run: RunRecord
    plan: Plan
    source: dict[str, SourceWrite]  # how the tenant's OneRoster records change


@contextmanager
def open_warehouse(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, held open for the whole run: DuckDB lets one process write a file at a
    time, so nothing else can change the tenant between planning and applying."""
    con = connect(path)
    try:
        yield con
    finally:
        con.close()


def load_feed(feed: str | Path) -> Feed:
    """The manifest and the files' bytes; parsing waits until the run needs it."""
    return open_feed(feed, parse=False)


def _carried(feed: Feed) -> tuple[str, ...]:
    """The synced files whose earlier records still count: those not sent in bulk."""
    return tuple(name for name in SYNCED_FILES if feed.modes[name] != "bulk")


def validate(
    feed: Feed, con: duckdb.DuckDBPyConnection, tenant: str, settings: Settings
) -> ValidatedFeed:
    """Validate with references into delta and absent files resolved against the tenant."""
    return validate_feed(feed.parse(), settings, record_ids(con, tenant, _carried(feed)))


def start_run(
    con: duckdb.DuckDBPyConnection, feed: Feed, tenant: str, dry_run: bool, settings: Settings
) -> RunRecord:
    return RunRecord(
        run_id=next_run_id(con),
        tenant=tenant,
        feed_name=feed.name,
        feed_sha256=feed.sha256,
        started_at=utc_now(),
        outcome="planned" if dry_run else "applied",
        content_sha256=feed.content_sha256,
        settings_key=f"rosterflow {version('rosterflow')} {settings.key()}",
    )


def recall(con: duckdb.DuckDBPyConnection, run: RunRecord) -> SyncResult | None:
    """The result at once when nothing can change: the tenant's last applied run had these very
    contents and settings, and lms still holds exactly what that run left (a hand edit since
    changes its checksum, and then the full run reverts it). None otherwise."""
    last = con.execute(
        "select run_id, content_sha256, settings_key, lms_checksum from audit.sync_runs "
        "where tenant = ? and outcome = 'applied' order by run_id desc limit 1",
        [run.tenant],
    ).fetchall()
    if not last:
        return None
    last_run, contents, settings_key, checksum = last[0]
    if checksum is None or (contents, settings_key) != (run.content_sha256, run.settings_key):
        return None
    if lms_checksum(con, run.tenant) != checksum:
        return None
    unchanged = replace(
        run, message=f"the same feed as run {last_run}, and lms as it left it: nothing to change"
    )
    record_unchanged(con, unchanged, last_run, checksum if run.outcome == "applied" else None)
    issues = con.sql(
        f"select {', '.join(ISSUE_SCHEMA)} from audit.issues where run_id = ?", params=[last_run]
    ).pl()
    return _result(unchanged, None, issues.cast(ISSUE_SCHEMA))


def plan(
    validated: ValidatedFeed, con: duckdb.DuckDBPyConnection, run: RunRecord, settings: Settings
) -> PlannedRun:
    feed = validated.feed
    previous = source_state(con, run.tenant, _carried(feed))  # bulk files need none
    source = {
        name: next_source_state(
            name, previous.get(name), validated.tables.get(name), feed.modes[name], run.run_id
        )
        for name in SYNCED_FILES
    }
    changes = plan_changes(
        run.tenant,
        desired_state(source, settings.hierarchy),
        lambda name: current_rows(con, run.tenant, ENTITIES[name]),
        next_ids(con),
        settings.policy,
    )
    stored = source_fingerprints(con, run.tenant)
    writes = {
        name: source_write(
            source[name],
            feed.modes[name] if name in feed.files else "absent",
            feed.files[name].fingerprint if name in feed.files else "",
            stored.get(name),
        )
        for name in SYNCED_FILES
    }
    return PlannedRun(run, changes, {name: w for name, w in writes.items() if w is not None})


def guard(planned: PlannedRun, settings: Settings) -> str | None:
    """Why the run must not be applied, or None: it would remove too large a share of the
    tenant's managed users or enrollments (a truncated export must not wipe a district)."""
    limit = settings.safety.max_removal_share
    for name in GUARDED:
        entity_plan = planned.plan.entities[name]
        removed = entity_plan.changes.filter(pl.col("action").is_in(REMOVALS)).height
        base = entity_plan.managed_active
        if base and removed / base > limit:
            return (
                f"this feed would remove {removed:,} of the tenant's {base:,} active managed "
                f"{name}s ({removed / base:.0%}), above [safety] max_removal_share = {limit:g}. "
                "If the export is complete and this is intended, run again with "
                f"--max-removal-share {min(1.0, round(removed / base + 0.005, 2)):g} "
                "(or set it in --config)"
            )
    return None


def reject(
    con: duckdb.DuckDBPyConnection, run: RunRecord, issues: pl.DataFrame, message: str
) -> SyncResult:
    rejected = RunRecord(**{**run.__dict__, "outcome": "rejected", "message": message})
    record_run(con, rejected, issues)
    return _result(rejected, None, issues)


def record_failed(
    con: duckdb.DuckDBPyConnection, run: RunRecord, issues: pl.DataFrame, error: Exception
) -> None:
    """A run that broke: its row (outcome `failed`, the error) and its issues, nothing else."""
    message = f"{type(error).__name__}: {error}"
    record_run(con, RunRecord(**{**run.__dict__, "outcome": "failed", "message": message}), issues)


def apply(con: duckdb.DuckDBPyConnection, planned: PlannedRun, issues: pl.DataFrame) -> SyncResult:
    """Write the run (applied, or planned for a dry run); on failure record it as failed."""
    run = planned.run
    try:
        record_run(con, run, issues, planned.plan, planned.source)
    except Exception as error:  # rolled back by record_run; the failure itself is recorded
        record_failed(con, run, issues, error)
        raise
    return _result(run, planned.plan, issues)


def _result(run: RunRecord, plan_: Plan | None, issues: pl.DataFrame) -> SyncResult:
    summary = plan_.summary() if plan_ is not None else Plan(run.tenant).summary()
    return SyncResult(
        run.run_id, run.tenant, run.feed_name or "", run.outcome, run.message, summary, issues
    )


@dataclass(frozen=True)
class Steps:
    """The step functions a sync chains. The Prefect flow passes task-wrapped versions of the
    same functions, so the order and the branching exist once, in `run_steps`."""

    load_feed: Callable[..., Feed] = load_feed
    recall: Callable[..., SyncResult | None] = recall
    validate: Callable[..., ValidatedFeed] = validate
    plan: Callable[..., PlannedRun] = plan
    guard: Callable[..., str | None] = guard
    reject: Callable[..., SyncResult] = reject
    apply: Callable[..., SyncResult] = apply


def run_steps(
    steps: Steps,
    feed_path: str | Path,
    warehouse: str | Path,
    settings: Settings,
    tenant: str | None = None,
    dry_run: bool = False,
) -> SyncResult:
    """load -> (recall) -> validate -> plan -> guard -> apply; a rejected run writes only its
    audit rows; a feed the tenant's last applied run had, with lms untouched since, is recalled."""
    feed = steps.load_feed(feed_path)
    tenant = tenant or feed.default_tenant()
    with open_warehouse(warehouse) as con:
        run = start_run(con, feed, tenant, dry_run, settings)
        unchanged = steps.recall(con, run)
        if unchanged is not None:
            return unchanged
        validated = steps.validate(feed, con, tenant, settings)
        if not validated.ok:
            errors = validated.error_count
            message = f"{errors:,} validation error{'' if errors == 1 else 's'}"
            return steps.reject(con, run, validated.issues, message)
        try:
            planned = steps.plan(validated, con, run, settings)
        except PlanError as error:  # the warehouse holds something the sync must not guess at
            return steps.reject(con, run, validated.issues, str(error))
        except Exception as error:
            record_failed(con, run, validated.issues, error)
            raise
        refusal = steps.guard(planned, settings)
        if refusal:
            return steps.reject(con, run, validated.issues, refusal)
        return steps.apply(con, planned, validated.issues)


def run_sync(
    feed_path: str | Path,
    warehouse: str | Path,
    settings: Settings,
    tenant: str | None = None,
    dry_run: bool = False,
) -> SyncResult:
    """The whole sync as plain function calls, without the Prefect engine."""
    return run_steps(Steps(), feed_path, warehouse, settings, tenant, dry_run)
