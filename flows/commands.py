"""What the commands do beneath their interface (`flows.cli`): a sync or an inbox scan, run as a
Prefect flow run or in this process; what stopped it, as an exit code and one sentence; the
warehouse opened for the operations on runs, for the catalog and for a query.

The CLI parses the arguments, calls one of these and prints what it returns. A `CommandError`
raised here ends the command with its sentence and exit code. Nothing here prints but the
spinner of a run (`flows.console.progress`). Heavy imports (Prefect, DuckDB, Polars) happen
inside the functions, so that `--help` and `rosterflow validate` answer at once.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from rosterflow.schemas.printable import encodes_as

if TYPE_CHECKING:
    import polars as pl

    from rosterflow.flows.inbox import Filed
    from rosterflow.schemas.runs import SyncResult
    from rosterflow.schemas.validate import ValidatedFeed
    from rosterflow.sis.pull import Pulled
    from rosterflow.warehouse.catalog import CatalogScript
    from rosterflow.warehouse.readonly import StatementRows

EXIT_OK, EXIT_REJECTED, EXIT_UNREADABLE = 0, 1, 2
# a SIS exports nightly or hourly; every scan is a flow run in the UI, so not every minute
DEFAULT_INTERVAL = 300.0
# of a served deployment's name, before the hash of its path (`served_deployment_name`)
MOST_READABLE_LETTERS = 40


class CommandError(Exception):
    """What ends a command early: the sentence the user reads and the exit code (2: fix the
    input or the call; 1: the run was refused, rejected or failed). `traceback`: the unexpected
    error behind it, whose traceback --verbose shows first."""

    def __init__(
        self, message: str, code: int = EXIT_UNREADABLE, traceback: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.traceback = traceback


# --- validate --------------------------------------------------------------------------------


def validate(
    feed: Path, config: Path | None, warehouse: Path | None, tenant: str | None
) -> tuple[str, ValidatedFeed]:
    """The feed's name and its validation under the settings `config`; with `warehouse`,
    references of delta files, and into absent files, resolve against the tenant's records,
    a feed of the lines of the tenant's last applied run is validated by its lines, and the
    logins a users.csv delta (or an absent users.csv) leaves shared with the stored users, or
    empty, are errors, as in a sync's validation (`flows.steps.with_stored_logins`)."""
    from rosterflow.flows.steps import with_stored_logins
    from rosterflow.schemas.feed import FeedError, open_feed
    from rosterflow.schemas.references import dropped_records_checked
    from rosterflow.schemas.settings import SettingsError, load_settings
    from rosterflow.schemas.validate import (
        carried_records_needed,
        validate_feed,
        with_dropped_records,
    )
    from rosterflow.warehouse.schema import WarehouseError

    try:
        settings = load_settings(config)
        opened = open_feed(
            feed, parse=warehouse is None, encoding=settings.feed.encoding, digests=False
        )
        if warehouse is None:
            return opened.name, validate_feed(opened, settings)
        tenant = tenant or opened.default_tenant()
        known = known_ids(warehouse, tenant)  # (refuses a warehouse that is no such file)
        validated = validated_by_lines(warehouse, tenant, opened, settings)
        carried = {}
        ids = functools.cache(known)  # (read when first asked for, once)
        if validated is None:
            carried = carried_records(warehouse, tenant, carried_records_needed(opened))
            validated = validate_feed(opened, settings, ids(), carried=carried)
        if dropped_records_checked(opened.modes):
            # a record a bulk file dropped that stored records of a file absent or sent as a
            # delta still name is warned of, as a sync warns of it (the stored ids are read
            # only for a file the validation did not compare with them)
            read = functools.partial(carried_records, warehouse, tenant)
            validated, carried = with_dropped_records(validated, ids, read, carried)
        # the logins the feed's users leave empty or shared with the stored ones, checked as
        # a sync's validation checks them (the stored users read once, with `carried`'s)
        validated, _ = with_stored_logins(
            validated,
            settings.identity.key,
            carried,
            functools.partial(carried_records, warehouse, tenant),
        )
        return opened.name, validated
    except (FeedError, SettingsError, WarehouseError) as error:
        raise CommandError(str(error)) from None
    except OSError as error:  # a folder feed's file that cannot be read (its permissions)
        raise CommandError(f"{error.filename or feed}: cannot be read ({error.strerror})") from None


def feed_path(feed: str) -> Path:
    """The feed argument as a path; an empty or blank one, as a script passing an unset
    variable gives, is refused (as a path it would be the current folder). A folder named as
    `.` or `..` is named by its own path, whose last part is the feed's name."""
    if not feed.strip():
        raise CommandError(
            f"feed {feed!r}: empty; name a OneRoster .zip or folder (a script's unset variable?)"
        )
    path = Path(feed)
    if path.name in ("", ".."):
        # `.` or `..` (typed in or beside the feed's folder) has no name of its own: the feed
        # would be recorded as '' or '..', and its default tenant taken from that; the
        # folder's own name is meant (made absolute by its text, so a link keeps its name)
        return Path(os.path.abspath(feed))
    return path


