"""The `rosterflow` command line.

Heavy imports (Prefect, DuckDB) happen inside the commands that need them, so that
`rosterflow validate` and `--help` answer at once. `sync`, `demo` and `serve --once` run their
Prefect flow only when a Prefect API is configured (or `--prefect` asks for it): otherwise they
run the same steps in this process (`flows.plain`) and never import Prefect, whose import and
temporary server would take most of a small sync's time.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="rosterflow",
    help=(
        "Sync OneRoster 1.1 CSV feeds into a learning platform's DuckDB warehouse.\n\n"
        "Exit codes: 0 success, 1 the feed was rejected (errors, safety guard), "
        "2 unreadable input or a usage mistake."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

EXIT_OK, EXIT_REJECTED, EXIT_UNREADABLE = 0, 1, 2


class UsageError(Exception):
    """A mistake in how the command was called (exit 2), with the fix in its message."""


def fail(message: str, code: int = EXIT_UNREADABLE) -> typer.Exit:
    errors.print(f"[bold red]rosterflow:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


FeedArg = Annotated[
    Path, typer.Argument(help="A OneRoster 1.1 CSV feed: a .zip, or a folder with manifest.csv.")
]


@app.command()
def validate(
    feed: FeedArg,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write every issue to this .csv or .json file (file, line, field, value, rule, severity, message)."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Settings file (TOML); its [validation] section applies.")
    ] = None,
    warehouse: Annotated[
        Path | None,
        typer.Option(
            help="Resolve references of delta files, and into absent files, against this warehouse."
        ),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            help="The tenant whose records --warehouse holds (default: the manifest's source.systemCode, else the feed's name)."
        ),
    ] = None,
) -> None:
    """Check a feed and report every problem with its file, line, field and value.

    Prints a summary per file and rule and the first issues. Exit 0 when there are no errors
    (warnings allowed), 1 when there are errors, 2 when the feed cannot be read.
    """
    from rosterflow.flows.report import REPORT_SUFFIXES, print_validation, write_report
    from rosterflow.schemas.feed import FeedError, open_feed
    from rosterflow.schemas.settings import SettingsError, load_settings
    from rosterflow.schemas.validate import validate_feed

    if report is not None and report.suffix.lower() not in REPORT_SUFFIXES:
        raise fail(f"--report {report}: name a .csv or .json file")
    try:
        settings = load_settings(config)
        opened = open_feed(feed)
        known = _known_ids(warehouse, tenant or opened.default_tenant()) if warehouse else None
    except (FeedError, SettingsError, UsageError) as error:
        raise fail(str(error)) from None
    validated = validate_feed(opened, settings, known)
    print_validation(console, opened.name, validated.issues)
    if report is not None:
        write_report(validated.issues, report)
        console.print(f"all {validated.issues.height:,} issues written to {report}")
    raise typer.Exit(EXIT_OK if validated.ok else EXIT_REJECTED)


def _known_ids(warehouse: Path, tenant: str):
    from rosterflow.warehouse.layout import existing_tenant_warehouse, is_layout
    from rosterflow.warehouse.state import known_ids

    path = existing_tenant_warehouse(warehouse, tenant)
    if path is None and not is_layout(warehouse):
        raise UsageError(f"--warehouse {warehouse}: no such file")
    # a layout without the tenant's file: a tenant that has never synced holds no records
    return known_ids(path, tenant)


@app.command()
def generate(
    out: Annotated[
        Path, typer.Argument(help="Where to write: a .zip, or a folder for any other name.")
    ],
    students: Annotated[int, typer.Option(min=1, help="Number of students.")] = 1000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same district.")
    ] = 0,
    oneroster: Annotated[
        str,
        typer.Option(
            help="OneRoster version to write: 1.1, or 1.2 (roles in roles.csv; the same "
            "records, so both sync to the same lms rows)."
        ),
    ] = "1.1",
) -> None:
    """Write a realistic synthetic district as a OneRoster feed (deterministic per seed)."""
    from rosterflow.demo.district import generate_feed
    from rosterflow.schemas.v12 import as_v12
    from rosterflow.schemas.writer import write_feed

    if oneroster not in ("1.1", "1.2"):
        raise typer.BadParameter(f"{oneroster!r}: write 1.1 or 1.2", param_hint="--oneroster")
    frames = generate_feed(students, seed=seed)
    if oneroster == "1.2":
        frames = as_v12(frames)
    write_feed(
        out,
        frames,
        properties={
            "source.systemCode": f"demo-{seed}",
            "source.systemName": "rosterflow generator",
        },
        version=oneroster,
    )
    counts = ", ".join(f"{frame.height:,} {name}" for name, frame in frames.items())
    console.print(f"wrote {out}: {counts}")


# --- sync, demo, serve: the commands that sync, in a Prefect flow or in this process ---------

STEP_LABELS = {
    "load-settings": "reading the settings",
    "load-feed": "reading the feed",
    "recall": "looking for an earlier run of the same feed",
    "validate": "validating",
    "plan": "planning the changes",
    "guard": "checking the safety guard",
    "reject": "recording the rejection",
    "apply": "applying the changes",
    "hold": "holding the run for approval",
    "publish": "publishing the summary to Prefect",
    "check-settings": "reading the settings",
    "check-warehouse": "opening the warehouse",
    "find-ready-zips": "looking for complete zips",
    "look-up-ledger": "looking the zip up in audit.sync_runs",
    "file-zip": "filing the zip",
}
DEMO_FOLDER = Path("rosterflow-demo")
DEMO_STUDENTS = 2400  # four schools, two of them elementary: a student can move between them
# a SIS exports nightly or hourly; every scan is a flow run in the UI, so not every minute
DEFAULT_INTERVAL = 300.0

WarehouseOpt = Annotated[
    Path,
    typer.Option(
        help="The DuckDB warehouse file, created and migrated as needed; or a per-tenant layout such as 'wh/{tenant}.duckdb' (one file per tenant, so that tenants sync at the same time)."
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(help="Settings file (TOML): policy, hierarchy, safety, validation."),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Show tracebacks of unexpected errors, and Prefect's own log lines when running in Prefect.",
    ),
]
PrefectOpt = Annotated[
    bool | None,
    typer.Option(
        "--prefect/--no-prefect",
        envvar="ROSTERFLOW_PREFECT",
        show_default=False,
        help="Run as a Prefect flow (a flow run with its tasks and artifacts; without PREFECT_API_URL a temporary Prefect server starts first, about 10 s), or run the same steps in this process, recorded in the warehouse's audit tables only. Default: in Prefect when PREFECT_API_URL is set.",
    ),
]


def _in_prefect(choice: bool | None) -> bool:
    """Whether to run the Prefect flow: as asked, else when a Prefect API is configured."""
    if choice is not None:
        return choice
    from rosterflow.flows.prefect_config import prefect_api_configured

    return prefect_api_configured()


_console_levels: dict[logging.Handler, int] = {}  # Prefect's console handlers as configured
SILENT = logging.CRITICAL + 1


def _quiet_prefect(verbose: bool) -> None:
    """Keep Prefect's console lines (server start and stop, every task's state, the traceback
    of a feed that cannot be read) out of rosterflow's output unless --verbose: rosterflow says
    what happened in its own words. Only the console handler is silenced: the same records
    still go to the Prefect API, so flow runs and their logs stay complete in the UI. Not undone
    at the end of a command, because the temporary server logs its stop at exit."""
    import os

    import prefect  # noqa: F401  (configures Prefect's logging on first import)
    from prefect.logging.handlers import PrefectConsoleHandler
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        # the temporary server lives for one command; on the offline machines districts often
        # use, its telemetry would only log an error line into the user's terminal (the server
        # process reads this from the environment when it starts, on the first flow run)
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

    for logger in (logging.getLogger(), *_prefect_loggers()):
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                level = _console_levels.setdefault(handler, handler.level)
                handler.setLevel(level if verbose else SILENT)


def _prefect_loggers() -> list[logging.Logger]:
    return [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and name.split(".")[0] in ("prefect", "uvicorn")
    ]


def _prefect_starting() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if url:
        return f"connecting to the Prefect API at {url}"
    return "starting a temporary Prefect server (about 10 s; set PREFECT_API_URL to use yours)"


def _show_plain_logs(verbose: bool) -> None:
    """Without Prefect, --verbose shows rosterflow's own log lines (a scan's zip by zip)."""
    if not verbose:
        return
    from rich.logging import RichHandler

    logger = logging.getLogger("rosterflow")
    if not logger.handlers:
        logger.addHandler(RichHandler(console=errors, show_time=False, show_path=False))
    logger.setLevel(logging.INFO)


@contextmanager
def _progress(verbose: bool, in_prefect: bool) -> Iterator[list[str]]:
    """A spinner naming the running step; yields the steps seen so far, newest last."""
    from rosterflow.flows.progress import listening_to_steps

    steps: list[str] = []
    if in_prefect:
        _quiet_prefect(verbose)
        starting = _prefect_starting()
    else:
        _show_plain_logs(verbose)
        starting = "starting (without Prefect: the run is recorded in the warehouse)"
    with console.status(starting) as status:

        def show(step: str) -> None:
            steps.append(step)
            status.update(STEP_LABELS.get(step, step) + "…")

        with listening_to_steps(show):
            yield steps


def failure_exit(error: BaseException, step: str | None, verbose: bool) -> typer.Exit:
    """The exit for an error a flow raised (possibly wrapped by Prefect): 2 with the fix for
    the user's input or an unreachable Prefect API, 1 for a run that failed."""
    from rosterflow.flows.errors import input_error

    found = input_error(error)
    if found is not None:
        return fail(str(found))
    unreachable = _prefect_unreachable(error)
    if unreachable:
        return fail(unreachable)
    if verbose:
        errors.print_exception()
    label = STEP_LABELS.get(step or "", "starting")
    what = f"{type(error).__name__}: {error}"
    hint = "" if verbose else " (--verbose shows the traceback)"
    if step == "apply":
        message = (
            f"the sync failed while applying and was rolled back ({what}). The warehouse is "
            "as it was; the run is recorded in audit.sync_runs with outcome 'failed'"
        )
    elif step == "reject":
        message = f"recording the rejected run failed and was rolled back ({what})"
    elif step == "publish":
        message = f"the run was recorded, but publishing its summary to Prefect failed ({what})"
    else:
        message = f"the sync failed while {label} ({what}); nothing was written to the warehouse"
    return fail(message + hint, EXIT_REJECTED)


