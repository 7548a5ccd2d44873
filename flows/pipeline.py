"""The sync's steps as plain functions: load, recall, validate, plan, guard, apply.

The Prefect flow (`flows.sync`) wraps each step in a task; tests and benchmarks may call
`run_sync` directly, which chains the same functions without the engine. `recall` answers at
once for a feed whose contents the tenant's last applied run already had, when lms is as that
run left it (a nightly export of an unchanged district). Otherwise the run is planned
incrementally when it can be (`incremental_basis`: lms and the stored state are exactly as the
last applied run left them, under the same settings and rosterflow), else in full.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path

import duckdb
import polars as pl

from rosterflow.flows.notify import notify_run
from rosterflow.schemas.changes import REMOVALS, Plan, PlanError, in_entity_order
from rosterflow.schemas.feed import Feed, open_feed
from rosterflow.schemas.identity import IDENTITY_KEYS, duplicate_logins
from rosterflow.schemas.issues import ISSUE_SCHEMA, issues_from, sort_issues
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.records import ROW_HASH, RecordChanges, record_changes
from rosterflow.schemas.references import Reference
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.schemas.validate import ValidatedFeed, validate_feed
from rosterflow.transforms.desired import desired_state, source_grade_levels
from rosterflow.transforms.incremental import (
    desired_course_hashes,
    desired_courses,
    plan_incremental,
)
from rosterflow.transforms.plan import plan_changes
from rosterflow.transforms.source_state import next_source_state
from rosterflow.warehouse.apply import (
    RunRecord,
    RunWrites,
    next_run_id,
    record_run,
    record_unchanged,
    utc_now,
)
from rosterflow.warehouse.held import HeldState, store_held
from rosterflow.warehouse.layout import is_layout, tenant_warehouse
from rosterflow.warehouse.operations import last_undo
from rosterflow.warehouse.records import (
    RecordWrite,
    StoredFile,
    derived,
    derived_states,
    needs_compaction,
    stored_files,
    stored_hashes,
    stored_records,
)
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import (
    MIN_SCHOOL_ACTIVE,
    TableSummary,
    WarehouseCurrent,
    checksum_text,
    current_rows,
    lms_checksum,
    lms_summary,
    next_ids,
    school_removals,
)

GUARDED = ("user", "enrollment")
# the derived state naming the references the stored records hold closed
CLOSED_REFERENCES = "closed_references"


@dataclass
class SyncResult:
    run_id: int
    tenant: str
    feed_name: str
    outcome: str  # applied | planned | held | rejected | failed
    message: str | None
    summary: pl.DataFrame  # entity, action, count
    issues: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ISSUE_SCHEMA))
    planning: str | None = None  # incremental | full | recalled (None: rejected before planning)
    planning_note: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome in ("applied", "planned") else 1

    def payload(self, limit: int = 20) -> dict:
        """The run as JSON for a notification: outcome, why, changes, the first issues."""
        counts = self.issues.group_by("severity", "rule").len("count").sort("severity", "rule")
        return {
            "outcome": self.outcome,
            "tenant": self.tenant,
            "run_id": self.run_id,
            "feed": self.feed_name,
            "message": self.message,
            "planning": self.planning,
            "changes": self.summary.to_dicts(),
            "issue_counts": counts.to_dicts(),
            "issues": self.issues.head(limit).to_dicts(),
        }


@dataclass
class ValidatedRun:
    """A validated feed, and what the warehouse held of the tenant's records when it was read."""

    validated: ValidatedFeed
    stored: dict[str, StoredFile]  # per file stored for the tenant
    hashes: dict[str, pl.DataFrame]  # per file stored: sourcedId, row_hash
    # the tenant's lms summary, read while the feed was parsed when the run may be planned
    # incrementally (nothing writes lms between validate and plan: the run holds the file)
    lms_summary: dict[str, TableSummary] | None = None

    @property
    def feed(self) -> Feed:
        return self.validated.feed

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        return self.validated.tables

    @property
    def issues(self) -> pl.DataFrame:
        return self.validated.issues

    @property
    def error_count(self) -> int:
        return self.validated.error_count

    @property
    def ok(self) -> bool:
        return self.validated.ok


