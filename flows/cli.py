"""The `rosterflow` command line.

Heavy imports (Prefect, DuckDB) happen inside the commands that need them, so that
`rosterflow validate` and `--help` answer at once.
"""

from __future__ import annotations

import sys
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
    from flows.report import REPORT_SUFFIXES, print_validation, write_report
    from schemas.feed import FeedError, open_feed
    from schemas.settings import SettingsError, load_settings
    from schemas.validate import validate_feed

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
    from warehouse.state import known_ids

    if not warehouse.exists():
        raise UsageError(f"--warehouse {warehouse}: no such file")
    return known_ids(warehouse, tenant)


@app.command()
def generate(
    out: Annotated[
        Path, typer.Argument(help="Where to write: a .zip, or a folder for any other name.")
    ],
    students: Annotated[int, typer.Option(min=1, help="Number of students.")] = 1000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same district.")
    ] = 0,
) -> None:
    """Write a realistic synthetic district as a OneRoster 1.1 feed (deterministic per seed)."""
    from schemas.writer import write_feed
    from transforms.generate import generate_feed

    frames = generate_feed(students, seed=seed)
    write_feed(
        out,
        frames,
        properties={
            "source.systemCode": f"demo-{seed}",
            "source.systemName": "rosterflow generator",
        },
    )
    counts = ", ".join(f"{frame.height:,} {name}" for name, frame in frames.items())
    console.print(f"wrote {out}: {counts}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        errors.print("rosterflow: interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