def check_tenant(tenant: str | None) -> None:
    """Refuse an empty or blank --tenant, as a script passing an unset variable gives: it
    would fall back to the feed's default tenant, or sync into a tenant of its own; and one
    with spaces around it, or not in UTF-8."""
    if tenant is not None and not tenant.strip():
        raise CommandError(
            f"--tenant {tenant!r}: a tenant's name cannot be empty or blank (an unset variable?)"
        )
    if tenant is not None and tenant != tenant.strip():
        # (another tenant than the one without them, its records made again: a manifest's
        # systemCode is read without them)
        raise CommandError(
            f"--tenant {tenant!r}: a tenant's name cannot start or end with spaces; "
            f"give --tenant {tenant.strip()!r}"
        )
    if not encodes_as(tenant or ""):  # (bytes of another encoding: surrogates to Python)
        raise CommandError(f"--tenant {tenant!r}: not UTF-8 text; give the tenant's name in UTF-8")


def check_writable(path: Path, option: str) -> None:
    """Refuse (exit 2) a file the command is to write once it has run, before it runs: the
    file and its missing folders are made, then removed again, so that the answer is the file
    system's own (a folder of that name, a file where a folder must be, a read-only or
    virtual file system, permissions) and a command that stops before writing leaves nothing
    behind. An existing file is opened to append, which changes nothing in it."""
    missing = [folder for folder in reversed(path.parents) if not folder.exists()]
    made: list[Path] = []
    existed = path.exists() or path.is_symlink()  # (a link stays, dangling or not)
    try:
        try:
            for folder in missing:
                folder.mkdir()
                made.append(folder)
            with path.open("a"):
                pass
        finally:
            if not existed:
                with suppress(OSError):
                    path.unlink()
            for folder in reversed(made):
                with suppress(OSError):
                    folder.rmdir()
    except OSError as error:
        raise CommandError(cannot_write(path, option, error)) from None


def refuse_a_report_into_the_feed(report: Path, feed: Path) -> None:
    """Refuse (exit 2) a --report named as one of a folder feed's own files, in its folder or
    a folder inside it (or a link to such a file): `rosterflow validate . --report users.csv`,
    typed in a district's export folder, replaced the export's users.csv by the issues found
    in it (and a report named as a file the feed lacks is read by the next validation as that
    file). Letter case aside, as a Mac's or Windows' file system takes `Users.csv` for
    `users.csv`."""
    from rosterflow.schemas.writer import FEED_FILE_NAMES

    if not feed.is_dir():
        return
    feed_files = {name.casefold() for name in FEED_FILE_NAMES}
    root = feed.resolve()
    for written in (report, report.resolve()):  # (as named, and where a link leads)
        if written.name.casefold() in feed_files and written.parent.resolve().is_relative_to(root):
            what = (
                "a file of the feed itself, which the report would replace"
                if written.exists()
                else "a OneRoster file's name, which the feed's next reading would take the "
                "report for"
            )
            raise CommandError(
                f"--report {report}: names {written.name} in the feed's folder {feed}, "
                f"{what}; write the report elsewhere, or under another name (issues.csv, say)"
            )


def cannot_write(path: Path, option: str, error: OSError) -> str:
    """The one line of a file that cannot be written (`option` names it, or "" for an
    argument), with the file system's reason."""
    named = f"{option} {path}" if option else str(path)
    return f"{named}: cannot be written ({error.strerror or error})"


def validated_by_lines(warehouse: Path, tenant: str, feed, settings):
    """The feed's validation from its lines and the tenant's last applied run, under the same
    settings: that run's issues on the lines they moved to when the feed holds the same lines
    in any order (`warehouse.runs.issues_by_lines`, nothing parsed), else from the changed
    lines of users.csv and enrollments.csv and the records stored for the others
    (`schemas.validate.validate_by_lines`). None when neither can answer: the feed is read,
    with the files it could not read by lines left to parse."""
    from rosterflow.flows.steps import StoredReader, settings_key
    from rosterflow.schemas.validate import (
        ValidatedFeed,
        files_read_by_lines,
        validate_by_lines,
    )
    from rosterflow.warehouse.layout import existing_tenant_warehouse
    from rosterflow.warehouse.runs import issues_by_lines, stored_lines
    from rosterflow.warehouse.schema import connect

    path = existing_tenant_warehouse(warehouse, tenant)
    if path is None:
        feed.read(parse_unless={}, digests=False)
        return None
    key = settings_key(settings)
    with connect(path, read_only=True) as con:
        summaries, sizes, _ = stored_lines(con, tenant, key)
        # unless the last run kept no lines, or ran under other settings (then every file is
        # parsed as it is read), the stored records are read while the files are, and the big
        # files read by lines against them in their threads
        if not summaries:
            feed.read(parse_unless={}, digests=False)
            return None
        keyed = files_read_by_lines(feed)  # (none: the feed is parsed whole as it is read)
        stored = StoredReader(con, tenant, key, settings.identity.key)
        try:
            if keyed:
                stored.start_unless_sized(feed, sizes)
            feed.read(
                parse_unless={}, lines=summaries, unparsed=keyed, digests=False, stored=stored
            )
            issues = issues_by_lines(con, tenant, key, feed.lines())
            if issues is not None:
                return ValidatedFeed(feed, {}, issues)
            return validate_by_lines(feed, settings, stored()) if keyed else None
        finally:
            # the reading the feed's lines made needless may still run on a cursor of `con`,
            # which must not close under it
            stored.close()


