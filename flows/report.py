"""What a person reads after a command: issue summaries, the first issues, report files.

Rich reads square brackets as markup: `[identity]` would vanish from "unknown setting
[identity] adopt_by". Every text that comes from a feed, the settings, the warehouse or the file
system (values, messages, names, paths) goes through `escape` before it reaches a table or a
line; only the styles written here are markup.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import polars as pl
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rosterflow.schemas.validate import issue_summary

if TYPE_CHECKING:  # pipeline imports DuckDB; `rosterflow validate` should not wait for it
    from rosterflow.flows.inbox import Filed
    from rosterflow.schemas.runs import SyncResult

FIRST_ISSUES = 20


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
            f"[{style}]{escape(row['severity'])}[/]",
            escape(where),
            escape(f"{field} = {value}" if field and value else field or value),
            f"[bold]{escape(row['rule'])}[/]: {escape(row['message'] or '')}",
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
            escape(row["file"]),
            f"[{style}]{escape(row['severity'])}[/]",
            escape(row["rule"]),
            f"{row['count']:,}",
        )
    return table


def print_validation(console: Console, feed_name: str, issues: pl.DataFrame) -> None:
    errors = issues.filter(pl.col("severity") == "error").height
    warnings = issues.height - errors
    if issues.height:
        console.print(summary_table(issues))
        console.print(issues_table(issues))
    verdict = "[bold red]invalid[/]" if errors else "[bold green]valid[/]"
    console.print(f"{escape(feed_name)}: {verdict} — {errors:,} errors, {warnings:,} warnings")


def _shorten(value: str | None, width: int = 40) -> str:
    if value is None:
        return ""
    value = value.replace("\r", "\\r").replace("\n", "\\n")
    return value if len(value) <= width else value[: width - 1] + "…"


# --- a sync's outcome ------------------------------------------------------------------------

VERDICT_STYLE = {
    "applied": "green",
    "planned": "cyan",
    "held": "yellow",
    "rejected": "red",
    "failed": "red",
}


def changes_table(summary: pl.DataFrame, title: str = "Changes") -> Table:
    """One row per entity and action with its count (`SyncResult.summary`)."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("entity", "action", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for row in summary.iter_rows(named=True):  # at most five entities times eight actions
        table.add_row(escape(row["entity"]), escape(row["action"]), f"{row['count']:,}")
    return table


def sync_verdict(result: SyncResult) -> str:
    """One line of markup: what happened to the feed, for a `schemas.runs.SyncResult`."""
    changes = int(result.summary["count"].sum()) if result.summary.height else 0
    style = VERDICT_STYLE.get(result.outcome, "bold")
    message = escape(result.message or "")
    head = (
        f"{escape(result.feed_name)}: [bold {style}]{escape(result.outcome)}[/] — "
        f"run {result.run_id}, tenant {escape(result.tenant)}"
    )
    if result.outcome == "applied":
        why = f" ({message})" if message else ""
        return f"{head}, {_plural(changes, 'change')}{why}"
    if result.outcome == "held":
        return f"{head}, {_plural(changes, 'change')} planned and held, nothing applied: {message}"
    if result.outcome == "planned":
        return f"{head}, {_plural(changes, 'change')} planned (dry run: nothing applied; see audit.changes)"
    return (
        f"{head}: {message}. The warehouse is unchanged; the issues are in "
        f"audit.issues (run_id = {result.run_id})"
    )


def print_sync_result(console: Console, result: SyncResult, title: str | None = None) -> None:
    """The change summary, the issue summary and first issues, then the verdict."""
    if result.summary.height:
        console.print(changes_table(result.summary, title or "Changes"))
    elif result.outcome != "rejected":
        console.print("no changes: the warehouse already matches the feed")
    if result.issues.height:
        console.print(summary_table(result.issues))
        console.print(issues_table(result.issues))
    if result.planning:
        console.print(escape(planning_line(result)), highlight=False, soft_wrap=True)
    console.print(sync_verdict(result), highlight=False, soft_wrap=True)