def _prefect_unreachable(error: BaseException) -> str | None:
    from rosterflow.flows.errors import error_chain

    httpx = sys.modules.get("httpx")  # not imported: no HTTP error (and no Prefect) to look for
    if httpx is None or not any(isinstance(e, httpx.TransportError) for e in error_chain(error)):
        return None
    from prefect.settings import PREFECT_API_URL

    return (
        f"cannot reach the Prefect API at {PREFECT_API_URL.value()} ({error}). Start it with "
        "`prefect server start`, or run with --no-prefect (the run is then recorded in the "
        "warehouse's audit tables only)"
    )


def _check_inputs(feed: Path | None, config: Path | None) -> None:
    """Mistakes found before Prefect starts, so the user need not wait for its server."""
    from rosterflow.schemas.settings import SettingsError, load_settings

    if feed is not None and not feed.exists():
        raise fail(f"{feed}: no such file or folder (a feed is a OneRoster .zip or folder)")
    try:
        load_settings(config)
    except SettingsError as error:
        raise fail(str(error)) from None


def _run_sync(verbose: bool, in_prefect: bool, **parameters):
    """One sync with a spinner, as a Prefect flow run or in this process (the same steps and
    parameters); errors become the command's exit."""
    if in_prefect:
        # imported before _progress quiets Prefect's console: importing a flow adds loggers
        from rosterflow.flows.sync import sync_flow as run
    with _progress(verbose, in_prefect) as steps:
        if not in_prefect:
            from rosterflow.flows.plain import (
                sync as run,  # DuckDB, Polars, pandera: under the spinner
            )
        try:
            return run(**parameters)
        except Exception as error:
            raise failure_exit(error, steps[-1] if steps else None, verbose) from None