def known_ids(warehouse: Path, tenant: str):
    """The tenant's records in the warehouse (a file, or the tenant's file of a layout), read
    when called: a feed answered from its lines needs none."""
    from rosterflow.warehouse.layout import existing_tenant_warehouse, is_layout
    from rosterflow.warehouse.state import known_ids as tenant_ids

    path = existing_tenant_warehouse(warehouse, tenant)
    if path is None and not is_layout(warehouse):
        check_existing(warehouse)  # a file that is not there: a mistyped path, say
    # in a layout, a tenant without its file (in a layout no sync created yet, too: a
    # district checks its feed before the first sync) has never synced and holds no
    # records: the feed is validated as without a warehouse, and nothing is created
    return functools.partial(tenant_ids, path, tenant)


def carried_records(warehouse: Path, tenant: str, names: tuple[str, ...]):
    """The tenant's stored records of `names`, the files a delta's checks stand on as a sync's
    do (`schemas.validate.carried_records_needed`: a 1.2 user sent without roles.csv rows keeps
    the stored role, a delta's removal is checked against the stored records still naming it,
    a courses delta's titles against the stored ones); none when the warehouse holds no file
    of the tenant."""
    from rosterflow.warehouse.layout import existing_tenant_warehouse
    from rosterflow.warehouse.records import stored_records
    from rosterflow.warehouse.schema import connect

    path = existing_tenant_warehouse(warehouse, tenant) if names else None
    if path is None:
        return {}
    with connect(path, read_only=True) as con:
        return stored_records(con, tenant, names)


def tenant_file(warehouse: Path, tenant: str) -> Path:
    """The warehouse file that holds `tenant` (a file, or the tenant's file of a layout); a
    CommandError when there is none, or the tenant can have none (a name too long for a file
    name of the layout)."""
    from rosterflow.warehouse.layout import existing_tenant_warehouse
    from rosterflow.warehouse.schema import WarehouseError

    check_existing(warehouse)
    try:
        path = existing_tenant_warehouse(warehouse, tenant)
    except WarehouseError as error:
        raise CommandError(str(error)) from None
    if path is None:
        raise CommandError(f"--tenant {tenant}: no warehouse file of {warehouse} holds it")
    return path


# --- sync, demo, serve: runs, in a Prefect flow or in this process ---------------------------


def in_prefect(choice: bool | None) -> bool:
    """Whether to run the Prefect flow: as asked, else when a Prefect API is configured."""
    if choice is not None:
        return choice
    from rosterflow.flows.prefect_config import prefect_api_configured

    return prefect_api_configured()


def check_inputs(feed: Path | None, config: Path | None) -> None:
    """Mistakes found before Prefect starts, so the user need not wait for its server."""
    from rosterflow.schemas.settings import SettingsError, load_settings

    if feed is not None:
        try:
            feed.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise CommandError(
                f"{feed}: no such file or folder (a feed is a OneRoster .zip or folder)"
            ) from None
        except OSError as error:  # a folder above it this user may not enter, say
            raise CommandError(f"{feed}: cannot be read ({error.strerror or error})") from None
    check_settings_file(config)
    try:
        load_settings(config)
    except SettingsError as error:
        raise CommandError(str(error)) from None


def check_settings_file(config: Path | str | None) -> None:
    """Refuse (exit 2) a --config that is no file for a command that reads its settings more
    than once: a sync reads them where it runs (in its flow run, or for each zip of a scan),
    and a pipe (`--config /dev/stdin`, `<(...)`) gave its settings to the first read alone:
    the sync ran with the defaults, without a word."""
    if config is None:
        return
    path = Path(config).expanduser()
    if path.exists() and not path.is_file():
        raise CommandError(
            f"--config {config}: not a file (a pipe can be read once, and a sync reads its "
            "settings again where it runs); write the settings to a file and name it"
        )


def run_sync(verbose: bool, in_prefect: bool, **parameters) -> SyncResult:
    """One sync with a spinner, as a Prefect flow run or in this process (the same steps and
    parameters); what stops it becomes a CommandError."""
    from rosterflow.flows.console import progress
    from rosterflow.flows.progress import listening_to_records

    if in_prefect:
        # imported before `progress` quiets Prefect's console: importing a flow adds loggers
        from rosterflow.flows.sync import sync_flow as run
    recorded: list[SyncResult] = []  # the run committed, if it got that far
    dry_run = bool(parameters.get("dry_run"))
    with (
        progress(verbose, in_prefect, dry_run) as steps,
        listening_to_records(recorded.append),
    ):
        if not in_prefect:
            from rosterflow.flows.plain import (
                sync as run,  # DuckDB, Polars, pandera: under the spinner
            )
        try:
            return run(**parameters)
        except Exception as error:
            step = steps[-1] if steps else None
            raise failure(error, step, verbose, recorded[-1] if recorded else None) from None