@dataclass
class PlannedRun:
    run: RunRecord  # with how it was planned
    plan: Plan
    writes: RunWrites
    # per school and guarded entity: active rows removed and active rows (schools that lose any)
    schools: pl.DataFrame = field(default_factory=pl.DataFrame)
    next_ids: dict[str, int] = field(default_factory=dict)  # the first free ids it planned from
    # users whose login changes: external_id, user_id, login_before, login (a first login is none)
    relogins: pl.DataFrame = field(default_factory=pl.DataFrame)


@contextmanager
def open_warehouse(
    path: str | Path, tenant: str | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, held open for the whole run: DuckDB lets one process write a file at a
    time, so nothing else can change the tenant between planning and applying. With `tenant`,
    `path` may be a per-tenant layout (`wh/{tenant}.duckdb`): the tenant's own file opens."""
    if tenant is not None and is_layout(path):
        file, base = tenant_warehouse(path, tenant)
        con = connect(file, id_space=(tenant, base))
    else:
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
    feed: Feed, con: duckdb.DuckDBPyConnection, run: RunRecord, settings: Settings
) -> ValidatedRun:
    """Validate with references into delta and absent files resolved against the tenant's
    records, and without re-checking, row by row, records the tenant already holds as they
    are, validated under these very settings."""
    # the warehouse is read while the files are parsed: Polars and DuckDB let go of the GIL,
    # and the parse leaves part of the cores idle
    with ThreadPoolExecutor(max_workers=1) as parser:
        parsing = parser.submit(feed.parse)
        stored = stored_files(con, run.tenant)
        # an enrollment's student, as stored: whose grade level a changed enrollment may move
        hashes = stored_hashes(
            con,
            run.tenant,
            [n for n in SYNCED_FILES if n in stored],
            {"enrollments": ["userSourcedId"]},
        )
        summary = None if run.full or not hashes else lms_summary(con, run.tenant)
        parsing.result()
    empty = pl.Series("sourcedId", [], pl.String)
    known = {
        name: hashes[name]["sourcedId"] if name in hashes else empty for name in _carried(feed)
    }
    if summary is None:  # nothing to compare with, or every record is to be looked at
        return ValidatedRun(validate_feed(feed, settings, known), stored, hashes)
    nothing = pl.DataFrame(schema={"sourcedId": pl.String, ROW_HASH: pl.UInt64})
    compared = {name: hashes.get(name, nothing) for name in SYNCED_FILES}
    under = validation_key(run, feed)
    trusted = [n for n in hashes if stored[n].validated_under == under]
    closed = stored_closed_references(con, run, stored)
    validated = validate_feed(feed, settings, known, compared, trusted, closed)
    return ValidatedRun(validated, stored, hashes, summary)


def stored_closed_references(
    con: duckdb.DuckDBPyConnection, run: RunRecord, stored: dict[str, StoredFile]
) -> set[Reference]:
    """The references the tenant's stored records hold closed (`ValidatedFeed.closed` of the
    run that stored the newest of them, under these settings and rosterflow), or none when
    records were stored after it was found, or under other settings."""
    state = derived_states(con, run.tenant).get(CLOSED_REFERENCES)
    newest = max((part.last_run_id for part in stored.values()), default=0)
    if state is None or state.settings_key != run.settings_key or state.run_id < newest:
        return set()
    found = derived(con, run.tenant, CLOSED_REFERENCES)
    return set(found.iter_rows()) if found is not None else set()


def validation_key(run: RunRecord, feed: Feed) -> str:
    """What a file's stored records were validated under: the settings and rosterflow, and the
    OneRoster version of the feed they came in (1.2 admits values 1.1 refuses, so a record is
    trusted unchecked only when it was checked against the same version's rules)."""
    if feed.version == "1.1":  # as written before 1.2 was read
        return run.settings_key
    return f"{run.settings_key} (OneRoster {feed.version})"


def start_run(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    tenant: str,
    dry_run: bool,
    settings: Settings,
    full: bool = False,
    attempt: str | None = None,
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
        full=full,
        attempt_key=attempt,
    )


def recorded_attempt(con: duckdb.DuckDBPyConnection, attempt: str) -> SyncResult | None:
    """The run an earlier try of this attempt recorded (a Prefect flow run retried after its
    run committed, say), unless it failed: a committed run is never applied a second time."""
    found = con.execute(
        "select run_id from audit.sync_runs where attempt_key = ? and outcome <> 'failed' "
        "order by run_id desc limit 1",
        [attempt],
    ).fetchall()
    return recorded_result(con, found[0][0]) if found else None