@app.command()
def sync(
    feed: FeedArg,
    warehouse: WarehouseOpt = Path("rosterflow.duckdb"),
    tenant: Annotated[
        str | None,
        typer.Option(
            help="The tenant the feed belongs to (default: the manifest's source.systemCode, else the feed's file name)."
        ),
    ] = None,
    config: ConfigOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Plan the changes and record them in audit.changes without applying them.",
        ),
    ] = False,
    max_removal_share: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Override \\[safety] max_removal_share: reject a run that removes more than this share of the tenant's managed users or enrollments (1 turns the guard off).",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Validate and plan every record, not only those that changed since the tenant's last run (which is otherwise done whenever lms is exactly as that run left it).",
        ),
    ] = False,
    prefect: PrefectOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Sync a feed into the warehouse: validate, plan the changes, guard, apply atomically.

    Every run is recorded in the warehouse (audit.sync_runs, audit.issues, audit.changes). With PREFECT_API_URL set it runs as the Prefect flow [bold]rosterflow-sync[/] on that server (flow run, tasks, summary artifacts); without it, the same steps run in this process, without Prefect (--prefect runs the flow anyway, on a temporary local server: about 10 s more).

    Exit 0 applied (planned, with --dry-run); 1 rejected by errors or the safety guard, or failed and rolled back (the warehouse is unchanged either way); 2 unreadable feed, bad settings or unusable warehouse.
    """
    _check_inputs(feed, config)
    result = _run_sync(
        verbose,
        _in_prefect(prefect),
        feed=str(feed),
        warehouse=str(warehouse),
        tenant=tenant,
        config=None if config is None else str(config),
        dry_run=dry_run,
        max_removal_share=max_removal_share,
        full=full,
    )
    from rosterflow.flows.report import print_sync_result

    print_sync_result(console, result)
    raise typer.Exit(result.exit_code)


# --- runs, approve, discard, undo: operating on recorded runs ---------------------------------

RunArg = Annotated[
    int, typer.Argument(help="The run's id (audit.sync_runs.run_id; `rosterflow runs` lists them).")
]
ExistingWarehouseOpt = Annotated[
    Path,
    typer.Option(help="The DuckDB warehouse file, or a per-tenant layout 'wh/{tenant}.duckdb'."),
]


def _existing(warehouse: Path) -> None:
    from rosterflow.warehouse.layout import Layout, is_layout

    exists = Layout(str(warehouse)).registry.is_dir() if is_layout(warehouse) else None
    if exists is False or (exists is None and not warehouse.exists()):
        raise fail(f"--warehouse {warehouse}: no such warehouse (a sync creates it)")


@contextmanager
def _operating() -> Iterator[None]:
    """A refused operation exits 1 with its reason; an unusable warehouse exits 2."""
    from rosterflow.warehouse.operations import OperationRefused
    from rosterflow.warehouse.schema import WarehouseError

    try:
        yield
    except OperationRefused as refused:
        raise fail(f"refused: {refused}", EXIT_REJECTED) from None
    except WarehouseError as error:
        raise fail(str(error)) from None


@app.command()
def runs(
    warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb"),
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's runs.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="Show this many, newest first (0: all).")] = 20,
) -> None:
    """List runs, newest first: outcome, what became of held and undone runs, tenant, feed, changes."""
    _existing(warehouse)
    from rosterflow.flows.operations import runs as list_runs
    from rosterflow.flows.report import runs_table

    with _operating():
        found = list_runs(warehouse, tenant, limit or None)
    if found.height == 0:
        console.print(f"{warehouse}: no runs" + (f" of tenant {tenant}" if tenant else ""))
        return
    console.print(runs_table(found))


@app.command()
def catalog(
    warehouse: Annotated[
        str, typer.Option(help="The per-tenant layout, e.g. 'wh/{tenant}.duckdb'.")
    ] = "wh/{tenant}.duckdb",
) -> None:
    """Print the SQL that attaches every tenant file of a per-tenant layout read-only, with one
    view per table over them all: `rosterflow catalog > catalog.sql; duckdb -init catalog.sql`.

    It names the tenant files of the moment: write it again after a new tenant's first sync.
    """
    from rosterflow.warehouse.catalog import catalog_sql
    from rosterflow.warehouse.layout import is_layout
    from rosterflow.warehouse.schema import WarehouseError

    if not is_layout(warehouse):
        raise fail(
            f"--warehouse {warehouse}: a catalog reads a per-tenant layout, one naming {{tenant}}"
        )
    try:
        sql = catalog_sql(warehouse)
    except WarehouseError as error:
        raise fail(str(error)) from None
    sys.stdout.write(sql)


@app.command()
def approve(run: RunArg, warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb")) -> None:
    """Apply a held run's planned change set, exactly as planned, as a new run.

    Refused (exit 1) when the tenant changed since the run was planned (a run applied since, or lms rows edited by hand): sync the feed again then.
    """
    _existing(warehouse)
    from rosterflow.flows.operations import approve_run
    from rosterflow.flows.report import print_sync_result

    with _operating():
        result = approve_run(warehouse, run)
    print_sync_result(console, result)


@app.command()
def discard(run: RunArg, warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb")) -> None:
    """Drop a held run's plan; nothing else changes (exit 1 when the run is not held)."""
    _existing(warehouse)
    from rosterflow.flows.operations import discard_run

    with _operating():
        info = discard_run(warehouse, run)
    console.print(
        f"discarded held run {run} (tenant {info.tenant}, {info.feed_name}): nothing was applied",
        highlight=False,
    )


