"""The sync's steps as plain functions, each a call into one layer: load (schemas), validate
(schemas, against what the warehouse holds), plan (transforms, from what the warehouse holds),
guard (transforms), and the ends a run may come to: apply, hold or reject (warehouse).

`flows.pipeline` chains them; the Prefect flow (`flows.sync`) wraps each in a task.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache, partial
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

import duckdb
import polars as pl
from blake3 import blake3

from rosterflow.flows.progress import announce_recorded
from rosterflow.schemas.by_lines import StoredRecords
from rosterflow.schemas.changes import Plan
from rosterflow.schemas.feed import Feed, open_feed, own_fingerprint
from rosterflow.schemas.guard import RELOGINS_SCHEMA, SCHOOL_REMOVALS_SCHEMA
from rosterflow.schemas.issues import ISSUE_SCHEMA, sort_issues
from rosterflow.schemas.reads import answered
from rosterflow.schemas.records import ROW_HASH, carried_files, validation_key
from rosterflow.schemas.runs import RunRecord, SyncResult
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.schemas.validate import (
    ValidatedFeed,
    carried_records_needed,
    files_read_by_lines,
    stored_login_issues,
    validate_by_lines,
    validate_feed,
    with_dropped_records,
)
from rosterflow.transforms.adoption import (
    Adoption,
    kept_login_issues,
    login_taken_issues,
    sent_lines,
    signing_in,
)
from rosterflow.transforms.desired import unplaced_course_assignment_issues
from rosterflow.transforms.guard import refusal, removals
from rosterflow.transforms.lines import kept_lines, with_line_keys
from rosterflow.transforms.logins import login_change_issues, relogins
from rosterflow.transforms.plan import (
    course_left_behind_issues,
    deleted_ids,
    left_behind_issues,
    left_in_deleted_domains,
    resource_left_behind_issues,
)
from rosterflow.transforms.planning import Since, plan_run
from rosterflow.transforms.source_state import (
    marked_records,
    next_source_state,
    source_records,
)
from rosterflow.warehouse.apply import RunWrites, record_or_fail, record_run
from rosterflow.warehouse.basis import (
    IncrementalBasis,
    StoredState,
    incremental_basis,
    stored_records_by_lines,
    stored_state,
)
from rosterflow.warehouse.held import hold_run
from rosterflow.warehouse.records import (
    CLOSED_REFERENCES,
    LINE_MARKS,
    LINE_SUMMARIES,
    fingerprints,
    record_writes,
    stored_records,
)
from rosterflow.warehouse.runs import after_latest_run, next_run_id, stored_lines, utc_now
from rosterflow.warehouse.state import (
    WarehouseCurrent,
    hand_made_course_references,
    hand_made_logins,
    hand_made_references,
    hand_made_resource_references,
    next_ids,
    rows_in_domains,
    school_removals,
    synced_logins,
)


@dataclass
class ValidatedRun:
    """A validated feed, and what the warehouse held of the tenant's records when it was read."""

    validated: ValidatedFeed
    stored: StoredState
    # the stored records of the files a delta's checks stand on (`carried_records_needed`),
    # and of those the checks across stored records read (`_with_stored_checks`), which the
    # plan reads too: read once
    carried: dict[str, pl.DataFrame] = field(default_factory=dict)

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
    schools: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=SCHOOL_REMOVALS_SCHEMA)
    )
    next_ids: dict[str, int] = field(default_factory=dict)  # the first free ids it planned from
    # users whose login changes, with their record's line (a first login is none)
    relogins: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=RELOGINS_SCHEMA))
    # the accounts made by hand that new users take over ([identity] adopt_by); its issues
    # name too the users created with a login such an account has (`identity.login_taken`)
    adoption: Adoption = field(default_factory=Adoption)
    # a warning per user or course deleted that rows made by hand still point at, per
    # domain deleted that rows left in lms still belong to, and per course assignment sent
    # that is not made, its course having no org base course
    left_behind: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ISSUE_SCHEMA))


def load_feed(feed: str | Path, encoding: str = "utf-8") -> Feed:
    """The manifest and the files it lists, to be read in `encoding` (`[feed] encoding`); the
    files are read by `read_feed`, once the tenant's warehouse is open."""
    return open_feed(feed, parse=False, encoding=encoding)