def recorded_result(con: duckdb.DuckDBPyConnection, run_id: int) -> SyncResult:
    """A recorded run as its sync returned it: outcome, changes per entity and action, issues."""
    run_id, tenant, feed_name, outcome, message, planning, planning_note = con.execute(
        "select run_id, tenant, feed_name, outcome, message, planning, planning_note "
        "from audit.sync_runs where run_id = ?",
        [run_id],
    ).fetchall()[0]
    summary = in_entity_order(
        con.sql(
            "select entity, action, count(*)::uinteger as count from audit.changes "
            "where run_id = ? group by entity, action",
            params=[run_id],
        ).pl()
    )
    issues = run_issues(con, run_id)
    return SyncResult(
        run_id, tenant, feed_name or "", outcome, message, summary, issues, planning, planning_note
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
        run,
        message=f"the same feed as run {last_run}, and lms as it left it: nothing to change",
        planning="recalled",
        planning_note=f"the same contents as run {last_run}, lms untouched since",
    )
    record_unchanged(con, unchanged, last_run, checksum if run.outcome == "applied" else None)
    return run_result(unchanged, None, run_issues(con, last_run))


def run_issues(con: duckdb.DuckDBPyConnection, run_id: int) -> pl.DataFrame:
    """The issues recorded for a run."""
    return (
        con.sql(
            f"select {', '.join(ISSUE_SCHEMA)} from audit.issues where run_id = ?",
            params=[run_id],
        )
        .pl()
        .cast(ISSUE_SCHEMA)
    )


@dataclass(frozen=True)
class IncrementalBasis:
    """What an incremental plan starts from: lms as the last applied run left it."""

    run_id: int  # the run that left lms and the stored state as they are
    summary: dict[str, TableSummary]  # the tenant's lms rows now
    previous_courses: pl.DataFrame  # that run's desired courses: external_id, row_hash
    previous_grades: pl.DataFrame  # that run's students' grade levels: sourcedId, grade_level


def incremental_basis(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    summary: dict[str, TableSummary] | None = None,
) -> IncrementalBasis | str:
    """The basis for planning only what changed, or why the run is planned in full;
    `summary` is the tenant's `lms_summary` when it was read already in this run."""
    if run.full:
        return "--full was given"
    state = derived_states(con, run.tenant).get("desired_courses")
    if state is None:
        return "the tenant's first run: nothing stored to compare with"
    undone = last_undo(con, run.tenant)
    if undone is not None and undone[0] > state.run_id:
        return (
            f"run {undone[0]} undid run {undone[1]}: lms and the stored records need not be "
            f"what run {state.run_id} left"
        )
    if state.settings_key != run.settings_key:
        return f"the settings or the rosterflow version differ from those of run {state.run_id}"
    summary = summary or lms_summary(con, run.tenant)
    if checksum_text(summary) != state.lms_checksum:
        return (
            f"lms was changed outside rosterflow since run {state.run_id}: a hand edit, "
            "which this run reverts"
        )
    grades = derived(con, run.tenant, "grade_levels")
    if grades is None:
        return f"run {state.run_id} stored no grade levels to compare with (an older rosterflow)"
    return IncrementalBasis(
        state.run_id, summary, derived(con, run.tenant, "desired_courses"), grades
    )