@app.command()
def undo(
    run: RunArg,
    warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb"),
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Undo even when later runs changed some of the same rows (their changes to those rows are overwritten).",
        ),
    ] = False,
) -> None:
    """Bring every lms row a run changed back to its version before that run, as a new run.

    Hand-made rows are never touched. Refused (exit 1) when a later run changed any of the same rows, unless --force. The tenant's next sync is planned in full.
    """
    _existing(warehouse)
    from rosterflow.flows.operations import undo_run
    from rosterflow.flows.report import print_sync_result

    with _operating():
        result = undo_run(warehouse, run, force)
    print_sync_result(console, result)


@app.command()
def demo(prefect: PrefectOpt = None, verbose: VerboseOpt = False) -> None:
    """Sync a generated district, change it, sync again, and print both change summaries.

    Writes everything to [bold]./rosterflow-demo/[/]: feed-1.zip (a district of 2,400 students), feed-2.zip (a week later: a student left, one moved school, a new teacher took over a class) and the warehouse rosterflow.duckdb, which stays for you to query. Running it again replaces these three files and nothing else.
    """
    from rosterflow.demo.district import generate_feed
    from rosterflow.demo.week import cast_of, describe_cast, week_later
    from rosterflow.flows.report import print_sync_result
    from rosterflow.schemas.writer import write_feed

    in_prefect = _in_prefect(prefect)
    folder = DEMO_FOLDER
    warehouse = folder / "rosterflow.duckdb"
    if folder.exists() and not folder.is_dir():
        raise fail(f"{folder} is a file; the demo needs that name for its folder")
    for name in ("feed-1.zip", "feed-2.zip", warehouse.name, warehouse.name + ".wal"):
        try:
            (folder / name).unlink(missing_ok=True)
        except OSError as error:
            raise fail(
                f"cannot replace {folder / name} ({error}); close it and run again"
            ) from None
    properties = {"source.systemCode": "demo", "source.systemName": "rosterflow demo"}
    district = generate_feed(DEMO_STUDENTS, seed=0)
    cast = cast_of(district)
    feeds = [
        write_feed(folder / "feed-1.zip", district, properties=properties),
        write_feed(folder / "feed-2.zip", week_later(district, cast), properties=properties),
    ]
    titles = [
        f"1. The first sync of a district of {DEMO_STUDENTS:,} students ({feeds[0]})",
        f"2. A week later ({feeds[1]})",
    ]
    for number, (feed, title) in enumerate(zip(feeds, titles, strict=True)):
        console.rule(title, align="left")
        if number == 1:
            for line in describe_cast(district, cast):
                console.print(f"  • {line}", highlight=False)
        result = _run_sync(
            verbose, in_prefect, feed=str(feed), warehouse=str(warehouse), tenant="demo"
        )
        print_sync_result(console, result)
        if result.exit_code:
            raise typer.Exit(result.exit_code)
    console.rule("Try it", align="left")
    console.print(
        f"The warehouse {warehouse} stays for you to query, e.g. with "
        f"[bold]duckdb {warehouse}[/] or duckdb.connect() in Python:",
        highlight=False,
    )
    for query in _demo_queries(cast):
        console.print(f"  {query}", highlight=False, soft_wrap=True)


