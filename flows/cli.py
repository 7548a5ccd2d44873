"""The `rosterflow` command line: each command parses its arguments, calls one function, prints
what it returns and exits.

What the commands do lives beneath: `flows.commands` (runs in Prefect or in this process, the
exit code and sentence for what went wrong, the warehouse opened for operations and queries),
`flows.console` (the terminal and the spinner of a run), `flows.prefect_logging` (Prefect's
console lines kept out of the output), `flows.report` (tables and verdicts), `demo` (the demo's
district and its week-later changes). Heavy imports (Prefect, DuckDB, Polars) happen inside the
commands that need them, so that `rosterflow validate` and `--help` answer at once. `sync`,
`demo` and `serve --once` run their Prefect flow only when a Prefect API is configured (or
`--prefect` asks for it): otherwise they run the same steps in this process (`flows.plain`) and
never import Prefect, whose import and temporary server would take most of a small sync's time.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from rosterflow.flows import commands
from rosterflow.flows.commands import (
    DEFAULT_INTERVAL,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNREADABLE,
    CommandError,
)
from rosterflow.flows.console import console, errors, shown
from rosterflow.flows.interrupts import (
    ctrl_c_received,
    interrupts_noted,
    load_keeping_ctrl_c_ignored,
)
from rosterflow.flows.prefect_config import hide_userinfo_from_the_ui_url
from rosterflow.schemas.environment import EnvironmentVariableError, check_environment

__all__ = [
    "DEFAULT_INTERVAL",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_UNREADABLE",
    "app",
    "fail",
    "failure_exit",
    "main",
]


class FlagsTakeNoValue:
    """A command (or group) whose help shows a flag (`--dry-run`, `--force`, `--help`) as taking
    no value: typer shows each as `--dry-run <bool>`, and `rosterflow sync north.zip --dry-run
    true`, typed as the help reads, is a usage mistake (exit 2, "unexpected extra argument")."""

    def get_params(self, ctx: typer.Context) -> list:
        params = super().get_params(ctx)
        for param in params:  # a command's few options, --help among them
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""  # (what the help shows as the value an option takes)
        return params


class RosterflowCommand(FlagsTakeNoValue, TyperCommand):
    pass


class RosterflowGroup(FlagsTakeNoValue, TyperGroup):
    pass


app = typer.Typer(
    cls=RosterflowGroup,
    name="rosterflow",
    help=(
        "Sync OneRoster 1.1 and 1.2 CSV feeds into a learning platform's DuckDB warehouse.\n\n"
        "Exit codes: 0 success, 1 the run was rejected (errors), held (a safety guard) or failed, "
        "2 unreadable input or a usage mistake."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def print_version(asked: bool) -> None:
    """`rosterflow --version`: the version installed, as audit.sync_runs.rosterflow_version
    records it for each run, so that a warehouse refused as written by a newer rosterflow
    ("upgrade rosterflow") can be told from the one running."""
    if asked:
        from importlib.metadata import version

        console.print(f"rosterflow {version('rosterflow')}", highlight=False)
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=print_version,
            help="Print the version of rosterflow installed and exit.",
        ),
    ] = False,
) -> None:
    # (no docstring: the app's help above is the one `rosterflow --help` shows)
    pass


F = TypeVar("F", bound=Callable[..., None])


def fail(message: str, code: int = EXIT_UNREADABLE) -> typer.Exit:
    """Print `message` as the one line saying why the command stops; the exit to raise.

    The message is printed as written (`flows.console.shown`): it quotes settings tables, file
    names and values, whose square brackets rich would otherwise take for markup ("unknown
    setting [identity] ..."), and whose control characters print as escapes, on one line."""
    errors.print(f"[bold red]rosterflow:[/] {shown(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def exit_for(error: CommandError) -> typer.Exit:
    """The traceback of the unexpected error behind `error` (with --verbose), then its line."""
    cause = error.traceback
    if cause is not None:
        from rich.traceback import Traceback

        errors.print(Traceback.from_exception(type(cause), cause, cause.__traceback__))
    return fail(error.message, error.code)


def failure_exit(error: BaseException, step: str | None, verbose: bool) -> typer.Exit:
    """The exit for an error a flow raised (possibly wrapped by Prefect) in the step `step`:
    2 with the fix for the user's input or an unreachable Prefect API, 1 for a run that failed."""
    return exit_for(commands.failure(error, step, verbose))


def command(group: typer.Typer | None = None, **options) -> Callable[[F], F]:
    """`app.command` (or `group.command`, a command of a sub-app), a CommandError raised
    beneath the command ending it with its line and code. The environment's limits are
    checked first: one set to what rosterflow cannot use ends any command with exit 2."""

    def register(function: F) -> F:
        @functools.wraps(function)
        def run(*args, **kwargs) -> None:
            try:
                check_environment()
            except EnvironmentVariableError as error:
                raise fail(str(error)) from None
            try:
                function(*args, **kwargs)
            except CommandError as error:
                if not ctrl_c_received():
                    raise exit_for(error) from None
                # (its line still says what became of the run: recorded as failed, say)
                exit_for(error)
                raise KeyboardInterrupt from None
            except typer.Exit:
                if not ctrl_c_received():
                    raise
                raise KeyboardInterrupt from None
            if ctrl_c_received():  # (a Ctrl-C the command went on after, as if it had ended)
                raise KeyboardInterrupt

        settings = {"help": reflowed(function.__doc__), "cls": RosterflowCommand} | options
        (group or app).command(**settings)(run)
        return function

    return register


def reflowed(doc: str | None) -> str | None:
    """A command's docstring with each paragraph on one line: rich keeps the line breaks of a
    help text, and the terminal then wraps those lines again, breaking sentences mid-way."""
    if doc is None:
        return None
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


# Every path is taken as given (`readable=False`, not typer's default): click would refuse a
# path it cannot read in a Usage box of its own, before rosterflow names the file and why in
# its one line. A feed is taken as text, so that an empty one (a script's unset variable) is
# refused, not read as the current folder.
FeedArg = Annotated[
    str,
    typer.Argument(
        show_default=False,
        help="A OneRoster 1.1 or 1.2 CSV feed: a .zip, or a folder with manifest.csv.",
    ),
]


@command()
def validate(
    feed: FeedArg,
    report: Annotated[
        Path | None,
        typer.Option(
            readable=False,
            help="Write every issue to this .csv or .json file (file, line, field, value, rule, severity, message).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            readable=False,
            help="Settings file (TOML); its \\[validation] and \\[feed] sections apply, and \\[identity] key (an empty or shared login is an error).",
        ),
    ] = None,
    warehouse: Annotated[
        Path | None,
        typer.Option(
            readable=False,
            help="Resolve references of delta files, and into absent files, against this warehouse. A feed of the lines of the tenant's last applied run, in any order, under its settings, is answered from that run without parsing it; of a feed that changed, only the changed lines of users.csv and enrollments.csv are parsed (the tenant's stored records stand in for the others).",
        ),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(
            help="The tenant whose records --warehouse holds (default: the manifest's source.systemCode, else the feed's file name less .zip)."
        ),
    ] = None,
) -> None:
    """Check a feed and report every problem with its file, line, field and value.

    Prints a summary per file and rule and the first issues. Exit 0 when there are no errors
    (warnings allowed), 1 when there are errors, 2 when the feed cannot be read, the settings
    or --warehouse cannot be used, or the --report file cannot be written or is named as one of
    a folder feed's own files, in its folder (checked before the feed is read).
    """
    from rosterflow.flows.report import counted, print_validation
    from rosterflow.schemas.issues import REPORT_SUFFIXES, write_report

    feed_path = commands.feed_path(feed)
    commands.check_tenant(tenant)
    if report is not None and report.suffix.lower() not in REPORT_SUFFIXES:
        raise fail(f"--report {report}: name a .csv or .json file")
    if report is not None:  # before the verdict: a report that cannot be written is no verdict
        commands.refuse_a_report_into_the_feed(report, feed_path)
        commands.check_writable(report, "--report")
    name, validated = commands.validate(feed_path, config, warehouse, tenant)
    print_validation(console, name, validated.issues)
    if report is not None:
        try:
            write_report(validated.issues, report)
        except OSError as error:  # (the disk filled, or the folder went, since the check)
            raise fail(commands.cannot_write(report, "--report", error)) from None
        written = counted(validated.issues.height, "issue")
        # (on one line, however long the path: a path broken over two is copied broken)
        console.print(f"{written} written to {shown(str(report))}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_OK if validated.ok else EXIT_REJECTED)


@command()
def generate(
    out: Annotated[
        Path,
        typer.Argument(
            readable=False, help="Where to write: a .zip, or a folder for any other name."
        ),
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
    """Write a realistic synthetic district as a OneRoster feed (deterministic per seed).

    A folder written before is rewritten: the OneRoster files this feed does not have (roles.csv of a 1.2 feed written there before, say) are removed with it, any other file stays.

    Exit 0 written; 2 OUT cannot be written (a file that is neither a folder nor a .zip, a folder where a .zip is named, no permission), or --oneroster neither 1.1 nor 1.2.
    """
    from rosterflow.demo.district import write_district

    if oneroster not in ("1.1", "1.2"):
        raise typer.BadParameter(f"{oneroster!r}: write 1.1 or 1.2", param_hint="--oneroster")
    if out.suffix.lower() != ".zip" and out.exists() and not out.is_dir():
        raise fail(f"{out}: a file, not a folder; name a folder or a .zip to write the feed to")
    try:
        frames = write_district(out, students, seed=seed, version=oneroster)
    except OSError as error:
        raise fail(commands.cannot_write(out, "", error)) from None
    counts = ", ".join(f"{frame.height:,} {name}" for name, frame in frames.items())
    console.print(f"wrote {shown(str(out))}: {counts}")


# --- sync, demo, serve: the commands that sync, in a Prefect flow or in this process ---------

WarehouseOpt = Annotated[
    Path,
    typer.Option(
        readable=False,
        help="The DuckDB warehouse file, created and migrated as needed; or a per-tenant layout such as 'wh/{tenant}.duckdb' (one file per tenant, so that tenants sync at the same time).",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        readable=False,
        help="Settings file (TOML): \\[policy], \\[hierarchy], \\[safety], \\[validation], \\[identity], \\[notify], \\[feed], \\[source].",
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Show tracebacks of unexpected errors, and Prefect's own log lines when running in Prefect.",
    ),
]
# pull and grades push never run in Prefect: their --verbose shows tracebacks alone
PlainVerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show tracebacks of unexpected errors.")
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


FeedOrUrlArg = Annotated[
    str,
    typer.Argument(
        help="A OneRoster 1.1 or 1.2 CSV feed (a .zip, or a folder with manifest.csv), or the base URL of a district's OneRoster REST API (…/ims/oneroster/v1p1 or …/ims/oneroster/rostering/v1p2), pulled first."
    ),
]


@command()
def sync(
    feed: FeedOrUrlArg,
    warehouse: WarehouseOpt = Path("rosterflow.duckdb"),
    tenant: Annotated[
        str | None,
        typer.Option(
            help="The tenant the feed belongs to (default: the manifest's source.systemCode, else the feed's file name less .zip)."
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
            help="Override \\[safety] max_removal_share: hold a run that removes more than this share of the tenant's active managed users or enrollments (1 turns the guard off).",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Parse, validate and plan every record, not only those that changed since the tenant's last run (otherwise a feed's changed lines are read by themselves under that run's settings, and planned alone whenever lms is exactly as that run left it).",
        ),
    ] = False,
    prefect: PrefectOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Sync a feed into the warehouse: validate, plan the changes, guard, apply atomically.

    Every run is recorded in the warehouse (audit.sync_runs, audit.issues, audit.changes). With PREFECT_API_URL set it runs as the Prefect flow [bold]rosterflow-sync[/] on that server (flow run, tasks, summary artifacts); without it, the same steps run in this process, without Prefect (--prefect runs the flow anyway, on a temporary local server: about 10 s more).

    A URL is pulled first (as `rosterflow pull` does; --tenant names the tenant, as an API has no manifest) into a temporary folder, which is synced, and recorded in audit with the URL as its feed name. With \\[source] delta, only what changed since the tenant's last pull of the URL is asked for, between full pulls.

    Exit 0 applied (planned, with --dry-run); 1 rejected by errors, held by a safety guard, or failed and rolled back (the warehouse is unchanged either way); 2 unreadable feed or API, bad settings or unusable warehouse.
    """
    path = commands.feed_path(feed)
    commands.check_tenant(tenant)
    parameters = {
        "warehouse": str(warehouse),
        "tenant": tenant,
        "config": None if config is None else str(config),
        "dry_run": dry_run,
        "max_removal_share": max_removal_share,
        "full": full,
    }
    from rosterflow.schemas.urls import is_url

    if is_url(feed):
        result, pulled, why = commands.sync_url(
            feed, verbose, commands.in_prefect(prefect), **parameters
        )
        from rosterflow.flows.pulling import pulled_summary

        console.print(shown(pulled_summary(pulled, why)), highlight=False, soft_wrap=True)
    else:
        commands.check_inputs(path, config)
        result = commands.run_sync(
            verbose, commands.in_prefect(prefect), feed=str(path), **parameters
        )
    from rosterflow.flows.report import print_sync_result

    print_sync_result(console, result, warehouse=warehouse)
    raise typer.Exit(result.exit_code)


@command()
def pull(
    url: Annotated[
        str,
        typer.Argument(
            help="The base URL of the district's OneRoster REST API: …/ims/oneroster/v1p1 (1.1) or …/ims/oneroster/rostering/v1p2 (1.2)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Argument(
            readable=False,
            help="Where to write the feed: a .zip, or a folder for any other name. A feed folder there already keeps every file that is not a OneRoster file; a folder with files but no manifest.csv is refused.",
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            readable=False,
            help="Settings file (TOML); its \\[source] table says how to reach the API (credentials, page size, concurrency).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Ask only for records changed after this ISO 8601 time (UTC unless it says otherwise), as a delta feed."
        ),
    ] = None,
    verbose: PlainVerboseOpt = False,
) -> None:
    """Read a district's roster from its OneRoster REST API (1.1 or 1.2) and write it as a OneRoster CSV feed with its manifest.

    Reads orgs, academicSessions, courses, classes, users and enrollments, and demographics when the API offers them (with 1.2, roles.csv and userProfiles.csv from the users). Credentials: OAuth 2.0 client credentials from ROSTERFLOW_TOKEN_URL, ROSTERFLOW_CLIENT_ID and ROSTERFLOW_CLIENT_SECRET, or the \\[source] table of --config; the secret is never printed or stored.

    The feed is written once the whole roster was read. Into a feed folder written before, the new feed's files replace the last one's (a OneRoster file the new feed lacks goes), and every other file or folder there stays. No redirect is followed, nor a next link to another server than the base URL's: the credentials would go there too.

    Exit 0 written; 2 unreachable, refused, redirected or inconsistent (a total that changed during the pull, a page repeated, a sourcedId twice, a next link to another server), or not a OneRoster base URL (which takes no query or fragment), with nothing written.
    """
    from rosterflow.flows.pulling import pulled_summary

    pulled = commands.pull(url, out, config, since, verbose)
    console.print(shown(pulled_summary(pulled)), highlight=False, soft_wrap=True)
    console.print(shown(f"wrote {out}"), highlight=False, soft_wrap=True)


# --- runs, approve, discard, undo: operating on recorded runs ---------------------------------

RunArg = Annotated[
    int, typer.Argument(help="The run's id (audit.sync_runs.run_id; `rosterflow runs` lists them).")
]
ExistingWarehouseOpt = Annotated[
    Path,
    typer.Option(
        readable=False,
        help="The DuckDB warehouse file, or a per-tenant layout 'wh/{tenant}.duckdb'.",
    ),
]


@command()
def runs(
    warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb"),
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's runs.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="Show this many, newest first (0: all).")] = 20,
) -> None:
    """List runs, newest first: outcome, what became of held and undone runs, tenant, feed, changes, why.

    Where the terminal leaves the why column too little room, each run's message is a line under the table; on a terminal too narrow for the table, each run is a record, a line per column. A last line says when --limit left older runs out.

    --tenant matches the tenant as written, else the same name in another Unicode form (Montréal with its é as one character or as e and an accent). In a per-tenant layout, a tenant file that cannot be read (another process holds it past ROSTERFLOW_LOCK_WAIT_SECONDS, say) is named on stderr and the other tenants' runs are listed all the same, exit 2.
    """
    commands.check_tenant(tenant)
    with commands.operating(warehouse):
        from rosterflow.flows.operations import list_runs_read

        # one run more than shown, to tell a list cut short by --limit from a whole one
        listed = list_runs_read(warehouse, tenant, limit + 1 if limit else None)
    from rosterflow.flows.report import print_runs

    cut = bool(limit) and listed.runs.height > limit
    shown_runs = listed.runs.head(limit) if cut else listed.runs
    if shown_runs.height:
        print_runs(console, shown_runs)
        if cut:
            # runs past the limit left out without a word read as runs never recorded (a
            # district's first sync looked for after twenty later runs)
            newest = "the newest run" if limit == 1 else f"the {limit:,} newest runs"
            console.print(
                f"older runs left out, {newest} shown (--limit 0 lists every run)",
                highlight=False,
            )
    elif not listed.unread:  # (with a file unread, "no runs" would not be known)
        of_tenant = "" if tenant is None else f" of tenant {tenant}"
        if listed.tenants_with_runs:
            # a name mistyped reads as a district that never synced: say which did
            of_tenant += f" (the tenants with runs: {', '.join(listed.tenants_with_runs)})"
        console.print(shown(f"{warehouse}: no runs{of_tenant}"), highlight=False)
    if listed.unread:  # tenant files of a layout that could not be read: a line each, exit 2
        *others, last = listed.unread
        for note in others:
            fail(note)
        raise fail(last)


@command()
def catalog(
    warehouse: Annotated[
        str, typer.Option(help="The per-tenant layout, e.g. 'wh/{tenant}.duckdb'.")
    ] = "wh/{tenant}.duckdb",
) -> None:
    """Print SQL that attaches a per-tenant layout's files read-only, one view per table.

    The views read every tenant file at once: `rosterflow catalog > catalog.sql`, then
    `duckdb -init catalog.sql` where the DuckDB CLI is installed (`rosterflow query --warehouse
    'wh/{tenant}.duckdb'` reads a layout through the same catalog).

    It names the tenant files of the moment: write it again after a new tenant's first sync. A
    tenant file another process holds (its nightly sync) is attached all the same and named
    on stderr; exit 2 only when every file is held.
    """
    script = commands.catalog(warehouse)
    sys.stdout.write(script.sql)
    for note in script.held:  # (stdout goes to catalog.sql: the note to the person)
        print(f"rosterflow: note: {note}", file=sys.stderr)


def sql_beginning_with_a_comment(argument: str) -> bool:
    """Whether a query's argument is SQL that begins with a `--` comment, not an option: an
    option's name (before any `=value`) never holds a space or a line break, a comment does
    (`-- runs per tenant`, or `--runs` then a line break)."""
    name = argument.split("=", 1)[0]
    return argument.startswith("--") and argument != "--" and any(c.isspace() for c in name)


class QueryCommand(RosterflowCommand):
    """`rosterflow query`, whose SQL may begin with a `--` comment: click would take that
    argument for an unknown option ("No such option: -- runs per tenant"), so it is moved
    behind a `--`, where click takes every argument as given. The value of an option is left
    where it is, whatever it holds."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        taking_values = {
            name
            for param in self.params
            if isinstance(param, TyperOption) and not param.is_flag
            for name in param.opts
        }
        before, separator, after = _split_at_separator(args)
        kept, sql = [], []
        for position, argument in enumerate(before):  # the command line's few words
            follows_option = position > 0 and before[position - 1] in taking_values
            if not follows_option and sql_beginning_with_a_comment(argument):
                sql.append(argument)
            else:
                kept.append(argument)
        if sql:
            return super().parse_args(ctx, [*kept, "--", *sql, *after])
        return super().parse_args(ctx, [*before, *separator, *after])


def _split_at_separator(args: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The arguments before the first `--`, the `--` itself (or nothing), and those after."""
    if "--" not in args:
        return list(args), [], []
    at = args.index("--")
    return list(args[:at]), ["--"], list(args[at + 1 :])


@command(cls=QueryCommand)
def query(
    sql: Annotated[
        str,
        typer.Argument(
            help='One read-only SQL statement: select (describe, show, summarize), explain or pragma, e.g. "select * from audit.sync_runs".'
        ),
    ],
    warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb"),
    as_csv: Annotated[
        bool,
        typer.Option("--csv", help="Print every row as CSV, a header line first, not a table."),
    ] = False,
    max_rows: Annotated[
        int, typer.Option(min=0, help="Show at most this many rows in the table (0: all).")
    ] = 100,
) -> None:
    """Run one read-only SQL statement against the warehouse and print its rows as a table.

    The warehouse is opened read-only for this one statement. A per-tenant layout ('wh/{tenant}.duckdb') is queried as one warehouse, every tenant's file attached read-only with one view per table over them all (`rosterflow catalog`). The SQL may begin with a -- comment. The table shows lists, structs and maps as DuckDB writes them ([{'a': 1, 'b': NULL}]), --csv as JSON; an interval, a blob or a union as DuckDB writes it in both. On a terminal too narrow for the columns, each row prints as a record, a value per line. Exit 0 with the rows (even none), 2 for a missing warehouse or an SQL error.
    """
    from rosterflow.flows.report import print_row_batches, write_csv_batches

    # a table shows a list or struct as DuckDB writes it ([{'a': 1, 'b': NULL}]), not as
    # Python would; a CSV holds it as JSON, for a program to read. The rows are printed as
    # they are read, never all held (a table keeps the ones it shows)
    with commands.query_rows(warehouse, sql, nested_as_text=not as_csv) as rows:
        if as_csv:
            write_csv_batches(rows.schema, rows.batches, sys.stdout)
        else:
            print_row_batches(console, rows.schema, rows.batches, max_rows)


@command()
def approve(run: RunArg, warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb")) -> None:
    """Apply a held run's planned change set, exactly as planned, as a new run.

    Refused (exit 1) when the tenant changed since the run was planned (a run applied since, or lms rows edited by hand; for a run that adopts accounts made by hand or creates users, any user made by hand added, edited or deleted): sync the feed again then.
    """
    with commands.operating(warehouse):
        from rosterflow.flows.operations import approve_run

        result = approve_run(warehouse, run)
    from rosterflow.flows.report import print_sync_result

    print_sync_result(console, result)


@command()
def discard(run: RunArg, warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb")) -> None:
    """Drop a held run's plan; nothing else changes (exit 1 when the run is not held)."""
    with commands.operating(warehouse):
        from rosterflow.flows.operations import discard_run

        info = discard_run(warehouse, run)
    console.print(
        shown(
            f"discarded held run {run} (tenant {info.tenant}, {info.feed_name}): nothing was applied"
        ),
        highlight=False,
    )


@command()
def undo(
    run: RunArg,
    warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb"),
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Undo even when later runs changed some of the same rows (their changes to those rows are overwritten) or made rows pointing at rows the undo deletes (deleted with them).",
        ),
    ] = False,
) -> None:
    """Bring every lms row a run changed back to its version before that run, as a new run.

    Hand-made rows are never touched, and no managed row is left pointing at a row that is gone. Refused (exit 1) when a later run changed any of the same rows, or made rows pointing at rows the undo deletes, unless --force. The tenant's next sync is planned in full.
    """
    with commands.operating(warehouse):
        from rosterflow.flows.operations import undo_run

        result = undo_run(warehouse, run, force)
    from rosterflow.flows.report import print_sync_result

    print_sync_result(console, result)


@command()
def demo(prefect: PrefectOpt = None, verbose: VerboseOpt = False) -> None:
    """Sync a generated district, change it, sync again, and print both change summaries.

    Writes everything to [bold]./rosterflow-demo/[/]: feed-1.zip (a district of 2,400 students), feed-2.zip (a week later: a student left, one moved school, a new teacher took over a class) and the warehouse rosterflow.duckdb, which stays for you to query. Running it again replaces these three files and nothing else.
    """
    from rosterflow.demo.scenario import DemoFolderError, write_scenario
    from rosterflow.flows.report import print_sync_result, query_command

    in_prefect = commands.in_prefect(prefect)
    try:
        scenario = write_scenario()
    except DemoFolderError as error:
        raise fail(str(error)) from None
    for step in scenario.syncs:
        console.rule(shown(step.title), align="left")
        for line in step.changes:
            console.print(f"  • {shown(line)}", highlight=False)
        result = commands.run_sync(
            verbose,
            in_prefect,
            feed=str(step.feed),
            warehouse=str(scenario.warehouse),
            tenant=scenario.tenant,
        )
        print_sync_result(console, result)
        if result.exit_code:
            raise typer.Exit(result.exit_code)
    console.rule("Try it", align="left")
    console.print(
        f"The warehouse {shown(str(scenario.warehouse))} stays for you to query, read-only "
        "with [bold]rosterflow query[/], or with duckdb.connect() in Python:",
        highlight=False,
    )
    program = invoked_as()
    for hint in scenario.queries:
        console.print(f"  # {shown(hint.about)}", highlight=False, soft_wrap=True)
        command_line = query_command(hint.sql, scenario.warehouse, program)
        console.print(f"  {shown(command_line)}", highlight=False, soft_wrap=True)


def invoked_as() -> str:
    """How to call rosterflow again from this shell: `rosterflow` when that name finds this
    very program, else the path it was called by (`.venv/bin/rosterflow`, a venv not active)."""
    called = sys.argv[0]
    if Path(called).name != "rosterflow":  # run as `python -m ...` or inside a test runner
        return "rosterflow"
    found = shutil.which("rosterflow")
    if found is not None and Path(found).resolve() == Path(called).resolve():
        return "rosterflow"
    return called


def check_cron(cron: str) -> None:
    """Refuse a `--cron` that is no cron expression, in one line (not pydantic's text)."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except ValueError:  # pydantic's ValidationError is one
        raise fail(
            f"--cron {cron!r} is not a cron expression; give five fields, minute hour "
            "day-of-month month day-of-week, such as '*/15 * * * *' (every 15 minutes) or "
            "'0 2 * * 1-5' (at 02:00 on weekdays)"
        ) from None


@contextlib.contextmanager
def prefect_reached(scheduled: bool) -> Iterator[None]:
    """A Prefect API that cannot be reached ends the command as `sync` ends it: exit 2, one line
    naming the URL (without its user:password@) and what to do instead; not a traceback."""
    from rosterflow.flows.prefect_logging import WITHOUT_PREFECT, prefect_unreachable

    try:
        yield
    except (CommandError, typer.Exit):  # the command's own ending, already in words
        raise
    except Exception as error:
        # a schedule is a Prefect deployment: without Prefect, cron scans with --once
        instead = "scan with --once --no-prefect from cron" if scheduled else WITHOUT_PREFECT
        unreachable = prefect_unreachable(error, instead)
        if unreachable is None:
            raise
        raise fail(unreachable) from None


@command()
def serve(
    inbox: Annotated[
        Path | None,
        typer.Option(
            readable=False,
            help="The folder a SIS drops OneRoster zips into; they are filed under processed/, held/ or rejected/ in it.",
        ),
    ] = None,
    sources: Annotated[
        Path | None,
        typer.Option(
            readable=False,
            help="Instead of an inbox: a TOML file listing districts' OneRoster APIs, each \\[\\[source]] with tenant, url and optionally config (its settings, \\[source] included); each is pulled and synced on every scan, as `rosterflow sync URL` does.",
        ),
    ] = None,
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

    Serves the Prefect deployment [bold]rosterflow-inbox[/] that scans the inbox on a schedule (this needs a Prefect server: PREFECT_API_URL). Each complete, new *.zip is synced in its own flow run (tenant: the manifest's source.systemCode, else the file name), then moved to processed/ (applied), held/ (held by a safety guard) or rejected/ (rejected, failed or unreadable) with <name>.issues.csv beside it. A zip whose content (sha256) was applied before is filed without a second sync.

    With --once: scan one time and exit, as the Prefect flow when PREFECT_API_URL is set (or with --prefect), else in this process without Prefect (runs recorded in the warehouse's audit tables only). Exit 0 when every zip was applied (or none was waiting), 1 when any was rejected, held or failed, 2 for bad settings, an unusable warehouse, an inbox folder that will not take a synced zip or a Prefect API that cannot be reached (the zips then stay in the inbox).

    With --sources FILE instead of an inbox: every district the file lists is pulled from its OneRoster API and synced on each scan, as `rosterflow sync URL --tenant T` does, in the Prefect deployment [bold]rosterflow-pulls[/], or once with --once (each sync a Prefect flow run when PREFECT_API_URL is set). A district whose API cannot be read is reported and the others are pulled all the same; exit 2 then, else 1 when a run was not applied, else 0.
    """
    if inbox is not None and sources is not None:
        raise fail(
            "give --inbox DIR (zips a SIS drops) or --sources FILE (districts' APIs), not both"
        )
    if inbox is None and sources is None:
        raise fail("give --inbox DIR (zips a SIS drops) or --sources FILE (districts' APIs)")
    if inbox is not None and not inbox.is_dir():
        raise fail(f"--inbox {inbox}: " + ("not a folder" if inbox.exists() else "no such folder"))
    if sources is not None and pool is not None:
        raise fail("--pool dispatches the zips of an inbox; with --sources, drop --pool")
    if sources is not None and config is not None:
        # (it was read, then dropped: a team's [safety] guards never applied to the pulls)
        raise fail(
            "--config applies to an inbox's syncs; with --sources, each [[source]] names its "
            'own settings file (config = "..."): drop --config, or name it in the sources file'
        )
    if interval is not None and cron is not None:
        raise fail("give --interval or --cron, not both")
    if once and (interval is not None or cron is not None):
        raise fail("--once scans one time; drop --interval/--cron, or drop --once to serve")
    if not once and prefect is False:
        raise fail(
            "--no-prefect (or ROSTERFLOW_PREFECT=0): serving on a schedule is a Prefect "
            "deployment; scan with --once from cron to run without Prefect"
        )
    if cron is not None:
        check_cron(cron)
    commands.check_inputs(None, config)
    with prefect_reached(scheduled=not once):
        if sources is not None:
            _serve_sources(sources, warehouse, once, interval, cron, prefect, verbose)
            return
        parameters = {
            "inbox": str(inbox.resolve()),
            "warehouse": str(warehouse.resolve()),
            "config": None if config is None else str(config.expanduser().resolve()),
            "settle_seconds": settle,
        }
        if pool is not None:
            name = commands.deploy_to_pool(pool, prefect)
            console.print(
                f"deployment {shown(name)} on work pool {shown(pool)}: start workers with "
                f"[bold]prefect worker start --pool {shown(pool)}[/]",
                highlight=False,
            )
            parameters["dispatch"] = True
            prefect = True
        if not once:
            commands.serve_inbox(parameters, interval, cron)
            return
        scan = commands.scan_once(parameters, verbose, commands.in_prefect(prefect))
    from rosterflow.flows.report import print_filed

    print_filed(console, scan.filed, Path(parameters["inbox"]), Path(parameters["warehouse"]))
    if scan.waiting is not None:
        raise fail(scan.waiting)
    raise typer.Exit(scan.exit_code)


# --- grades: the platform's gradebook, back to the SIS -------------------------------------

grades = typer.Typer(
    cls=RosterflowGroup,
    name="grades",
    help="Send the platform's gradebook (lms.line_items, lms.scores) back to the SIS as OneRoster gradebook records: a feed to upload (export), or straight to its API (push).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(grades)


@command(grades, name="export")
def grades_export(
    out: Annotated[
        Path,
        typer.Argument(
            readable=False, help="Where to write the feed: a .zip, or a folder for any other name."
        ),
    ],
    tenant: Annotated[str, typer.Option(help="The tenant whose gradebook to export.")],
    warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb"),
    oneroster: Annotated[
        str, typer.Option(help="OneRoster version to write: 1.1, or 1.2.")
    ] = "1.1",
) -> None:
    """Write the tenant's gradebook as a OneRoster gradebook feed: a manifest, categories.csv, lineItems.csv and results.csv.

    Into a folder exported to before, the OneRoster files this export does not write (the last export's results.csv, when no score is sent now) are removed; any other file stays.

    Only the line items of managed sections, and the scores of students the SIS has actively enrolled in them, within the line item's range, are sent; what is not sent is listed with its reason. The sourcedIds stay the same from one export to the next (li-<line_item_id>, res-<line_item_id>-<user_id>), so a second export updates what the first sent. The export is recorded in audit.grade_runs, and the gradebook as it found it in history.line_items and history.scores.

    Exit 0 written (whatever was left out); 2 no such warehouse or tenant, the feed cannot be written, or OUT holds a roster's files (a folder or a .zip: the export would lose them).
    """
    commands.check_tenant(tenant)
    if oneroster not in ("1.1", "1.2"):
        raise typer.BadParameter(f"{oneroster!r}: write 1.1 or 1.2", param_hint="--oneroster")
    exported = commands.export_grades(out, warehouse, tenant, oneroster)
    from rosterflow.flows.report import print_grades_export

    print_grades_export(console, exported)


@command(grades, name="push")
def grades_push(
    url: Annotated[
        str,
        typer.Argument(
            help="The base URL of the SIS's OneRoster gradebook API: …/ims/oneroster/v1p1 (1.1) or …/ims/oneroster/gradebook/v1p2 (1.2)."
        ),
    ],
    tenant: Annotated[str, typer.Option(help="The tenant whose gradebook to push.")],
    warehouse: ExistingWarehouseOpt = Path("rosterflow.duckdb"),
    config: Annotated[
        Path | None,
        typer.Option(
            readable=False,
            help="Settings file (TOML); its \\[source] table says how to reach the API (credentials, push_scopes, concurrency).",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Send every record, also those the SIS already holds as they are (after its gradebook was restored, say).",
        ),
    ] = False,
    verbose: PlainVerboseOpt = False,
) -> None:
    """Send the tenant's gradebook to the SIS's OneRoster gradebook API with PUT: categories, then line items, then results.

    The records are those an export writes (the same sourcedIds, the same exclusions, listed with their reason). Only what changed since the SIS last acknowledged it is sent: a second push with nothing changed sends nothing. A record the SIS refuses (403 locked, 409 conflict, another 4xx) is listed with its status and reason, the others are sent all the same, and a line item or result whose category or line item was not accepted is held back; the next push sends them again. Credentials and retries as for `rosterflow pull` (ROSTERFLOW_TOKEN_URL, ROSTERFLOW_CLIENT_ID, ROSTERFLOW_CLIENT_SECRET, or the \\[source] table); the token asks for the gradebook.createput scope. The push is recorded in audit.grade_runs (kind push) and audit.grade_pushes.

    Exit 0 every record sent (or none needed sending); 1 some records refused or held back; 2 the API unreachable, refusing the credentials or answering an error after the retries (what it acknowledged before is recorded), no such warehouse or tenant, not a gradebook base URL.
    """
    commands.check_tenant(tenant)
    pushed = commands.push_grades(url, warehouse, tenant, config, full, verbose)
    from rosterflow.flows.report import print_grades_push

    print_grades_push(console, pushed)
    raise typer.Exit(pushed.exit_code)


def _serve_sources(
    sources: Path,
    warehouse: Path,
    once: bool,
    interval: float | None,
    cron: str | None,
    prefect: bool | None,
    verbose: bool,
) -> None:
    """`serve --sources`: every district pulled and synced once, or on the schedule."""
    if not once:
        commands.serve_pulls(
            {"sources": str(sources.resolve()), "warehouse": str(warehouse.resolve())},
            interval,
            cron,
        )
        return
    lines, code = commands.pull_sources_once(
        sources, warehouse, verbose, commands.in_prefect(prefect)
    )
    for line in lines:
        console.print(shown(line), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


EXIT_INTERRUPTED = 130


def interrupted(error: BaseException | None) -> bool:
    """Whether `error` ends a command Ctrl-C interrupted: typer turns the KeyboardInterrupt
    into exit 130 (a SystemExit raised while handling an Exit raised from it)."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return True
        error = error.__cause__ or error.__context__
    return False


def exit_code() -> int:
    """Run the command the arguments name (as the console script does), and return its exit
    code."""
    hide_userinfo_from_the_ui_url()  # (before any command imports Prefect)
    load_keeping_ctrl_c_ignored("polars")
    try:
        with interrupts_noted():
            app()
    except KeyboardInterrupt:  # (outside a command: typer ends a command's as exit 130)
        errors.print("[bold red]rosterflow:[/] interrupted", highlight=False)
        return EXIT_INTERRUPTED
    except SystemExit as done:  # how click ends every command
        if done.code == EXIT_INTERRUPTED and interrupted(done):
            errors.print("[bold red]rosterflow:[/] interrupted", highlight=False)
            return EXIT_INTERRUPTED
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)  # as the interpreter would
        return 1
    return EXIT_OK


def main() -> None:
    """The console script. A process that never imported Prefect ends without tearing down
    its interpreter (its output flushed first): what a sync leaves is closed and durable by
    then, and the teardown only hands back memory, which the kernel takes back at once (at a
    million students the interpreter's exit took 0.37 s of a 9 s sync). Prefect's temporary
    server and log shipping need their exit handlers, so a process that ran a flow exits
    normally."""
    code = exit_code()
    if "prefect" in sys.modules:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    main()