def read_feed(
    feed: Feed,
    con: duckdb.DuckDBPyConnection | None,
    tenant: str,
    full: bool,
    settings: Settings | None = None,
) -> Feed:
    """The feed's files read in threads of their own, each parsed as soon as it is in unless
    its bytes are those the tenant's stored records came from: a feed the last run had is
    recalled without a parse, and any other run reads the warehouse (`validate`) while the
    files are still inflating and parsing (a parsed file's bytes go at once: a 1% change of
    1M students parsed whole peaks at 4.5 GiB, not the 5.5 of every file inflated first).

    Under the `settings` of the tenant's last applied run, a OneRoster 1.1 feed in bulk has
    users.csv and enrollments.csv read by their changed lines against every field of the
    stored records (`schemas.by_lines`), which are read beside the files: a record whose line
    is unchanged is never parsed (`validate`). The stored records held beside the files take
    that 1% change's peak to 5.5 GiB again, for 0.3-0.9 s less (`bench/README.md`).

    Without `con` (the tenant has no warehouse file yet: nothing stored to skip a parse or read
    by lines against) every file is read and parsed before this returns, raising the
    FeedError of a file that cannot be, so that the file is not created for a feed that
    cannot be synced (`flows.pipeline`)."""
    if con is None:
        return feed.read(parse_unless={}, lines={}).parse()
    if full:  # never recalled: every file is parsed (its lines hashed for the next run)
        return feed.read(parse_unless={}, lines={})
    stored = fingerprints(con, tenant)
    parse_unless = {name: own_fingerprint(found) for name, found in stored.items() if found}
    last = stored_lines(con, tenant)
    keyed = files_read_by_lines(feed)
    if (
        settings is None
        or not keyed
        or not last.summaries
        or last.settings_key != settings_key(settings)
    ):
        return feed.read(parse_unless=parse_unless, lines=last.summaries)
    reader = StoredReader(con, tenant, settings_key(settings), settings.identity.key, whole=True)
    feed.releasing.append(reader.close)
    reader.start_unless_sized(feed, last.sizes)
    return feed.read(parse_unless=parse_unless, lines=last.summaries, unparsed=keyed, stored=reader)