def planning_line(result: SyncResult) -> str:
    """How the run was planned: only what changed, every record (and why), or not at all."""
    note = f": {result.planning_note}" if result.planning_note else ""
    if result.planning == "incremental":
        return f"planned incrementally{note}"
    if result.planning == "full":
        return f"planned in full{note}"
    return f"nothing to plan{note}"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def runs_table(runs: pl.DataFrame) -> Table:
    """`warehouse.operations.list_runs` as a table."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in (
        "run",
        "tenant",
        "started (UTC)",
        "outcome",
        "decision",
        "feed",
        "changes",
        "why",
    ):
        table.add_column(
            column, justify="right" if column in ("run", "changes") else "left", overflow="fold"
        )
    for row in runs.iter_rows(named=True):  # one row per run shown (--limit)
        style = VERDICT_STYLE.get(row["outcome"], "bold")
        table.add_row(
            str(row["run_id"]),
            escape(row["tenant"]),
            row["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
            f"[{style}]{escape(row['outcome'])}[/]",
            escape(row["decision"] or ""),
            escape(row["feed_name"] or ""),
            f"{row['changes']:,}",
            escape(_shorten(row["message"], 80)) if row["message"] else "",
        )
    return table


# --- an inbox scan ---------------------------------------------------------------------------

FILED_STYLE = {"applied": "green", "duplicate": "cyan", "held": "yellow", "waiting": "yellow"}


def filed_table(filed: list[Filed], inbox: Path) -> Table:
    """One row per zip a scan looked at: what became of it and where it is now."""
    table = Table(
        title=escape(str(inbox)), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
    )
    for column in ("zip", "outcome", "tenant", "run", "now at", "why"):
        table.add_column(column, overflow="fold")
    for entry in filed:  # one row per zip of one scan
        style = FILED_STYLE.get(entry.outcome, "red")
        where = entry.path.relative_to(inbox) if entry.path.is_relative_to(inbox) else entry.path
        table.add_row(
            escape(entry.name),
            f"[{style}]{escape(entry.outcome)}[/]",
            escape(entry.tenant or ""),
            "" if entry.run_id is None else str(entry.run_id),
            escape(str(where)),
            escape(entry.message or ""),
        )
    return table


def print_filed(console: Console, filed: list[Filed], inbox: Path) -> None:
    if not filed:
        console.print(f"{escape(str(inbox))}: no new complete zip", soft_wrap=True)
        return
    console.print(filed_table(filed, inbox))


# --- a query's rows --------------------------------------------------------------------------


def rows_table(rows: pl.DataFrame, limit: int | None = None) -> Table:
    """The first `limit` rows (None: all) under their column names; NULL for a missing value."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for name, dtype in rows.schema.items():
        table.add_column(
            escape(name), justify="right" if dtype.is_numeric() else "left", overflow="fold"
        )
    shown = rows if limit is None else rows.head(limit)
    for row in shown.iter_rows():  # at most `limit` rows
        table.add_row(*(_cell(value) for value in row))
    return table


def _cell(value: object) -> str:
    """A query's value as the DuckDB CLI writes it (NULL, true, false), as markup."""
    if value is None:
        return "[dim]NULL[/]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def print_rows(console: Console, rows: pl.DataFrame, max_rows: int = 0) -> None:
    """A query's rows as a table (the first `max_rows`; 0: all), then how many there are."""
    limit = max_rows if 0 < max_rows < rows.height else None
    if rows.width:
        console.print(rows_table(rows, limit))
    count = _plural(rows.height, "row")
    if limit is not None:
        count += f" (the first {limit:,} shown: --max-rows 0 shows all, --csv prints all)"
    console.print(count, highlight=False)


def write_csv(rows: pl.DataFrame, out: TextIO) -> None:
    """A query's rows as CSV, a header line first; an empty field for NULL, true and false for
    booleans, lists and structs as JSON."""
    rows.with_columns(
        pl.struct(pl.col(name).alias("value"))
        .struct.json_encode()
        .str.json_path_match("$.value")
        .alias(name)
        for name, dtype in rows.schema.items()
        if dtype.is_nested()
    ).write_csv(out)


def query_command(sql: str, warehouse: str | Path, program: str = "rosterflow") -> str:
    """The command line that runs `sql` on `warehouse`, to paste into a shell as it is;
    `program` is how the shell finds rosterflow."""
    return (
        f"{shlex.quote(program)} query {_shell_word(sql)} --warehouse {shlex.quote(str(warehouse))}"
    )


def _shell_word(text: str) -> str:
    """`text` as one shell word: in double quotes when nothing in it means anything there
    (SQL's own quotes are single), else as shlex quotes it."""
    if re.search(r'["$`\\!]', text):
        return shlex.quote(text)
    return f'"{text}"'
