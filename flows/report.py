"""What a person reads after a command: issue summaries, the first issues, report files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich import box
from rich.console import Console
from rich.table import Table

from schemas.issues import ISSUE_COLUMNS
from schemas.validate import issue_summary

FIRST_ISSUES = 20
REPORT_SUFFIXES = (".csv", ".json")


def issues_table(issues: pl.DataFrame, limit: int = FIRST_ISSUES) -> Table:
    shown = min(limit, issues.height)
    table = Table(
        title=f"First {shown} of {issues.height:,} issues",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    table.add_column("severity", no_wrap=True)
    table.add_column("where", no_wrap=True)
    table.add_column("field = value", overflow="fold", max_width=40)
    table.add_column("rule: message", overflow="fold", ratio=1)
    for row in issues.head(limit).iter_rows(named=True):  # at most `limit` rows
        style = "red" if row["severity"] == "error" else "yellow"
        where = row["file"] if row["line"] is None else f"{row['file']}:{row['line']}"
        field = row["field"] or ""
        value = "" if row["value"] is None else f"'{_shorten(row['value'])}'"
        table.add_row(
            f"[{style}]{row['severity']}[/]",
            where,
            f"{field} = {value}" if field and value else field or value,
            f"[bold]{row['rule']}[/]: {row['message'] or ''}",
        )
    return table


def summary_table(issues: pl.DataFrame) -> Table:
    table = Table(
        title="Issues per file and rule", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
    )
    for column in ("file", "severity", "rule", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for row in issue_summary(issues).iter_rows(named=True):  # one row per file and rule
        style = "red" if row["severity"] == "error" else "yellow"
        table.add_row(
            row["file"], f"[{style}]{row['severity']}[/]", row["rule"], f"{row['count']:,}"
        )
    return table


def print_validation(console: Console, feed_name: str, issues: pl.DataFrame) -> None:
    errors = issues.filter(pl.col("severity") == "error").height
    warnings = issues.height - errors
    if issues.height:
        console.print(summary_table(issues))
        console.print(issues_table(issues))
    verdict = "[bold red]invalid[/]" if errors else "[bold green]valid[/]"
    console.print(f"{feed_name}: {verdict} — {errors:,} errors, {warnings:,} warnings")


def write_report(issues: pl.DataFrame, path: Path) -> None:
    """Every issue, columns as audit.issues less run_id, plus the message."""
    rows = issues.select(*ISSUE_COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        rows.write_json(path)
    else:
        rows.write_csv(path)


def _shorten(value: str | None, width: int = 40) -> str:
    if value is None:
        return ""
    value = value.replace("\r", "\\r").replace("\n", "\\n")
    return value if len(value) <= width else value[: width - 1] + "…"