def plan(
    validated: ValidatedRun, con: duckdb.DuckDBPyConnection, run: RunRecord, settings: Settings
) -> PlannedRun:
    feed = validated.feed
    carried = _carried(feed)
    previous = stored_records(con, run.tenant, carried) if carried else {}  # bulk needs none
    records = {
        name: next_source_state(
            name, previous.get(name), validated.tables.get(name), feed.modes[name], run.run_id
        )
        for name in SYNCED_FILES
    }
    del previous
    if feed.modes["users"] != "bulk":  # a bulk file's logins were checked by validation
        _refuse_shared_logins(records["users"], settings.identity.key)
    basis = incremental_basis(con, run, validated.lms_summary)
    first_free = next_ids(con)
    changes: dict[str, RecordChanges] | None = None
    if isinstance(basis, IncrementalBasis):
        empty = pl.DataFrame(schema={"sourcedId": pl.String, ROW_HASH: pl.UInt64})
        compared = validated.validated.changes or {}
        changes = {
            name: compared[name]
            if name in compared
            else record_changes(validated.hashes.get(name, empty), records[name])
            for name in SYNCED_FILES
        }
        stored_enrollments = validated.hashes.get(
            "enrollments", pl.DataFrame(schema={"sourcedId": pl.String, "userSourcedId": pl.String})
        )
        incremental = plan_incremental(
            run.tenant,
            records,
            changes,
            basis.previous_courses,
            basis.previous_grades,
            settings.hierarchy,
            WarehouseCurrent(con, run.tenant, basis.summary),
            first_free,
            settings.policy,
            settings.identity.key,
            stored_enrollments.select("sourcedId", "userSourcedId"),
        )
        changes_plan, course_hashes = incremental.plan, incremental.course_hashes
        grades = incremental.grades
        changed = sum(c.count for c in changes.values())
        total = sum(r.height for r in records.values())
        run = replace(
            run,
            planning="incremental",
            planning_note=f"{changed:,} of {total:,} records changed since run {basis.run_id}",
        )
    else:
        courses = desired_courses(records, settings.hierarchy)
        course_hashes = desired_course_hashes(courses)
        grades = source_grade_levels(records).collect()
        changes_plan = plan_changes(
            run.tenant,
            desired_state(records, settings.hierarchy, courses, grades, settings.identity.key),
            lambda name: current_rows(con, run.tenant, ENTITIES[name]),
            first_free,
            settings.policy,
        )
        run = replace(run, planning="full", planning_note=basis)
    writes = RunWrites(
        changes_plan,
        _record_writes(validated, records, changes, run),
        {
            "desired_courses": course_hashes,
            "grade_levels": grades,
            "teacher_order": teacher_order(records["enrollments"]),
            CLOSED_REFERENCES: validated.validated.closed,
        },
        basis.summary if isinstance(basis, IncrementalBasis) else None,
    )
    schools = school_removals(con, run.tenant, _removals(changes_plan))
    return PlannedRun(run, changes_plan, writes, schools, first_free, relogins(changes_plan))


def relogins(plan_: Plan) -> pl.DataFrame:
    """The users whose login the plan changes from one they had (`detail` of their update)."""
    before = pl.col("detail").str.json_path_match("$.login.from")
    return (
        plan_.entities["user"]
        .changes.filter(pl.col("action").is_in(["update", "move"]))
        .filter(before.is_not_null())
        .select("external_id", "user_id", before.alias("login_before"), "login")
        .sort("external_id")
    )


def login_change_issues(relogins: pl.DataFrame, key: str) -> pl.DataFrame:
    """A warning per user whose login changes, for `[safety] login_changes = "warn"`."""
    return issues_from(
        relogins.with_columns(pl.lit(None, pl.Int64).alias("__line")),  # a user, not a row
        file="users.csv",
        field=IDENTITY_KEYS[key],
        value=pl.col("login"),
        rule="identity.login_changed",
        severity="warning",
        message=pl.format(
            "{} signs in as {} now, no longer as {}", "external_id", "login", "login_before"
        ),
    ).collect()


def _refuse_shared_logins(users: pl.DataFrame, key: str) -> None:
    """The users of a delta or absent users file combine with those stored: validation saw
    only the rows sent (if any), so logins empty or shared across the two are refused here."""
    shared = duplicate_logins(users, key)
    if shared.height == 0:
        return
    examples = "; ".join(
        f"{'no login' if login is None else repr(login)}: {', '.join(ids[:3])}"
        + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        for login, ids in shared.head(3).iter_rows()
    )
    raise PlanError(
        f"[identity] key = {key!r}: {shared.height:,} login{'s are' if shared.height > 1 else ' is'} "
        f"empty or shared by several of the tenant's users ({examples}); fix them in the SIS, "
        "or send users.csv whole"
    )


def _removals(plan_: Plan) -> dict[str, pl.DataFrame]:
    """Per guarded entity, the rows the plan removes that were active."""
    # an inactivated or withdrawn row was active; a deleted one keeps its status
    removal = pl.col("action").is_in(REMOVALS) & (
        (pl.col("action") != "delete") | (pl.col("status") == "active")
    )
    return {name: plan_.entities[name].changes.filter(removal) for name in GUARDED}


def teacher_order(enrollments: pl.DataFrame) -> pl.DataFrame:
    """Where each teacher enrollment stands in file order: a class's primary teacher is its
    first teacher enrollment when none is marked primary, so the next run must know this order
    for the records it keeps (the other records' order is never read)."""
    return enrollments.filter(pl.col("role") == "teacher").select("sourcedId", "run_id", "line")