def failure(
    error: BaseException,
    step: str | None,
    verbose: bool,
    recorded: SyncResult | None = None,
) -> CommandError:
    """What an error a flow raised (possibly wrapped by Prefect) means for the user: exit 2 with
    the fix for their input or an unreachable Prefect API, exit 1 for a run that failed. A run
    already committed (`recorded`) stays as it is whatever fails after it:
    the Prefect API gone after it is exit 1, saying so, never the advice to run it again."""
    from rosterflow.flows.console import STEP_LABELS
    from rosterflow.flows.errors import input_error
    from rosterflow.flows.prefect_logging import prefect_lost, prefect_unreachable
    from rosterflow.warehouse.schema import error_text

    found = input_error(error)
    if found is not None:
        return CommandError(str(found))
    if recorded is not None:
        lost = prefect_lost(error, recorded.run_id, recorded.outcome)
        if lost:
            return CommandError(lost, EXIT_REJECTED)
    unreachable = prefect_unreachable(error)
    if unreachable:
        return CommandError(unreachable)
    label = STEP_LABELS.get(step or "", "starting")
    what = error_text(error)
    hint = "" if verbose else " (--verbose shows the traceback)"
    if recorded is not None and step != "publish":
        # (closing the warehouse, say: the commit is in its write-ahead log)
        message = (
            f"run {recorded.run_id} is recorded in the warehouse ({recorded.outcome}, in "
            f"audit.sync_runs), but what followed it failed ({what})"
        )
    elif step == "apply":
        message = (
            f"the sync failed while applying and was rolled back ({what}). The warehouse is "
            "as it was; the run is recorded in audit.sync_runs with outcome 'failed'"
        )
    elif step in ("validate", "plan"):
        message = (
            f"the sync failed while {label} ({what}); lms is unchanged, and the run is recorded "
            "in audit.sync_runs with outcome 'failed'"
        )
    elif step == "reject":
        message = f"recording the rejected run failed and was rolled back ({what})"
    elif step == "publish":
        message = f"the run was recorded, but publishing its summary to Prefect failed ({what})"
    else:
        message = f"the sync failed while {label} ({what}); nothing was written to the warehouse"
    return CommandError(message + hint, EXIT_REJECTED, error if verbose else None)


@dataclass(frozen=True)
class Scan:
    """What one scan of the inbox did."""

    filed: list[Filed]  # every zip it looked at, and what became of it
    waiting: str | None  # why some zips stayed in the inbox for the next scan (exit 2)

    @property
    def exit_code(self) -> int:
        if self.waiting is not None:
            return EXIT_UNREADABLE
        rejected = [f for f in self.filed if f.outcome not in ("applied", "duplicate", "gone")]
        return EXIT_REJECTED if rejected else EXIT_OK


def scan_once(parameters: dict, verbose: bool, in_prefect: bool) -> Scan:
    """One scan of the inbox with a spinner, as the Prefect flow or in this process."""
    from rosterflow.flows.console import progress

    if in_prefect:
        # imported before `progress` quiets Prefect's console: importing a flow adds loggers
        from rosterflow.flows.inbox_flow import inbox_flow
    with progress(verbose, in_prefect) as steps:
        if in_prefect:
            outcome = _scan_in_prefect(inbox_flow, parameters)
        else:
            outcome = _scan_plainly(parameters)
    from rosterflow.flows.inbox import ZipsWaiting

    if isinstance(outcome, ZipsWaiting):
        return Scan(outcome.filed, str(outcome))
    if isinstance(outcome, BaseException):
        raise failure(outcome, steps[-1] if steps else None, verbose)
    return Scan(outcome, None)


def _scan_in_prefect(inbox_flow, parameters: dict):
    """One scan as the Prefect flow: the zips filed, or the error the scan stopped with. The
    flow is called, not asked for its state: a scan someone cancelled in the UI runs on to its
    end in this process (nothing stops it here), every zip filed, but its state stays
    CANCELLING, whose result Prefect does not give (`UnfinishedRun`: a traceback, exit 1);
    the call returns what the flow returned, or raises what it raised."""
    try:
        return inbox_flow(**parameters)
    except Exception as error:
        return error


def _scan_plainly(parameters: dict):
    """One scan in this process, as the flow's state would give it: the zips filed, or the
    error the scan stopped with (ZipsWaiting when some had to stay in the inbox)."""
    from rosterflow.flows.plain import scan

    try:
        return scan(**parameters)
    except Exception as error:
        return error


def deploy_to_pool(pool: str, prefect: bool | None) -> str:
    """The work pool and the tenant deployment on it, before any zip is sent there; returns
    the deployment's name."""
    from prefect.settings import PREFECT_API_URL

    if prefect is False or not PREFECT_API_URL.value():
        raise CommandError(
            "--pool sends each sync to Prefect workers, which need a Prefect server they all "
            "reach: run `prefect server start` and set PREFECT_API_URL (for example "
            "http://127.0.0.1:4200/api) here and for every worker"
        )
    from rosterflow.flows.fanout import deploy_sync
    from rosterflow.flows.prefect_logging import prefect_unreachable
    from rosterflow.schemas.urls import without_userinfo

    try:
        return deploy_sync(pool)
    except Exception as error:
        # a server that is down said "([Errno 111] Connection refused)" alone, naming no URL,
        # as every other command does; without --pool, a scan runs without Prefect
        unreachable = prefect_unreachable(
            error, "scan without --pool: `rosterflow serve --inbox DIR --once --no-prefect`"
        )
        raise CommandError(
            unreachable
            or without_userinfo(
                f"--pool {pool}: cannot create the work pool or deployment ({error})"
            )
        ) from None


