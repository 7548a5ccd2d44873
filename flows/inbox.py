"""The inbox service: every complete OneRoster zip dropped into a folder is synced exactly once,
then filed under `processed/`, `held/` or `rejected/` with its issue report beside it.

- **Which files**: `*.zip` at the top of the inbox (any case), oldest first so that Monday's
  export is applied before Tuesday's; hidden files (`._feed.zip` from macOS) are skipped. A
  zip that stays in the inbox (below) keeps its tenant's later zips there with it, for the
  same reason.
- **Still being written?** A zip is left alone while its modification time is younger than the
  settle time (every write moves it), and while it does not open as a zip yet: a zip's central
  directory is written last, so a partial upload has none. A file that still does not open once
  it is older than `GIVE_UP_SECONDS` is not arriving any more but broken; it is filed as
  unreadable.
- **Exactly once**: the key is the zip's sha256, the value `audit.sync_runs.feed_sha256` already
  holds. A zip whose sha256 has an `applied` run of its tenant is filed without syncing it
  again. The warehouse is the ledger because the run row commits in the same transaction as
  the changes: a separate ledger file could disagree with the warehouse after a crash between
  the two. Rejected and failed runs do not count: such a zip was filed under `rejected/`, and
  a person who puts it back (after raising the safety guard, say) wants it tried again. When
  runs came after that applied run (another export, an undo, a held run), the duplicate's
  message names them and how to apply the zip again: an export delivered again must not undo
  an operator's undo, but Monday's bytes sent again on Wednesday may be the SIS taking
  Tuesday's change back, which a person decides.
- **Filing**: applied (and duplicate) zips go to `processed/`, held ones (over a safety guard,
  waiting for `rosterflow approve`) to `held/`, rejected, failed and unreadable ones to
  `rejected/`, each with `<name>.issues.csv` beside it (the columns of
  `rosterflow validate --report`). A name already taken there gets `-2`, `-3`, ...: districts
  send the same file name every night. A zip that failed for a reason that is not its own (the
  settings, or a warehouse that is locked or needs a person) stays in the inbox for the next
  scan, and the inbox run fails so that someone looks. A zip whose tenant's file a per-tenant
  layout refuses as it stands (`warehouse.layout.TenantFileRefused`: a one-file warehouse
  copied in) goes to `rejected/` instead: every later scan would be refused alike, and
  notified again. A tenant's file that cannot be read for the ledger (locked past the wait)
  keeps that zip waiting, not the scan: the other tenants' zips are synced. So does a folder
  that will not take the zip once it was synced (`processed/` made by another account): the
  next scan files it.
- **One scan at a time**: a scan holds the inbox folder's lock while it runs
  (`one_scan_at_a_time`); another scan of the inbox waits for it.

The scan's steps are plain functions chained once, in `scan_inbox`. The Prefect flow
(`flows.inbox_flow`) hands it task-wrapped steps and a sync subflow per zip; `rosterflow serve
--once` without a Prefect API hands it the same functions run in-process (`flows.plain`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from rosterflow.flows.errors import NOT_THE_FEEDS_FAULT, InboxBusy, input_error
from rosterflow.schemas.feed import FeedError, FeedUnreadable, file_sha256, open_feed
from rosterflow.schemas.issues import count_errors, issue_frame, issue_row, write_report
from rosterflow.schemas.printable import one_line
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings, load_settings
from rosterflow.warehouse.held import undecided_held_since
from rosterflow.warehouse.layout import (
    Layout,
    TenantFileRefused,
    TenantNameError,
    existing_tenant_warehouse,
    is_layout,
    open_warehouse,
    tenant_text,
)
from rosterflow.warehouse.operations import applied_since
from rosterflow.warehouse.runs import applied_run_of_feed
from rosterflow.warehouse.schema import (
    connect,
    error_text,
    latest_version,
    open_file,
    schema_version,
    while_busy,
)

SETTLE_SECONDS = 5.0
GIVE_UP_SECONDS = 15 * 60.0
PROCESSED, HELD, REJECTED = "processed", "held", "rejected"
REPORT_SUFFIX = ".issues.csv"
log = logging.getLogger("rosterflow.inbox")

# --- which zips are ready --------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """A zip in the inbox, as one look saw it."""

    path: Path
    modified: float  # seconds since the epoch
    opens_as_zip: bool


def is_ready(arrival: Arrival, now: float, settle_seconds: float, give_up_seconds: float) -> bool:
    age = now - arrival.modified
    if age < -settle_seconds:
        # dated ahead of this machine's clock (a share whose server's clock runs ahead, a copy
        # that kept its time): its age tells nothing, and waiting for that time to pass left
        # a complete export unsynced that long, each scan saying no complete zip had come
        return arrival.opens_as_zip
    if age < settle_seconds:
        return False  # written to within the settle time: still arriving
    return arrival.opens_as_zip or age >= max(settle_seconds, give_up_seconds)


def opens_as_zip(path: Path) -> bool:
    """Whether the file opens as a zip (its central directory, written last, is in). One this
    user may not read counts as one: waiting would not make it readable, and its sync says why
    (the zip stays in the inbox, the scan exits 2)."""
    try:
        with path.open("rb") as handle:
            return zipfile.is_zipfile(handle)
    except OSError:
        return True


def arrivals(inbox: Path) -> list[Arrival]:
    return [
        Arrival(path, path.stat().st_mtime, opens_as_zip(path))
        for path in inbox.iterdir()
        if path.suffix.lower() == ".zip" and not path.name.startswith(".") and path.is_file()
    ]


def ready_zips(
    inbox: str | Path,
    settle_seconds: float = SETTLE_SECONDS,
    give_up_seconds: float = GIVE_UP_SECONDS,
    now: float | None = None,
) -> list[Path]:
    """The inbox's zips that are complete, oldest first."""
    now = time.time() if now is None else now
    ready = [a for a in arrivals(Path(inbox)) if is_ready(a, now, settle_seconds, give_up_seconds)]
    return [a.path for a in sorted(ready, key=lambda a: (a.modified, a.path.name))]