class StoredReader:
    """The tenant's stored records as a feed is read by its changed lines against them
    (`warehouse.basis.stored_records_by_lines`): read once, on a cursor of its own in a thread
    of its own (DuckDB lets go of the GIL), from the first time they are asked for or
    `start`ed (a feed of the last run's very lines needs none)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        tenant: str,
        settings_key: str,
        identity_key: str,
        whole: bool = False,
    ) -> None:
        self._cursor = con.cursor()
        self._read = partial(
            stored_records_by_lines, self._cursor, tenant, settings_key, identity_key, whole
        )
        self._reading: Future[StoredRecords] | None = None
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> Future[StoredRecords]:
        with self._lock:
            if self._reading is None and self._closed:  # (a thread that asks too late)
                self._reading = Future()
                self._reading.set_exception(RuntimeError("the stored records were let go"))
            if self._reading is None:
                reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stored-records")
                self._reading = reader.submit(self._read)
                reader.shutdown(wait=False)
            return self._reading

    def start_unless_sized(self, feed: Feed, sizes: Mapping[str, int]) -> None:
        """`start` at once when a file of `feed` is not of the size the last run kept for it
        (`sizes`, by file name): its lines are not that run's, and the records will be
        asked for."""
        if any(
            sizes.get(feed.specs[name].file_name, member.size) != member.size
            for name, member in feed.members.items()
        ):
            self.start()

    def __call__(self) -> StoredRecords:
        return self.start().result()

    def close(self) -> None:
        """Stop a reading nobody needs any more (the feed's lines answered without it) and
        wait for it to end, then close the cursor: its connection must not be closed while
        the cursor still reads (DuckDB refuses, with a traceback instead of the run's answer)."""
        with self._lock:
            reading, self._closed = self._reading, True
        if reading is not None:
            if not reading.done():
                with suppress(duckdb.Error):
                    self._cursor.interrupt()
            with suppress(Exception):
                reading.result()
        with suppress(duckdb.Error):
            self._cursor.close()


def settings_key(settings: Settings) -> str:
    """What a run's results depend on besides its feed: rosterflow's version and code, and the
    settings (`audit.sync_runs.settings_key`; a run is recalled only under the same)."""
    return f"rosterflow {version('rosterflow')}+{code_digest()} {settings.key()}"


# the layers whose code decides what a run checks, plans and stores
_RUN_LAYERS = ("flows", "schemas", "sis", "transforms", "warehouse")


@cache
def code_digest() -> str:
    """A digest of rosterflow's own code (each .py and .sql file of the layers a run goes
    through, by its path in the package): a version number changes with a release, but an
    upgrade of the code under the same number (an install from a repository) may check a
    record more strictly, or derive a row otherwise. The first run after it must then check
    and plan in full, as a run under other settings does: an incremental one stands on what
    older code stored and derived, and could differ from `--full` under the new."""
    digest = blake3()
    for layer in _RUN_LAYERS:
        found = find_spec(f"rosterflow.{layer}")
        assert found is not None and found.submodule_search_locations is not None
        (folder,) = found.submodule_search_locations
        files = [*Path(folder).rglob("*.py"), *Path(folder).rglob("*.sql")]
        for path in sorted(files, key=lambda path: path.relative_to(folder).as_posix()):
            digest.update(f"{layer}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def start_run(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    tenant: str,
    dry_run: bool,
    settings: Settings,
    full: bool = False,
    attempt: str | None = None,
    started_at: datetime | None = None,
) -> RunRecord:
    """The run about to sync `feed`, started now, or at `started_at` (UTC): a pulled feed's
    run starts when its pull began reading the API, so that the next delta, which asks for
    what changed since the run started (`flows.pulling.pull_since`), misses no record changed
    while the pull was under way. Always after the tenant's latest applied run, though:
    history's versions run from one applied run's start to the next's, in the order the runs
    were applied, whatever the clock says (`warehouse.runs.after_latest_run`)."""
    started = utc_now()
    if started_at is not None:
        started = min(started, _naive_utc(started_at))
    started = after_latest_run(con, tenant, started)
    return RunRecord(
        run_id=next_run_id(con),
        tenant=tenant,
        feed_name=feed.name,
        feed_sha256=feed.sha256,
        started_at=started,
        outcome="planned" if dry_run else "applied",
        content_sha256=feed.content_sha256,
        settings_key=settings_key(settings),
        full=full,
        attempt_key=attempt,
    )


def _naive_utc(moment: datetime) -> datetime:
    """audit's timestamps: UTC without a zone (a moment without one is taken as UTC)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def validate(
    feed: Feed, con: duckdb.DuckDBPyConnection, run: RunRecord, settings: Settings
) -> ValidatedRun:
    """Validate with references into delta and absent files resolved against the tenant's
    records, and without re-checking, row by row, records the tenant already holds as they
    are, validated under these very settings: of a feed read by its changed lines
    (`read_feed`), only those lines are parsed and checked, and the stored records of the
    others stand in for them, on their lines (`schemas.validate.validate_by_lines`); a feed
    they cannot stand in for is parsed whole. Either way, a record a bulk file dropped that
    stored records of a file absent or sent as a delta still name is warned of, as a delta's
    removal is, and a login a users.csv delta (or an absent users.csv) leaves empty or shared
    with a stored user is an error, as `validate --warehouse` reports it (`_with_stored_checks`)."""
    read = feed.stored_records()  # (a feed read by its changed lines: `read_feed`)
    if read is not None:
        by_lines = validate_by_lines(feed, settings, read, in_place=True)
        if by_lines is not None:
            return _with_stored_checks(
                ValidatedRun(by_lines, stored_state(con, run, read)), con, run.tenant, settings
            )
    # the warehouse is read while the files are parsed: Polars and DuckDB let go of the GIL,
    # and the parse leaves part of the cores idle
    with ThreadPoolExecutor(max_workers=1) as parser:
        parsing = parser.submit(feed.parse)
        stored = stored_state(con, run, read)
        parsing.result()
    # a delta's checks that stand on stored records: a 1.2 user sent without roles.csv rows
    # keeps the stored role, a record a delta removes may be named by stored records it does
    # not send (an org's child orgs, a term's classes); read for a delta that removes alone
    needed = carried_records_needed(feed)
    carried = stored_records(con, run.tenant, needed) if needed else {}
    empty = pl.Series("sourcedId", [], pl.String)
    hashes = stored.hashes
    known = {
        name: hashes[name]["sourcedId"] if name in hashes else empty
        for name in carried_files(feed.modes)
    }
    if stored.lms_summary is None:  # nothing to compare with, or every record is looked at
        validated = validate_feed(feed, settings, known, carried=carried)
        return _with_stored_checks(
            ValidatedRun(validated, stored, carried), con, run.tenant, settings
        )
    nothing = pl.DataFrame(schema={"sourcedId": pl.String, ROW_HASH: pl.UInt64})
    compared = {name: hashes.get(name, nothing) for name in SYNCED_FILES}
    under = validation_key(run.settings_key, feed.version)
    trusted = [name for name in hashes if stored.files[name].validated_under == under]
    validated = validate_feed(
        feed, settings, known, compared, trusted, stored.closed, carried=carried
    )
    return _with_stored_checks(ValidatedRun(validated, stored, carried), con, run.tenant, settings)


def _with_stored_checks(
    validated: ValidatedRun, con: duckdb.DuckDBPyConnection, tenant: str, settings: Settings
) -> ValidatedRun:
    """`validated` with the issues that stand on the stored records of files not sent in bulk:
    the records a bulk file dropped that they still name (`_with_dropped_records`), and the
    logins left empty or shared once users.csv's records combine with them
    (`with_stored_logins`). The stored records read for either are the plan's too."""
    validated = _with_dropped_records(validated, con, tenant)
    checked, carried = with_stored_logins(
        validated.validated,
        settings.identity.key,
        validated.carried,
        partial(stored_records, con, tenant),
    )
    return replace(validated, validated=checked, carried=carried)


def with_stored_logins(
    validated: ValidatedFeed,
    key: str,
    carried: Mapping[str, pl.DataFrame],
    read: Callable[[tuple[str, ...]], Mapping[str, pl.DataFrame]],
) -> tuple[ValidatedFeed, dict[str, pl.DataFrame]]:
    """`validated` with the logins (under `key`) left empty or shared once the feed's users
    combine with the tenant's stored ones (`schemas.validate.stored_login_issues`), and
    `carried` with the stored users read for it: under a login `key` other than sourcedId,
    when users.csv is a delta or absent. A sync and `validate --warehouse` both report them
    so, on the sent rows' lines. A feed with a bulk users.csv (most feeds) reads nothing more;
    the stored users are read once, by `read` (the tenant's stored records of the files it
    is given: none of a tenant without a warehouse file), unless `carried` holds them."""
    carried = dict(carried)
    mode = validated.feed.modes.get("users", "absent")
    sent = validated.tables.get("users") if mode == "delta" else None
    # a delta whose header could not be read is an error already; one missing from the tables
    # of a feed answered by the lines of the tenant's last applied run is recalled, not planned
    if key == "sourcedId" or mode == "bulk" or (mode == "delta" and sent is None):
        return validated, carried
    stored = carried.get("users")
    if stored is None:
        stored = read(("users",)).get("users")
    if stored is None:  # the tenant has no warehouse file: nothing stored to share a login
        return validated, carried
    carried["users"] = stored
    # combined as the plan combines them (the run id only stamps the sent rows: unread here)
    users = next_source_state("users", stored, sent, mode, run_id=0)
    found = stored_login_issues(users, sent, key).collect()
    if found.height == 0:
        return validated, carried
    issues = sort_issues(pl.concat([validated.issues, found], how="diagonal_relaxed"))
    return replace(validated, issues=issues), carried


def _with_dropped_records(
    validated: ValidatedRun, con: duckdb.DuckDBPyConnection, tenant: str
) -> ValidatedRun:
    """`validated` with the warnings of the records a bulk file dropped that stored records
    of a file absent or sent as a delta still name (`schemas.validate.with_dropped_records`):
    their stored records, read for it, are the plan's too (it reads those of every file not
    sent in bulk), so the run reads them once; a feed of bulk files alone reads nothing."""
    stored_ids = {
        name: hashes.get_column("sourcedId") for name, hashes in validated.stored.hashes.items()
    }
    checked, carried = with_dropped_records(
        validated.validated,
        stored_ids,
        partial(stored_records, con, tenant),
        validated.carried,
    )
    return replace(validated, validated=checked, carried=carried)


def plan(
    validated: ValidatedRun, con: duckdb.DuckDBPyConnection, run: RunRecord, settings: Settings
) -> PlannedRun:
    """The run's change set (`transforms.planning`), from the tenant's stored records and lms
    rows, and how the stored records change with it."""
    feed = validated.feed
    unread = tuple(name for name in carried_files(feed.modes) if name not in validated.carried)
    # (bulk needs none)
    previous = {
        **validated.carried,
        **(stored_records(con, run.tenant, unread) if unread else {}),
    }
    records = source_records(validated.tables, feed.modes, previous, run.run_id)
    del previous
    basis = incremental_basis(con, run, validated.stored.lms_summary)
    first_free = next_ids(con)
    incremental = isinstance(basis, IncrementalBasis)
    since = (
        Since(
            basis.run_id,
            basis.previous_courses,
            basis.previous_grades,
            validated.stored.hashes,
            basis.previous_teacher_order,
        )
        if incremental
        else basis
    )
    current = WarehouseCurrent(con, run.tenant, basis.summary if incremental else None)
    sent = sent_lines(validated.tables.get("users"))  # (the issues a plan raises stand on them)
    planned = answered(
        plan_run(
            run.tenant,
            records,
            feed.modes,
            settings,
            first_free,
            since,
            validated.validated.changes,
            sent=sent,
            marked=marked_records(validated.tables),
        ),
        current.answer,
    )
    run = replace(run, planning=planned.planning, planning_note=planned.note)
    lines = feed.lines()
    parsed = {feed.specs[name].file_name: found for name, found in feed.files.items()}
    for name, whole in validated.validated.read_by_lines.items():  # (changed lines parsed)
        parsed[feed.specs[name].file_name] = whole
    sizes = {feed.specs[name].file_name: member.size for name, member in feed.members.items()}
    unplaced = unplaced_course_assignment_issues(  # (no courseResources.csv rows: nothing)
        validated.tables.get("courseResources"),
        planned.records,
        planned.derived["desired_courses"]["external_id"],
        settings.hierarchy,
    )
    # the lines the next run finds its issues on again include those of the plan's warnings
    # that the same records raise again (`schemas.lines.PLAN_STATE_RULES`)
    line_summaries, line_marks = kept_lines(
        lines,
        parsed,
        feed.modes,
        feed.version,
        pl.concat([validated.issues, unplaced]),
        planned.records,
        sizes,
    )
    file_names = {name: spec.file_name for name, spec in feed.specs.items()}
    record_changes = record_writes(
        planned.records,
        planned.changes,
        {name: feed.modes[name] for name in feed.files},
        {name: content.fingerprint for name, content in feed.files.items()},
        validated.stored.files,
        validation_key(run.settings_key, feed.version),
    )
    # the line keys of the records written alone (a patch: those that changed)
    keyed = with_line_keys(
        {name: write.rows for name, write in record_changes.items()},
        lines,
        parsed,
        feed.modes,
        feed.version,
        validated.issues,
        file_names,
    )
    writes = RunWrites(
        planned.plan,
        {name: replace(write, rows=keyed[name]) for name, write in record_changes.items()},
        planned.derived
        | {
            CLOSED_REFERENCES: validated.validated.closed,
            LINE_SUMMARIES: line_summaries,
            LINE_MARKS: line_marks,
        },
        basis.summary if incremental else None,
        basis.stored_derived() if incremental else {},
    )
    schools = school_removals(con, run.tenant, removals(planned.plan))
    pointing = hand_made_references(con, run.tenant, deleted_ids(planned.plan, "user"))
    in_deleted_domains = rows_in_domains(con, run.tenant, deleted_ids(planned.plan, "domain"))
    on_deleted_courses = hand_made_course_references(
        con, run.tenant, deleted_ids(planned.plan, "course")
    )
    on_deleted_resources = hand_made_resource_references(  # (no resource deleted: no query)
        con, run.tenant, deleted_ids(planned.plan, "resource")
    )
    # the users the plan has sign in anew (created, reactivated, under another login) with a
    # login another active account keeps: made by hand, or synced from a record the SIS no
    # longer sends ([policy] users = "keep"); their warnings go with adoption's
    signing = signing_in(planned.plan)
    taken = login_taken_issues(
        signing,
        hand_made_logins(con, run.tenant, signing["login"]),  # (nobody new: no query)
        planned.adoption,
        settings.identity,
        sent,
    )
    kept = kept_login_issues(
        planned.plan,
        synced_logins(con, run.tenant, signing["login"]),  # (nobody new: no query)
        planned.adoption,
        settings.identity,
        sent,
        signing=signing,
    )
    adoption = replace(planned.adoption, issues=pl.concat([planned.adoption.issues, taken, kept]))
    return PlannedRun(
        run,
        planned.plan,
        writes,
        schools,
        first_free,
        relogins(planned.plan, sent),
        adoption,
        pl.concat(
            [
                left_behind_issues(planned.plan, pointing, sent),
                course_left_behind_issues(
                    planned.plan, on_deleted_courses, sent_lines(validated.tables.get("classes"))
                ),
                resource_left_behind_issues(
                    planned.plan,
                    on_deleted_resources,
                    sent_lines(validated.tables.get("resources")),
                ),
                left_in_deleted_domains(
                    planned.plan, in_deleted_domains, sent_lines(validated.tables.get("orgs"))
                ),
                unplaced,
            ]
        ),
    )


def guard(planned: PlannedRun, settings: Settings, dry_run: bool = False) -> str | None:
    """Why the run must not be applied, or None (`transforms.guard`); of a `dry_run`, in the
    words of a run that would be held."""
    return refusal(
        planned.plan,
        planned.schools,
        planned.relogins,
        settings.safety,
        settings.identity,
        planned.adoption,
        dry_run,
    )


def hold(
    con: duckdb.DuckDBPyConnection,
    planned: PlannedRun,
    issues: pl.DataFrame,
    message: str,
    warehouse: str | Path | None = None,
) -> SyncResult:
    """Keep a run over a guard, its whole plan included, for a person to approve or discard;
    its message says how (`held_commands`)."""
    approve, discard = held_commands(planned.run.run_id, warehouse)
    run = replace(
        planned.run,
        outcome="held",
        message=f"{message}. The run is held: `{approve}` applies exactly this plan, "
        f"`{discard}` drops it",
    )
    hold_run(con, run, issues, planned.writes, planned.next_ids)
    return recorded(SyncResult.of(run, planned.plan, issues))


def held_commands(run_id: int, warehouse: str | Path | None) -> tuple[str, str]:
    """The commands that approve and discard held run `run_id`, as its message in audit names
    them: with `--warehouse` and the absolute path of `warehouse` (as the notifications name
    it) unless it is the default one-file warehouse. The message is read later, from any
    folder (`rosterflow runs`, the audit notebook, a flow run's artifact): a bare `rosterflow
    approve 4` reads the default warehouse of the folder it is typed in, another file, or
    none of a layout's."""
    from rosterflow.flows.notify import decide_commands
    from rosterflow.flows.report import names_warehouse

    if not names_warehouse(warehouse):
        return f"rosterflow approve {run_id}", f"rosterflow discard {run_id}"
    return decide_commands(run_id, os.path.abspath(warehouse))


def reject(
    con: duckdb.DuckDBPyConnection, run: RunRecord, issues: pl.DataFrame, message: str
) -> SyncResult:
    rejected = replace(run, outcome="rejected", message=message)
    record_run(con, rejected, issues)
    return recorded(SyncResult.of(rejected, None, issues))


def with_warnings(issues: pl.DataFrame, planned: PlannedRun, settings: Settings) -> pl.DataFrame:
    """The issues a run records: validation's; the records that adopted no account as
    `[identity] adopt_by` asked (ambiguous, or another role), and the users created with a
    login an active account made by hand has already; the users deleted that rows made
    by hand still point at, the courses deleted likewise, and the domains deleted that rows
    left in lms still belong to; the course assignments sent that are not made, their course
    having no org base course; and under `[safety] login_changes = "warn"` a warning for each
    login the run changes."""
    warnings = [planned.adoption.issues, planned.left_behind]
    if planned.relogins.height and settings.safety.login_changes == "warn":
        warnings.append(login_change_issues(planned.relogins, settings.identity.key))
    if not any(frame.height for frame in warnings):
        return issues
    return sort_issues(pl.concat([issues, *warnings]))


def apply(con: duckdb.DuckDBPyConnection, planned: PlannedRun, issues: pl.DataFrame) -> SyncResult:
    """Write the run (applied, or planned for a dry run); on failure record it as failed."""
    return recorded(record_or_fail(con, planned.run, issues, planned.writes))


def recorded(result: SyncResult) -> SyncResult:
    """`result`, committed, announced as such (`flows.progress.announce_recorded`)."""
    announce_recorded(result)
    return result