def serve_inbox(parameters: dict, interval: float | None, cron: str | None) -> None:
    """Serve the inbox deployment, scanning on the schedule, until interrupted."""
    from rosterflow.flows.inbox_flow import inbox_flow

    inbox = Path(parameters["inbox"])
    # two overlapping scans would race for the same zips
    _serve(
        inbox_flow,
        served_deployment_name("inbox", inbox, inbox.resolve().name),
        parameters,
        interval,
        cron,
        "--inbox DIR",
        f"Scans the inbox {inbox.resolve()} into {parameters['warehouse']} (rosterflow serve)",
    )


def serve_pulls(parameters: dict, interval: float | None, cron: str | None) -> None:
    """Serve the deployment that pulls every district of a sources file on the schedule; the
    file and each district's settings are checked first, as `--once` does, rather than in
    every scheduled run."""
    from rosterflow.flows.pulls_flow import pulls_flow
    from rosterflow.schemas.settings import SettingsError, load_settings
    from rosterflow.schemas.sources import load_sources

    try:
        for source in load_sources(parameters["sources"]):
            load_settings(source.config)
    except SettingsError as error:
        raise CommandError(str(error)) from None

    sources = Path(parameters["sources"])
    # two overlapping scans would pull and sync the same districts at once
    _serve(
        pulls_flow,
        served_deployment_name("pulls", sources, sources.resolve().stem),
        parameters,
        interval,
        cron,
        "--sources FILE",
        f"Pulls the districts of {sources.resolve()} into {parameters['warehouse']} "
        "(rosterflow serve)",
    )


def served_deployment_name(kind: str, path: Path, readable: str) -> str:
    """The name of the deployment `serve` serves for the inbox folder or sources file `path`:
    `kind`, `readable` (the folder's name, the file's stem) in lowercase letters, digits and
    dashes, and 8 hex digits of the resolved path. Named by the folder alone, two teams on one
    Prefect server serving `/districts/a/inbox` and `/districts/b/inbox` shared one
    deployment, the second replacing the first's parameters and schedule (its inbox never
    scanned again). The same path names the same deployment at every restart (and by any
    symlink to it), so a restart updates its deployment rather than adding one."""
    letters = re.sub(r"[^a-z0-9]+", "-", readable.lower()).strip("-")
    # (cut: the hash tells paths apart, the name only has to be read in the UI)
    letters = letters[:MOST_READABLE_LETTERS].strip("-")
    digest = hashlib.sha256(os.fsencode(path.resolve())).hexdigest()[:8]
    return f"{kind}-{letters}-{digest}" if letters else f"{kind}-{digest}"


def _serve(
    flow,
    name: str,
    parameters: dict,
    interval: float | None,
    cron: str | None,
    what: str,
    description: str,
) -> None:
    """Serve `flow` as the deployment `name` on the schedule, one run at a time, until
    interrupted. Prefect prints the deployment's full name as it starts (`prefect deployment
    run 'FLOW/NAME'`); `description` says in the UI which folder or file it serves."""
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.runner import EntrypointType
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise CommandError(
            "serving on a schedule needs a Prefect server: run `prefect server start` in "
            "another terminal and set PREFECT_API_URL=http://127.0.0.1:4200/api, or run "
            f"`rosterflow serve {what} --once` from cron"
        )
    if cron is not None:
        try:
            CronSchedule(cron=cron)
        except ValueError as error:
            raise CommandError(f"--cron {cron!r} is not a cron expression ({error})") from None
    flow.serve(
        name=name,
        parameters=parameters,
        interval=None if cron is not None else (interval or DEFAULT_INTERVAL),
        cron=cron,
        limit=1,
        description=description,
        entrypoint_type=EntrypointType.MODULE_PATH,  # the installed package, from any folder
    )


# --- runs, approve, discard, undo, catalog, query: on an existing warehouse -------------------


def check_existing(warehouse: Path) -> None:
    """The warehouse file, or the layout's registry, exists: a sync created it."""
    from rosterflow.warehouse.layout import Layout, LayoutError, is_layout

    try:
        exists = Layout(str(warehouse)).registry.is_dir() if is_layout(warehouse) else None
    except LayoutError as error:  # a template it cannot use (`{Tenant}`): one line, exit 2
        raise CommandError(str(error)) from None
    if exists is False or (exists is None and not warehouse.exists()):
        raise CommandError(f"--warehouse {warehouse}: no such warehouse (a sync creates it)")


@contextmanager
def operating(warehouse: Path) -> Iterator[None]:
    """An operation on an existing warehouse: a refused operation exits 1 with its reason, an
    unusable warehouse exits 2."""
    check_existing(warehouse)
    from rosterflow.warehouse.operations import OperationRefused
    from rosterflow.warehouse.schema import WarehouseError

    try:
        yield
    except OperationRefused as refused:
        raise CommandError(f"refused: {refused}", EXIT_REJECTED) from None
    except WarehouseError as error:
        raise CommandError(str(error)) from None