# --- the ledger: audit.sync_runs ---------------------------------------------------------------


@dataclass(frozen=True)
class AlreadyApplied:
    run_id: int
    tenant: str
    # the tenant's runs after it: applied (another export, an undo), or held undecided
    later: tuple[int, ...] = ()


def applied_run_of(
    warehouse: str | Path, zip_path: Path, tenant: str | None = None
) -> AlreadyApplied | None:
    """The last applied run of the zip's tenant with the same content, if the warehouse has
    one (in a per-tenant layout, in the zip's tenant's file), with the tenant's runs after it
    that were applied or are held undecided. Another tenant's run of the same bytes does not
    count: a manifest without systemCode names its tenant by the zip's name, and
    `jefferson.zip` is synced into jefferson even when `lincoln.zip` had the same bytes."""
    if tenant is None:
        tenant = zip_tenant(zip_path)
    try:
        path = existing_tenant_warehouse(warehouse, tenant or "")
    except TenantNameError:  # no file can hold it: its sync says so, and the zip is rejected
        return None
    if path is None:
        return None
    try:
        digest = file_sha256(zip_path)
    except OSError:  # (its permissions: the sync says so in its one line)
        return None
    with reading_ledger(path) as con:
        found = applied_run_of_feed(con, digest, tenant) if con is not None else None
        if found is None:
            return None
        run_id, of_tenant = found
        later = sorted(
            applied_since(con, of_tenant, run_id) + undecided_held_since(con, of_tenant, run_id)
        )
    return AlreadyApplied(run_id, of_tenant, tuple(later))