def _demo_queries(cast) -> list[str]:
    from rosterflow.demo.week import NEW_TEACHER

    return [
        "select * from audit.changes where action = 'move';",
        "select external_id, domain_id, valid_from, valid_to, opened_run_id "
        f"from history.users where external_id = 'or--{cast.mover}' order by valid_from;",
        "select u.given_name, u.family_name, e.role, e.is_primary, e.status "
        "from lms.enrollments e join lms.users u on u.user_id = e.user_id "
        "join lms.courses c on c.course_id = e.course_id "
        f"where c.external_id = 'or--{cast.class_id}' and e.role = 'teacher';  "
        f"-- {NEW_TEACHER['givenName']} {NEW_TEACHER['familyName']}'s class",
    ]


@app.command()
def serve(
    inbox: Annotated[
        Path,
        typer.Option(
            help="The folder a SIS drops OneRoster zips into; they are filed under processed/ or rejected/ in it."
        ),
    ],
    warehouse: WarehouseOpt = Path("rosterflow.duckdb"),
    config: ConfigOpt = None,
    interval: Annotated[
        float | None,
        typer.Option(min=1.0, help=f"Scan every this many seconds (default {DEFAULT_INTERVAL:g})."),
    ] = None,
    cron: Annotated[
        str | None,
        typer.Option(help="Scan on this cron schedule instead, e.g. '*/15 * * * *'."),
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Scan the inbox once and exit, without serving a deployment (for cron and tests).",
        ),
    ] = False,
    settle: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds a zip must go unmodified before it is picked up (a SIS may still be writing it).",
        ),
    ] = 5.0,
    pool: Annotated[
        str | None,
        typer.Option(
            help="Sync each zip as a flow run of the deployment rosterflow-sync/tenants on this Prefect process work pool (created if missing), taken by workers started with `prefect worker start --pool NAME` on any machine that sees the inbox and the warehouse at the same paths. With a per-tenant --warehouse, tenants sync at the same time; a tenant's zips always one after the other."
        ),
    ] = None,
    prefect: PrefectOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Sync every new zip dropped into an inbox folder, exactly once.

    Serves the Prefect deployment [bold]rosterflow-inbox[/] that scans the inbox on a schedule (this needs a Prefect server: PREFECT_API_URL). Each complete, new *.zip is synced in its own flow run (tenant: the manifest's source.systemCode, else the file name), then moved to processed/ (applied) or rejected/ (rejected, failed or unreadable) with <name>.issues.csv beside it. A zip whose content (sha256) was applied before is filed without a second sync.

    With --once: scan one time and exit, as the Prefect flow when PREFECT_API_URL is set (or with --prefect), else in this process without Prefect (runs recorded in the warehouse's audit tables only). Exit 0 when every zip was applied (or none was waiting), 1 when any was rejected, 2 for bad settings or an unusable warehouse (the zips then stay in the inbox).
    """
    if not inbox.is_dir():
        raise fail(f"--inbox {inbox}: no such folder")
    if interval is not None and cron is not None:
        raise fail("give --interval or --cron, not both")
    if once and (interval is not None or cron is not None):
        raise fail("--once scans one time; drop --interval/--cron, or drop --once to serve")
    if not once and prefect is False:
        raise fail(
            "--no-prefect (or ROSTERFLOW_PREFECT=0): serving on a schedule is a Prefect "
            "deployment; scan with --once from cron to run without Prefect"
        )
    _check_inputs(None, config)
    parameters = {
        "inbox": str(inbox.resolve()),
        "warehouse": str(warehouse.resolve()),
        "config": None if config is None else str(config.resolve()),
        "settle_seconds": settle,
    }
    if pool is not None:
        _deploy_to_pool(pool, prefect)
        parameters["dispatch"] = True
        prefect = True
    if once:
        _scan_once(parameters, verbose, _in_prefect(prefect))
    else:
        _serve_inbox(parameters, interval, cron)


def _scan_once(parameters: dict, verbose: bool, in_prefect: bool) -> None:
    if in_prefect:
        # imported before _progress quiets Prefect's console: importing a flow adds loggers
        from rosterflow.flows.inbox_flow import inbox_flow
    with _progress(verbose, in_prefect) as steps:
        if in_prefect:
            state = inbox_flow(**parameters, return_state=True)
            outcome = state.result(raise_on_failure=False)
        else:
            outcome = _scan_plainly(parameters)
    from rosterflow.flows.inbox import ZipsWaiting

    if isinstance(outcome, ZipsWaiting):
        filed = outcome.filed
    elif isinstance(outcome, BaseException):
        raise failure_exit(outcome, steps[-1] if steps else None, verbose)
    else:
        filed = outcome
    _print_filed(filed, Path(parameters["inbox"]))
    if isinstance(outcome, ZipsWaiting):
        raise fail(str(outcome))
    rejected = [f for f in filed if f.outcome not in ("applied", "duplicate")]
    raise typer.Exit(EXIT_REJECTED if rejected else EXIT_OK)


def _scan_plainly(parameters: dict):
    """One scan in this process, as the flow's state would give it: the zips filed, or the
    error the scan stopped with (ZipsWaiting when some had to stay in the inbox)."""
    from rosterflow.flows.plain import scan

    try:
        return scan(**parameters)
    except Exception as error:
        return error


def _print_filed(filed: list, inbox: Path) -> None:
    from rich import box
    from rich.table import Table

    if not filed:
        console.print(f"{inbox}: no new complete zip", soft_wrap=True)
        return
    table = Table(title=f"{inbox}", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("zip", "outcome", "tenant", "run", "now at", "why"):
        table.add_column(column, overflow="fold")
    for entry in filed:
        style = {
            "applied": "green",
            "duplicate": "cyan",
            "held": "yellow",
            "waiting": "yellow",
        }.get(entry.outcome, "red")
        where = entry.path.relative_to(inbox) if entry.path.is_relative_to(inbox) else entry.path
        table.add_row(
            entry.name,
            f"[{style}]{entry.outcome}[/]",
            entry.tenant or "",
            "" if entry.run_id is None else str(entry.run_id),
            str(where),
            entry.message or "",
        )
    console.print(table)


def _deploy_to_pool(pool: str, prefect: bool | None) -> None:
    """The work pool and the tenant deployment on it, before any zip is sent there."""
    from prefect.settings import PREFECT_API_URL

    if prefect is False or not PREFECT_API_URL.value():
        raise fail(
            "--pool sends each sync to Prefect workers, which need a Prefect server they all "
            "reach: run `prefect server start` and set PREFECT_API_URL (for example "
            "http://127.0.0.1:4200/api) here and for every worker"
        )
    from rosterflow.flows.fanout import deploy_sync

    try:
        name = deploy_sync(pool)
    except Exception as error:
        raise fail(f"--pool {pool}: cannot create the work pool or deployment ({error})") from None
    console.print(
        f"deployment {name} on work pool {pool}: start workers with "
        f"[bold]prefect worker start --pool {pool}[/]",
        highlight=False,
    )


def _serve_inbox(parameters: dict, interval: float | None, cron: str | None) -> None:
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.runner import EntrypointType
    from prefect.settings import PREFECT_API_URL

    from rosterflow.flows.inbox_flow import inbox_flow

    if not PREFECT_API_URL.value():
        raise fail(
            "serving on a schedule needs a Prefect server: run `prefect server start` in "
            "another terminal and set PREFECT_API_URL=http://127.0.0.1:4200/api, or run "
            "`rosterflow serve --inbox DIR --once` from cron"
        )
    if cron is not None:
        try:
            CronSchedule(cron=cron)
        except ValueError as error:
            raise fail(f"--cron {cron!r} is not a cron expression ({error})") from None
    name = "inbox-" + (re.sub(r"[^a-z0-9]+", "-", Path(parameters["inbox"]).name.lower()) or "x")
    inbox_flow.serve(
        name=name.strip("-"),
        parameters=parameters,
        interval=None if cron is not None else (interval or DEFAULT_INTERVAL),
        cron=cron,
        limit=1,  # two overlapping scans would race for the same zips
        entrypoint_type=EntrypointType.MODULE_PATH,  # runs import flows.inbox from any folder
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        errors.print("rosterflow: interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