def catalog(warehouse: str) -> CatalogScript:
    """The catalog's SQL for the per-tenant layout `warehouse` (`warehouse.catalog`), and a
    line per tenant file it attaches without having read it (held by another process)."""
    from rosterflow.warehouse.catalog import catalog_script
    from rosterflow.warehouse.layout import is_layout
    from rosterflow.warehouse.schema import WarehouseError

    if not is_layout(warehouse):
        raise CommandError(
            f"--warehouse {warehouse}: a catalog reads a per-tenant layout, one naming {{tenant}}"
        )
    try:
        return catalog_script(warehouse)
    except WarehouseError as error:
        raise CommandError(str(error)) from None


@contextmanager
def query_rows(warehouse: Path, sql: str, nested_as_text: bool = False) -> Iterator[StatementRows]:
    """The rows of one read-only SQL statement on the warehouse, read a batch at a time while
    the block lasts, for the command to print or write as CSV as they come: a file opened
    read-only, or every tenant file of a layout through its catalog
    (`warehouse.readonly.statement_rows`); with `nested_as_text`, lists, structs and maps as
    DuckDB writes them, for a table."""
    check_existing(warehouse)
    from rosterflow.warehouse.readonly import statement_rows
    from rosterflow.warehouse.schema import WarehouseError

    try:
        with statement_rows(warehouse, sql, nested_as_text) as rows:
            yield rows
    except WarehouseError as error:
        raise CommandError(str(error)) from None


# --- grades export: the platform's gradebook as a OneRoster feed -----------------------------


@dataclass(frozen=True)
class GradesExported:
    """What `rosterflow grades export` wrote: records sent per file, and what it did not send."""

    tenant: str
    out: Path
    version: str
    grade_run_id: int
    sent: dict[str, int]  # OneRoster file -> records written
    exclusions: pl.DataFrame  # schemas.gradebook.EXCLUSION_SCHEMA


def export_grades(out: Path, warehouse: Path, tenant: str, version: str) -> GradesExported:
    """Write the tenant's gradebook as a OneRoster `version` gradebook feed at `out` (a zip or
    a folder), then record the export (audit.grade_runs, the exclusions, history). A file
    with no records is marked absent in the manifest: an empty gradebook never tells the SIS
    to delete the grades it holds."""
    import polars as pl

    from rosterflow.schemas.writer import write_feed
    from rosterflow.transforms.gradebook import gradebook, gradebook_files
    from rosterflow.warehouse.gradebook import (
        GradesRun,
        gradebook_inputs,
        has_synced,
        record_grades_run,
    )
    from rosterflow.warehouse.runs import utc_now
    from rosterflow.warehouse.schema import WarehouseError, connect

    refuse_a_roster_folder(out)
    path = tenant_file(warehouse, tenant)
    started = utc_now()
    try:
        with connect(path, existing=True) as con:
            if not has_synced(con, tenant):
                raise CommandError(f"--tenant {tenant}: no sync was ever applied to it in {path}")
            book = gradebook(**gradebook_inputs(con, tenant))
            files = gradebook_files(book, version)
            *records, exclusions = pl.collect_all([*files.values(), book.exclusions])
            frames = dict(zip(files, records, strict=True))
            try:
                write_feed(
                    out,
                    {name: frame for name, frame in frames.items() if frame.height},
                    properties={"source.systemName": "rosterflow", "source.systemCode": tenant},
                    version=version,
                )
            except OSError as error:
                raise CommandError(f"{out}: cannot write the feed ({error})") from None
            sent = {name: frame.height for name, frame in frames.items()}
            run = GradesRun(tenant, "export", version, str(out), started, sent)
            grade_run_id = record_grades_run(con, run, exclusions)
    except WarehouseError as error:
        raise CommandError(str(error)) from None
    return GradesExported(tenant, out, version, grade_run_id, sent, exclusions)


def refuse_a_roster_folder(out: Path) -> None:
    """Refuse (exit 2) a folder or a zip holding a roster's files as a gradebook export's OUT:
    a folder holds one feed, so the export written there removed users.csv, classes.csv and
    the rest (`schemas.writer.write_feed`), and a zip is written anew, so `grades export
    north.zip`, the name of the district's roster export, replaced that roster by the
    gradebook: a district's roster lost to a mistyped path."""
    from rosterflow.schemas.gradebook import GRADEBOOK_FILES
    from rosterflow.schemas.spec import SPECS_BY_VERSION
    from rosterflow.schemas.writer import FEED_FILE_NAMES, MANIFEST_FILE

    is_zip = out.suffix.lower() == ".zip"
    if not (out.is_file() if is_zip else out.is_dir()):
        return
    gradebook = {
        spec.file_name
        for specs in SPECS_BY_VERSION.values()
        for name, spec in specs.items()
        if name in GRADEBOOK_FILES
    }
    roster_files = FEED_FILE_NAMES - gradebook - {MANIFEST_FILE}
    if is_zip:
        held = zip_member_names(out)  # (a feed zipped with its folder: `north/users.csv`)
        roster = sorted(roster_files & held)
        where = "the export, writing the zip anew, would lose"
        instead = "another .zip, or a folder"
    else:
        roster = sorted(name for name in roster_files if (out / name).exists())
        where = "a gradebook export written there would remove (a folder holds one feed)"
        instead = "an empty folder, an earlier export's folder, or a .zip"
    if roster:
        shown = ", ".join(roster[:3]) + (", ..." if len(roster) > 3 else "")
        raise CommandError(
            f"{out}: holds a roster's files ({shown}), which {where}; give {instead}"
        )