def _record_writes(
    validated: ValidatedRun,
    records: dict[str, pl.DataFrame],
    changes: dict[str, RecordChanges] | None,
    run: RunRecord,
) -> dict[str, RecordWrite]:
    """How the tenant's stored records change: a patch of the records that changed, or a new
    base (planned in full, a first file, patches grown too large, a file validated anew)."""
    feed = validated.feed
    key = validation_key(run, feed)
    writes = {}
    nothing = pl.Series("sourcedId", [], pl.String)
    for name in SYNCED_FILES:
        mode = feed.modes[name] if name in feed.files else "absent"
        if mode == "absent":
            continue
        stored = validated.stored.get(name)
        lineage = stored.validated_under if stored is not None else None
        fingerprint = feed.files[name].fingerprint if mode == "bulk" else None
        # a bulk file's every record is validated now (or was, under these settings); a
        # delta file's records kept from before are as their lineage says
        under = key if mode == "bulk" or lineage == key else None
        base = RecordWrite(records[name], nothing, False, fingerprint, under)
        if changes is None:
            same_file = (
                stored is not None
                and fingerprint is not None
                and stored.fingerprint == fingerprint
                and stored.patches == 0
                and lineage == under
            )
            if not same_file:
                writes[name] = base
            continue
        change = changes[name]
        if lineage != under or needs_compaction(stored, change.count):
            writes[name] = base
        elif change.count:
            upserted = records[name].filter(pl.col("sourcedId").is_in(change.changed.implode()))
            writes[name] = RecordWrite(upserted, change.removed, True, None, key)
    return writes


def guard(planned: PlannedRun, settings: Settings) -> str | None:
    """Why the run must not be applied, or None: it would remove too large a share of the
    tenant's managed users or enrollments (a truncated export must not wipe a district), or
    of one school's (one school's file truncated); or, under `login_changes = "hold"`, change
    how existing users sign in."""
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
    if planned.relogins.height and settings.safety.login_changes == "hold":
        first = planned.relogins.row(0, named=True)
        count = planned.relogins.height
        return (
            f"this feed would change the login of {count:,} existing user{'s' if count > 1 else ''}"
            f" (e.g. {first['external_id']}: {first['login_before']!r} -> {first['login']!r}), "
            f"who would no longer sign in as before ([identity] key = "
            f"{settings.identity.key!r}). If that is intended, approve the run, or set [safety] "
            'login_changes = "warn"'
        )
    school_limit = settings.safety.max_school_removal_share
    over = (
        planned.schools.with_columns((pl.col("removed") / pl.col("active")).alias("share"))
        .filter(pl.col("active") >= MIN_SCHOOL_ACTIVE, pl.col("share") > school_limit)
        .sort("share", "entity", "domain_id", descending=[True, False, False])
    )
    if over.height:
        worst = over.row(0, named=True)
        others = f" (and {over.height - 1} more)" if over.height > 1 else ""
        return (
            f"this feed would remove {worst['removed']:,} of the {worst['active']:,} active "
            f"managed {worst['entity']}s of {worst['school'] or 'domain ' + str(worst['domain_id'])}"
            f" ({worst['share']:.0%}){others}, above [safety] max_school_removal_share = "
            f"{school_limit:g}: one school's export may be truncated"
        )
    return None


def hold(
    con: duckdb.DuckDBPyConnection, planned: PlannedRun, issues: pl.DataFrame, message: str
) -> SyncResult:
    """Keep a run over a guard, its whole plan included, for a person to approve or discard."""
    run = replace(
        planned.run,
        outcome="held",
        message=f"{message}. The run is held: `rosterflow approve {planned.run.run_id}` applies "
        f"exactly this plan, `rosterflow discard {planned.run.run_id}` drops it",
    )
    before = planned.writes.before
    state = HeldState(
        lms_checksum(con, run.tenant) if before is None else checksum_text(before),
        planned.next_ids,
        run.planning,
        run.planning_note,
    )
    record_run(
        con,
        run,
        issues,
        planned.writes,
        also=lambda con_: store_held(con_, run.run_id, planned.writes, state),
    )
    return run_result(run, planned.plan, issues)