@contextmanager
def reading_ledger(path: Path) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The warehouse file opened read-only for the ledger (None: a file of no rosterflow
    schema, which holds no run). Read-only, an analyst's session on a tenant's file (a
    notebook, the catalog) does not keep the lookup waiting, as a writer's open would until
    the lock wait ran out, and a file the sync then refuses as it stands (a one-file
    warehouse copied into a layout) is not migrated by the lookup. A file of an older schema
    is migrated first, as its sync would, so that its applied runs still count."""
    con = open_file(path, read_only=True)
    try:
        version = schema_version(con)
        if version not in (0, latest_version()):
            con.close()
            con = connect(path)  # (a newer one is refused, naming the upgrade it needs)
        yield con if version != 0 else None
    finally:
        con.close()


def zip_tenant(zip_path: Path, encoding: str = "utf-8") -> str | None:
    """The tenant a zip syncs into by default (None: it does not open as a feed; its sync
    says why)."""
    try:
        return open_feed(zip_path, parse=False, encoding=encoding).default_tenant()
    except FeedError:
        return None


def open_warehouse_once(warehouse: str | Path) -> int:
    """Open (create, migrate) the warehouse and close it again: an unusable one stops the run
    before any zip is touched. Returns its schema version. For a per-tenant layout, the
    tenant registry is created instead (each tenant's file is opened by its own sync)."""
    if is_layout(warehouse):
        Layout(str(warehouse)).make_registry()
        return latest_version()
    with open_warehouse(warehouse) as con:
        return schema_version(con)


# --- filing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    # applied | planned | held | rejected | failed | unreadable | duplicate | waiting | gone
    outcome: str
    folder: str | None  # processed | held | rejected; None: stays in the inbox
    issues: pl.DataFrame
    tenant: str | None = None
    run_id: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class Filed:
    name: str  # the zip's name as it arrived
    outcome: str
    tenant: str | None
    run_id: int | None
    message: str | None
    path: Path  # where the zip is now
    report: Path | None

    def describe(self) -> str:
        """The zip's line in the scan's log, its control characters escaped: a zip's name is
        whatever the SIS or a person gave it, and a line feed in it forged a second line of
        the log, an ESC a terminal's colours or title."""
        run = f"run {self.run_id}, tenant {self.tenant}" if self.run_id else "no run"
        why = f": {self.message}" if self.message else ""
        line = f"{self.name}: {self.outcome} ({run}) -> {self.path}{why}"
        return one_line(line)


def _one_issue(file: str, rule: str, severity: str, message: str) -> pl.DataFrame:
    return issue_frame([issue_row(file, None, None, None, rule, severity, message)])


def verdict(name: str, outcome: SyncResult | AlreadyApplied | BaseException) -> Verdict:
    """What became of a zip, where it goes, and the issues its report lists."""
    if isinstance(outcome, AlreadyApplied):
        message = f"the same content was applied in run {outcome.run_id}; not synced again"
        if outcome.later:
            runs = ", ".join(str(run) for run in outcome.later)
            message += (
                f", though run(s) {runs} of tenant {outcome.tenant} came after it (another "
                "export, an undo, a held run): if the SIS means these records again, sync the "
                "zip with `rosterflow sync`"
            )
        issues = _one_issue(name, "feed.duplicate", "warning", message)
        return Verdict("duplicate", PROCESSED, issues, outcome.tenant, outcome.run_id, message)
    if isinstance(outcome, SyncResult):
        issues = outcome.issues
        if outcome.outcome == "held":
            # over a safety guard: the plan waits in the warehouse for `rosterflow approve`
            guard = _one_issue(name, "safety.held", "error", outcome.message or "")
            issues = pl.concat([guard, issues])
        elif outcome.outcome == "rejected" and count_errors(issues) == 0:
            # rejected for what the warehouse holds, not for the feed's errors: say why
            refusal = _one_issue(name, "sync.rejected", "error", outcome.message or "")
            issues = pl.concat([refusal, issues])
        folder = (
            PROCESSED if outcome.exit_code == 0 else HELD if outcome.outcome == "held" else REJECTED
        )
        return Verdict(
            outcome.outcome, folder, issues, outcome.tenant, outcome.run_id, outcome.message
        )
    if (refused := input_error(outcome, (FeedUnreadable,))) is not None:
        # the file system's doing, not the feed's (its permissions): it waits for a person
        return Verdict("waiting", None, issue_frame([]), message=str(refused))
    if (unreadable := input_error(outcome, (FeedError,))) is not None:
        message = str(unreadable)
        return Verdict(
            "unreadable",
            REJECTED,
            _one_issue(name, "feed.unreadable", "error", message),
            message=message,
        )
    if (refused := input_error(outcome, (TenantFileRefused,))) is not None:
        # the tenant's file as it stands: every later scan would be refused alike, so the zip
        # is filed once (its sync notified once) rather than tried again every scan
        message = str(refused)
        return Verdict(
            "rejected",
            REJECTED,
            _one_issue(name, "sync.rejected", "error", message),
            tenant=refused.tenant,
            message=message,
        )
    if (not_ours := input_error(outcome, NOT_THE_FEEDS_FAULT)) is not None:
        return Verdict("waiting", None, issue_frame([]), message=str(not_ours))
    message = (
        f"the sync failed ({error_text(outcome)}); its traceback is in the "
        "scan's log (stderr, or the sync's flow run in Prefect)"
    )
    return Verdict(
        "failed", REJECTED, _one_issue(name, "sync.failed", "error", message), message=message
    )


def free_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `name-2.zip`, `name-3.zip`, ... when the zip or its report exists.
    A name too long for its report (`<stem>.issues.csv` is 7 bytes longer than `<stem>.zip`)
    or its number is cut short to fit the file system: the zip fitted in the inbox, and a
    report that cannot be written would stop the scan, this zip left in the inbox to stop
    every scan after it too."""
    stem, suffix = Path(name).stem, Path(name).suffix
    longest = _longest_name(folder)
    number = 1
    while True:
        tail = "" if number == 1 else f"-{number}"
        fitted = _cut(stem, longest - len(tail) - len(REPORT_SUFFIX.encode()))
        candidate = folder / f"{fitted}{tail}{suffix}"
        if not candidate.exists() and not report_path(candidate).exists():
            return candidate
        number += 1


def _longest_name(folder: Path) -> int:
    """The longest file name, in bytes, that `folder`'s file system takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):  # (no such limit known: that of most file systems)
        return 255


def _cut(stem: str, most_bytes: int) -> str:
    """`stem`, cut to at most `most_bytes` bytes of its file name, between characters (a
    character cut in two would leave a name no longer valid UTF-8)."""
    cut = stem[:most_bytes]  # (a character is at least one byte)
    while len(os.fsencode(cut)) > most_bytes:
        cut = cut[:-1]
    return cut


def report_path(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.stem + REPORT_SUFFIX)


def file_zip(
    zip_path: Path, inbox: str | Path, outcome: SyncResult | AlreadyApplied | BaseException
) -> Filed:
    """Move the zip to where its verdict sends it and write its issue report beside it."""
    found = verdict(zip_path.name, outcome)
    if found.folder is None:
        return Filed(zip_path.name, found.outcome, None, None, found.message, zip_path, report=None)
    folder = Path(inbox) / found.folder
    try:
        folder.mkdir(exist_ok=True)
        moved = free_path(folder, zip_path.name)
        # the move first: a zip left in the inbox would be synced again, a missing report
        # would not
        shutil.move(zip_path, moved)
    except OSError as error:
        return _unfiled(zip_path, found, error)
    report: Path | None = report_path(moved)
    message = found.message
    try:
        write_report(found.issues, report)
    except OSError as error:
        report = None
        message = f"{message}; " if message else ""
        message += f"its report {report_path(moved).name} cannot be written ({error_text(error)})"
    return Filed(zip_path.name, found.outcome, found.tenant, found.run_id, message, moved, report)


# a zip that left the inbox before the scan came to it, or before it was filed (a person moved
# it out, as docs/how-to/schedule.md says to leave a zip unsynced): not a zip that waits
GONE = "gone"
GONE_BEFORE_SYNC = (
    "left the inbox before its sync (moved or deleted): not synced; its tenant's later zips "
    "are synced"
)


def gone(zip_path: Path, tenant: str | None) -> Filed:
    return Filed(zip_path.name, GONE, tenant, None, GONE_BEFORE_SYNC, zip_path, report=None)


def _unfiled(zip_path: Path, found: Verdict, error: OSError) -> Filed:
    """The zip left in the inbox, its verdict reached, because its folder would not take it
    (`processed/` made by another account, say). Raised, the error ended the scan, every
    other tenant's zip untried at every scan after it, in words that said nothing was
    written where the zip's run was applied. It waits now, its tenant's later zips behind
    it as behind any zip that waits (a tenant's exports are taken in order), and the scan
    fails so that someone looks."""
    run = f" (run {found.run_id})" if found.run_id else ""
    if isinstance(error, FileNotFoundError) and not zip_path.exists():
        if found.outcome == "unreadable":  # (unread for being gone)
            return gone(zip_path, found.tenant)
        message = f"{found.message}; " if found.message else ""
        message += "the zip left the inbox before it was filed (moved or deleted): no report"
        return Filed(
            zip_path.name, found.outcome, found.tenant, found.run_id, message, zip_path, None
        )
    again = (
        "files it without syncing it again"
        if found.outcome in ("applied", "duplicate")
        else "syncs it again"
    )
    message = (
        f"{found.outcome}{run}, but it cannot be moved to {found.folder}/ ({error_text(error)}): "
        f"it stays in the inbox, with its tenant's later zips, and the next scan {again}"
    )
    return Filed(
        zip_path.name, "waiting", found.tenant, found.run_id, message, zip_path, report=None
    )


class ZipsWaiting(Exception):
    """Some zips stayed in the inbox for a reason that is not theirs; the run fails."""

    def __init__(self, filed: list[Filed]) -> None:
        waiting = [f for f in filed if f.outcome == "waiting"]
        super().__init__(
            f"{len(waiting)} zip(s) left in the inbox for the next scan: "
            + "; ".join(f"{f.name}: {f.message}" for f in waiting)
        )
        self.filed = filed


# --- the scan --------------------------------------------------------------------------------


def check_settings(config: str | None) -> Settings:
    """The settings file (or the defaults): bad settings stop the scan before any zip moves."""
    return load_settings(config)


def _ignore(_line: str) -> None:
    pass


def one_after_another(chains: list[list[Path]], work: Callable[[Path], Filed]) -> list[Filed]:
    return [work(zip_path) for chain in chains for zip_path in chain]


@dataclass(frozen=True)
class ScanSteps:
    """The functions a scan chains. `sync(feed, warehouse, config, tenant)` returns the run's
    result (tenant None: the feed's default),
    or the exception it failed with: one bad zip must not stop the others. `run_chains` runs
    each tenant's zips in order, the tenants one after another or (dispatched to a work
    pool, `flows.fanout`) at the same time."""

    sync: Callable[[str, str, str | None, str | None], SyncResult | BaseException]
    check_settings: Callable[[str | None], Settings] = check_settings
    check_warehouse: Callable[[str], int] = open_warehouse_once
    find_ready_zips: Callable[[str, float], list[Path]] = ready_zips
    look_up_ledger: Callable[..., AlreadyApplied | None] = applied_run_of
    file_zip: Callable[[Path, str, SyncResult | AlreadyApplied | BaseException], Filed] = file_zip
    run_chains: Callable[[list[list[Path]], Callable[[Path], Filed]], list[Filed]] = (
        one_after_another
    )
    log: Callable[[str], None] = _ignore  # one line per zip filed


def zip_tenants(zips: list[Path], encoding: str = "utf-8") -> dict[Path, str | None]:
    """Each zip's default tenant (None: it does not open as a feed), one manifest read each."""
    return {zip_path: zip_tenant(zip_path, encoding) for zip_path in zips}


def tenant_chains(
    warehouse: str,
    zips: list[Path],
    encoding: str = "utf-8",
    tenants: Mapping[Path, str | None] | None = None,
) -> dict[str | None, list[Path]]:
    """The zips per tenant, each tenant's in arrival order (`tenants`: each zip's, when read
    already). One warehouse file serializes every sync anyway: then all zips make one chain,
    in arrival order."""
    if not is_layout(warehouse):
        return {None: zips} if zips else {}
    if tenants is None:
        tenants = zip_tenants(zips, encoding)
    chains: dict[str | None, list[Path]] = {}
    for zip_path in zips:
        tenant = tenants[zip_path]
        # one chain per tenant as text, whichever Unicode form its zips write it in: two
        # chains would run at once on a work pool, and both forms could register before
        # either saw the other (the layout refuses the second form it sees)
        key = tenant_text(tenant) if tenant is not None else None
        # an unreadable zip is a chain of its own: its sync only reports why
        chains.setdefault(key if key is not None else f"\0{zip_path.name}", []).append(zip_path)
    return chains


@contextmanager
def one_scan_at_a_time(inbox: str) -> Iterator[None]:
    """Hold the inbox folder's lock (an exclusive `flock` of the folder itself: no file of its
    own in the inbox) while the block runs, waiting while another scan holds it, for up to
    `ROSTERFLOW_LOCK_WAIT_SECONDS`: two scans would sync the same zips twice and trip over each
    other's filing (a cron scan beside the deployment's, two machines sharing the inbox). A
    folder that cannot be opened is scanned without it: the scan says what is wrong with it."""
    try:
        folder = os.open(inbox, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        while_busy(
            lambda: fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB),
            lambda error: isinstance(error, BlockingIOError),
            lambda _, waited: InboxBusy(
                f"{inbox}: another scan of this inbox has held it for {waited:g} s; this scan "
                "filed nothing (it waits up to ROSTERFLOW_LOCK_WAIT_SECONDS)"
            ),
        )
        yield
    finally:
        os.close(folder)  # (the lock goes with it)


def scan_inbox(
    steps: ScanSteps,
    inbox: str,
    warehouse: str = "rosterflow.duckdb",
    config: str | None = None,
    settle_seconds: float = SETTLE_SECONDS,
) -> list[Filed]:
    """Sync each new complete zip of the inbox, then file it, one scan at a time; raises
    ZipsWaiting when a zip had to stay in the inbox for a reason that is not its own."""
    settings = steps.check_settings(config)
    with one_scan_at_a_time(inbox):
        return _scan(steps, inbox, warehouse, config, settle_seconds, settings)


def _scan(
    steps: ScanSteps,
    inbox: str,
    warehouse: str,
    config: str | None,
    settle_seconds: float,
    settings: Settings,
) -> list[Filed]:
    steps.check_warehouse(warehouse)
    zips = steps.find_ready_zips(inbox, settle_seconds)
    layout = is_layout(warehouse)
    tenants = zip_tenants(zips, settings.feed.encoding) if layout else {}
    chains = tenant_chains(warehouse, zips, settings.feed.encoding, tenants)
    # a tenant (as text) and its zip that stays in the inbox: the tenant's later zips stay
    # behind it, as Tuesday's export applied before Monday's (synced at the next scan) would
    # leave the tenant as Monday's export has it
    waiting_for: dict[str, str] = {}

    def sync_and_file(zip_path: Path) -> Filed:
        # in a layout, the zip's own tenant names its file (None: unreadable, its sync says so)
        known = tenants[zip_path] if layout else None
        # one file holds every tenant: the ledger is asked of the zip's own tenant's runs
        owner = known if layout else zip_tenant(zip_path, settings.feed.encoding)
        key = tenant_text(owner) if owner is not None else None
        if key in waiting_for:
            entry = Filed(
                zip_path.name,
                "waiting",
                owner,
                None,
                f"not synced: {waiting_for[key]}, of the same tenant and older, stays in the "
                "inbox, and a tenant's zips are applied in the order they came",
                zip_path,
                report=None,
            )
            steps.log(entry.describe())
            return entry
        if not zip_path.exists():
            entry = gone(zip_path, owner)
            steps.log(entry.describe())
            return entry
        try:
            outcome = steps.look_up_ledger(warehouse, zip_path, owner)
        except Exception as error:
            if input_error(error, NOT_THE_FEEDS_FAULT) is None:
                raise  # (not the zip's verdict: a zip is never filed for the ledger's fault)
            # the tenant's file locked past the wait, say: this zip waits, and the other
            # tenants' zips are synced all the same rather than the scan ended here
            outcome = error
        if outcome is None:
            outcome = steps.sync(str(zip_path), warehouse, config, known)
        entry = steps.file_zip(zip_path, inbox, outcome)
        steps.log(entry.describe())
        if entry.outcome == "waiting" and key is not None:
            waiting_for.setdefault(key, zip_path.name)
        if entry.outcome == "failed" and isinstance(outcome, BaseException):
            # the report holds the error's one line; whoever fixes it needs where it was
            # raised, which a scan without Prefect kept nowhere
            log.error("%s: the sync failed", zip_path.name, exc_info=outcome)
        return entry

    filed = steps.run_chains(list(chains.values()), sync_and_file)
    if any(f.outcome == "waiting" for f in filed):
        raise ZipsWaiting(filed)
    return filed