def zip_member_names(path: Path) -> set[str]:
    """The file names (without their folders) of the zip at `path`; none when it is no zip
    that can be read (then it holds no roster to keep)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return {PurePosixPath(name).name for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return set()


# --- grades push: the platform's gradebook to the SIS's gradebook API -------------------------


@dataclass(frozen=True)
class GradesPushed:
    """What `rosterflow grades push` did: records sent per file, those the SIS held already,
    those it refused or that were held back, and what was not sent at all."""

    tenant: str
    url: str
    version: str
    grade_run_id: int
    sent: dict[str, int]  # OneRoster file -> records the SIS acknowledged
    unchanged: int  # records not sent: the SIS holds them as they are
    not_accepted: pl.DataFrame  # refused or held back (schemas.gradebook.PUSH_OUTCOME_SCHEMA)
    exclusions: pl.DataFrame  # schemas.gradebook.EXCLUSION_SCHEMA

    @property
    def exit_code(self) -> int:
        return EXIT_REJECTED if self.not_accepted.height else EXIT_OK


def push_grades(
    url: str, warehouse: Path, tenant: str, config: Path | None, full: bool, verbose: bool
) -> GradesPushed:
    """PUT the tenant's gradebook to the SIS's gradebook API at `url`: what changed since the
    SIS last acknowledged it (every record with `full`), then record the push. The warehouse
    is closed while the records are sent. A push that cannot go on raises a CommandError (exit
    2), recording what the SIS acknowledged before, when it acknowledged anything."""
    import polars as pl

    from rosterflow.flows.console import progress
    from rosterflow.flows.progress import announce
    from rosterflow.flows.pushing import modified_text, plan_push, send
    from rosterflow.schemas.gradebook import JSON_KEYS
    from rosterflow.sis.endpoints import gradebook_version_of
    from rosterflow.sis.errors import SisError
    from rosterflow.sis.push import PushStopped
    from rosterflow.transforms.gradebook_push import not_accepted
    from rosterflow.warehouse.gradebook import (
        GradesRun,
        gradebook_inputs,
        has_synced,
        record_grades_run,
    )
    from rosterflow.warehouse.runs import utc_now
    from rosterflow.warehouse.schema import WarehouseError, connect

    settings = _settings(config)
    try:
        gradebook_version_of(url)
    except SisError as error:
        raise CommandError(str(error)) from None
    path = tenant_file(warehouse, tenant)
    started = utc_now()
    with progress(verbose, False):
        announce("read-gradebook")
        try:
            with connect(path, existing=True) as con:
                if not has_synced(con, tenant):
                    raise CommandError(
                        f"--tenant {tenant}: no sync was ever applied to it in {path}"
                    )
                inputs = gradebook_inputs(con, tenant)
                read = (inputs["line_items"].collect(), inputs["scores"].collect())
                plan = plan_push(con, tenant, url, inputs, full)
        except WarehouseError as error:
            raise CommandError(str(error)) from None
        announce("push")
        stopped: PushStopped | None = None
        try:
            answered = send(plan, settings.source, modified_text(started))
        except PushStopped as error:
            answered, stopped = error.answered, error
        except SisError as error:
            raise CommandError(f"{error}; nothing was sent") from None
        acknowledged = answered.filter(pl.col("outcome") == "sent")
        # a PUT the SIS may have stored without an answer is recorded all the same: the next
        # push then sends it again, whatever the platform holds by then
        unanswered = answered.filter(pl.col("outcome") == "unanswered").height
        if stopped is not None and acknowledged.height == 0 and not unanswered:
            raise CommandError(f"{stopped}; nothing was sent")
        sent = {
            name: acknowledged.filter(pl.col("entity") == key).height
            for name, key in JSON_KEYS.items()
        }
        refused = not_accepted(answered.lazy()).collect()
        run = GradesRun(
            tenant,
            "push",
            plan.version,
            plan.url,
            started,
            sent,
            outcome="failed" if stopped else "refused" if refused.height else "pushed",
            unchanged=plan.unchanged,
            refused=refused.height,
            message=None if stopped is None else str(stopped),
        )
        announce("record-push")
        try:
            with connect(path, existing=True) as con:
                grade_run_id = record_grades_run(con, run, plan.exclusions, answered, read)
        except WarehouseError as error:
            raise CommandError(
                f"{error}; the SIS acknowledged {acknowledged.height:,} records that could not "
                "be recorded: the next push sends them again"
            ) from None
    if stopped is not None:
        records = "1 record" if acknowledged.height == 1 else f"{acknowledged.height:,} records"
        unknown = (
            f", and may hold {'1 record' if unanswered == 1 else f'{unanswered:,} records'} "
            "it did not answer, recorded as unanswered"
            if unanswered
            else ""
        )
        raise CommandError(
            f"{stopped}; the push stopped: the SIS acknowledged {records} before, recorded as "
            f"sent{unknown} (grades run {grade_run_id}); the next push sends the rest"
        )
    return GradesPushed(
        tenant,
        plan.url,
        plan.version,
        grade_run_id,
        sent,
        plan.unchanged,
        refused.drop("body_hash"),
        plan.exclusions,
    )


# --- pull, sync URL: a district's OneRoster REST API -----------------------------------------


def pull(url: str, out: Path, config: Path | None, since: str | None, verbose: bool) -> Pulled:
    """Pull the roster at `url` and write it at `out` as a feed; nothing is written unless the
    whole roster was read (`flows.pulling`)."""
    from rosterflow.flows.console import progress
    from rosterflow.flows.progress import announce
    from rosterflow.flows.pulling import write_pulled

    settings = _settings(config)
    moment = _moment(since)
    with progress(verbose, False):
        pulled = _pulled(url, settings.source, moment)
        announce("write-feed")
        try:
            write_pulled(pulled, out)
        except OSError as error:
            raise CommandError(f"{out}: cannot write the feed ({error})") from None
    return pulled


def sync_url(
    url: str, verbose: bool, in_prefect: bool, **parameters
) -> tuple[SyncResult, Pulled, str]:
    """Pull `url` into a temporary folder and sync it as the tenant's feed, named by the URL in
    audit; a delta when `[source] delta` allows it (`flows.sources`). Returns the sync's
    result, the pull, and what was pulled in words."""
    from rosterflow.flows.console import progress
    from rosterflow.flows.sources import pull_choice, sync_pulled
    from rosterflow.sis.endpoints import version_of
    from rosterflow.sis.errors import SisError
    from rosterflow.warehouse.schema import WarehouseError

    tenant = parameters.get("tenant")
    if not tenant:
        raise CommandError("an API has no manifest to name the tenant by: give --tenant")
    try:
        version_of(url)  # before the warehouse is opened for the last pull
    except SisError as error:
        raise CommandError(f"{error}; nothing was written") from None
    check_settings_file(parameters.get("config"))
    settings = _settings(parameters.get("config"))
    try:
        choice = pull_choice(
            url, tenant, parameters["warehouse"], settings, bool(parameters.get("full"))
        )
    except WarehouseError as error:
        raise CommandError(str(error)) from None
    with progress(verbose, False):
        pulled = _pulled(url, settings.source, choice.since)

    def sync(**feed: object) -> SyncResult:
        return run_sync(verbose, in_prefect, **parameters | feed)

    return sync_pulled(pulled, choice.since, sync), pulled, choice.why


def _settings(config: Path | str | None):
    from rosterflow.schemas.settings import SettingsError, load_settings

    try:
        return load_settings(config)
    except SettingsError as error:
        raise CommandError(str(error)) from None


def _moment(since: str | None):
    """`--since` as a moment in UTC (a time without a zone is UTC)."""
    if since is None:
        return None
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise CommandError(
            f"--since {since!r}: give an ISO 8601 time, e.g. 2026-01-05T08:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _pulled(url: str, source, since) -> Pulled:
    """The pull, under the spinner's `pull` step; a SisError is the command's one line."""
    from rosterflow.flows.progress import announce
    from rosterflow.flows.pulling import pull_feed
    from rosterflow.sis.errors import SisError

    announce("pull")
    try:
        return pull_feed(url, source, since)
    except SisError as error:
        raise CommandError(f"{error}; nothing was written") from None


def pull_sources_once(
    sources: Path, warehouse: Path, verbose: bool, in_prefect: bool
) -> tuple[list[str], int]:
    """Each district of the sources file pulled and synced once (each sync a Prefect flow run
    when `in_prefect`): a line per district, and the exit code (`flows.sources`)."""
    from rosterflow.flows.console import progress
    from rosterflow.flows.sources import pull_sources, scan_exit_code
    from rosterflow.schemas.settings import SettingsError
    from rosterflow.schemas.sources import load_sources

    try:
        listed = load_sources(sources)
    except SettingsError as error:
        raise CommandError(str(error)) from None
    if in_prefect:
        # imported before `progress` quiets Prefect's console: importing a flow adds loggers
        from rosterflow.flows.sync import sync_flow as sync
    with progress(verbose, in_prefect):
        if not in_prefect:
            from rosterflow.flows.plain import sync
        outcomes = pull_sources(listed, str(warehouse), sync)
    from rosterflow.flows.report import decide_line

    lines = []
    for outcome in outcomes:  # one per district of the sources file
        lines.append(outcome.line())
        if outcome.run is not None and outcome.run.result.outcome == "held":
            # a scan runs from cron, in another folder than the person who decides
            held = outcome.run.result.run_id
            lines.append(f"{outcome.source.tenant}: {decide_line(held, warehouse.resolve())}")
    return lines, scan_exit_code(outcomes)