def reject(
    con: duckdb.DuckDBPyConnection, run: RunRecord, issues: pl.DataFrame, message: str
) -> SyncResult:
    rejected = RunRecord(**{**run.__dict__, "outcome": "rejected", "message": message})
    record_run(con, rejected, issues)
    return run_result(rejected, None, issues)


def record_failed(
    con: duckdb.DuckDBPyConnection, run: RunRecord, issues: pl.DataFrame, error: Exception
) -> None:
    """A run that broke: its row (outcome `failed`, the error) and its issues, nothing else."""
    message = f"{type(error).__name__}: {error}"
    record_run(con, RunRecord(**{**run.__dict__, "outcome": "failed", "message": message}), issues)


def apply(con: duckdb.DuckDBPyConnection, planned: PlannedRun, issues: pl.DataFrame) -> SyncResult:
    """Write the run (applied, or planned for a dry run); on failure record it as failed."""
    return record_or_fail(con, planned.run, issues, planned.writes)


def record_or_fail(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    issues: pl.DataFrame,
    writes: RunWrites,
    also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> SyncResult:
    """`record_run`, and the run recorded as failed if that fails (then re-raised)."""
    try:
        record_run(con, run, issues, writes, also)
    except Exception as error:  # rolled back by record_run; the failure itself is recorded
        record_failed(con, run, issues, error)
        raise
    return run_result(run, writes.plan, issues)


def run_result(run: RunRecord, plan_: Plan | None, issues: pl.DataFrame) -> SyncResult:
    summary = plan_.summary() if plan_ is not None else Plan(run.tenant).summary()
    return SyncResult(
        run.run_id,
        run.tenant,
        run.feed_name or "",
        run.outcome,
        run.message,
        summary,
        issues,
        run.planning,
        run.planning_note,
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
    hold: Callable[..., SyncResult] = hold
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
) -> SyncResult:
    """load -> (recall) -> validate -> plan -> guard -> apply (or hold); a rejected run writes
    only its audit rows; a feed the tenant's last applied run had, with lms untouched since, is
    recalled. `full` plans every record even when only some changed (and never recalls). A
    failed, rejected or held run is announced as `[notify]` says. `attempt` names this try of
    a run (a Prefect flow run id): if an earlier try recorded it, that result is returned and
    nothing is done again."""
    known: dict[str, object] = {"feed": Path(feed_path).name, "tenant": tenant}
    try:
        result = _run_steps(
            steps, feed_path, warehouse, settings, tenant, dry_run, full, known, attempt
        )
    except Exception as error:
        steps.notify(settings, failure_payload(known, error))
        raise
    if result.planning == "retried":
        return result  # announced by the try that recorded it
    if result.outcome in NOTIFIED:
        steps.notify(settings, result.payload())
    return result


NOTIFIED = ("rejected", "held", "failed")


def failure_payload(known: dict[str, object], error: BaseException) -> dict:
    return {
        "outcome": "failed",
        "tenant": known.get("tenant"),
        "run_id": known.get("run_id"),
        "feed": known.get("feed"),
        "message": f"{type(error).__name__}: {error}",
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
) -> SyncResult:
    feed = steps.load_feed(feed_path)
    tenant = tenant or feed.default_tenant()
    known.update(feed=feed.name, tenant=tenant)
    with steps.tenant_lock(tenant), open_warehouse(warehouse, tenant) as con:
        earlier = recorded_attempt(con, attempt) if attempt else None
        if earlier is not None:
            return replace(
                earlier,
                planning="retried",
                planning_note=f"this attempt already recorded run {earlier.run_id}",
            )
        run = start_run(con, feed, tenant, dry_run, settings, full, attempt)
        known["run_id"] = run.run_id
        unchanged = None if full else steps.recall(con, run)
        if unchanged is not None:
            return unchanged
        validated = steps.validate(feed, con, run, settings)
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
        if refusal and not dry_run:
            return steps.hold(con, planned, validated.issues, refusal)
        if refusal:  # a dry run applies nothing anyway: it says it would be held
            planned = replace(
                planned, run=replace(planned.run, message=f"would be held: {refusal}")
            )
        issues = validated.issues
        if planned.relogins.height and settings.safety.login_changes == "warn":
            warnings = login_change_issues(planned.relogins, settings.identity.key)
            issues = sort_issues(pl.concat([issues, warnings]))
        return steps.apply(con, planned, issues)


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
