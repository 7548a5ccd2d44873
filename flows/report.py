"""What a person reads after a command: issue summaries, the first issues, report files.

Rich reads square brackets as markup: `[identity]` would vanish from "unknown setting
[identity] adopt_by"; and a control character in a value would reach the terminal (an ESC
sequence colouring it, a vertical tab vanishing). Every text that comes from a feed, the
settings, the warehouse or the file system (values, messages, names, paths, tenants) goes
through `flows.console.shown` before it reaches a table or a line: its control characters as
escapes (`\x1b`), its brackets escaped. Only the styles written here are markup.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import polars as pl
from rich import box
from rich.console import Console, Group
from rich.measure import Measurement
from rich.table import Column, Table

from rosterflow.flows.console import shown
from rosterflow.schemas.printable import every_character_shown, printable
from rosterflow.schemas.validate import issue_summary

if TYPE_CHECKING:  # pipeline imports DuckDB; `rosterflow validate` should not wait for it
    from rosterflow.flows.commands import GradesExported, GradesPushed
    from rosterflow.flows.inbox import Filed
    from rosterflow.schemas.runs import SyncResult

FIRST_ISSUES = 20


def report_table(title: str | None = None) -> Table:
    """A table as every report prints one: a plain head rule, no edges, the title on the left."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)


def needed_width(console: Console, table: Table, whole_headers: bool = False) -> int:
    """The narrowest `table` prints in without cutting a value short: each column that never
    wraps (a run id, a time, an outcome) as wide as its widest cell or header, each other
    column one character wide (rich narrows those first, down to that) or its `min_width`,
    or with `whole_headers` as wide as its header, each with its padding, and a space between
    columns (`report_table`'s box)."""
    options = console.options
    widths = [
        max(
            Measurement.get(console, options, cell).maximum
            for cell in (column.header, *column.cells)  # the rows shown (a --limit applied)
        )
        if column.no_wrap
        else max(Measurement.get(console, options, column.header).maximum, column.min_width or 1)
        if whole_headers
        else column.min_width or 1
        for column in table.columns
    ]
    return sum(widths) + 3 * len(widths) - 1


def as_records(table: Table, width: int) -> Group:
    """`table` as one record per row, each value on a line of its own beside the column's
    name, a blank line between records: how a table reads on a console `width` wide, too
    narrow for it. The names take at most a third of the width, the values the rest, wrapped
    where they must be (never cut short). A value that prints as nothing (an empty cell) is
    left out."""
    records = Table.grid(padding=(0, 2), expand=True)
    records.add_column(style="bold", overflow="fold", max_width=max(width // 3, 8))
    records.add_column(overflow="fold", ratio=1)
    rows = zip(*(column.cells for column in table.columns), strict=True)
    for number, cells in enumerate(rows):  # the rows the table shows (its limit applied)
        if number:
            records.add_row("", "")
        for column, cell in zip(table.columns, cells, strict=True):
            if not (isinstance(cell, str) and cell == ""):
                records.add_row(column.header, cell)
    title = [] if table.title is None else [table.title]
    return Group(*title, records)


def print_table(console: Console, table: Table, whole_headers: bool = False) -> None:
    """`table` as it is, or as records (`as_records`) on a console too narrow to show its
    values (`needed_width`): rich would cut the columns that never wrap (`2026-12-06 03:28`
    for a time, `plann` for an outcome) and leave out whole columns (the run id); with
    `whole_headers`, also one too narrow for any column's name."""
    if needed_width(console, table, whole_headers) > console.width:
        console.print(as_records(table, console.width))
        return
    if whole_headers:
        keep_headers_whole(console, table)
    console.print(table)


def keep_headers_whole(console: Console, table: Table) -> None:
    """Fix the widths of `table`'s columns that wrap, where the console is narrower than the
    table would be, so that each is at least as wide as its name (and its `min_width`): rich
    narrows those columns alike, whatever their names (`sourced_id` folded into `sourced` over
    `_id` while a long message kept room to spare), and then the columns that never wrap too.
    The widest give way first, down to their names."""
    options = console.options

    def widest(column: Column) -> int:
        return max(
            Measurement.get(console, options, c).maximum for c in (column.header, *column.cells)
        )

    wrapping = [column for column in table.columns if not column.no_wrap]
    spare = console.width - (3 * len(table.columns) - 1)  # (the padding, as `needed_width`)
    spare -= sum(widest(column) for column in table.columns if column.no_wrap)
    natural = [widest(column) for column in wrapping]
    if sum(natural) <= spare:
        return  # rich narrows nothing
    least = [
        max(Measurement.get(console, options, column.header).maximum, column.min_width or 0)
        for column in wrapping
    ]

    def widths(cap: int) -> list[int]:
        return [max(name, min(width, cap)) for name, width in zip(least, natural, strict=True)]

    # the largest cap on a column's width that fits (0 fits: `needed_width` said so)
    low, high = 0, max(natural)
    while low < high:  # a binary search over at most a console's width
        middle = (low + high + 1) // 2
        low, high = (middle, high) if sum(widths(middle)) <= spare else (low, middle - 1)
    capped = widths(low)
    left = spare - sum(capped)
    for column, width, most in zip(wrapping, capped, natural, strict=True):
        column.width = width + (extra := min(left, most - width))
        left -= extra


def first_of(rows: pl.DataFrame, limit: int, what: str) -> Table:
    """A report table titled with how many of `rows` it shows: `First 20 of 1,234 issues`."""
    return report_table(f"First {min(limit, rows.height)} of {rows.height:,} {what}")


def issues_table(issues: pl.DataFrame, limit: int = FIRST_ISSUES) -> Table:
    table = first_of(issues, limit, "issues")
    table.add_column("severity", no_wrap=True)
    table.add_column("where", no_wrap=True)
    # a field's name or a value folded into columns of four or five characters (`enabl` over
    # `edUse` over `r`) is no name a reader finds again: narrower than their headings, the
    # issues print as records
    table.add_column("field = value", overflow="fold", max_width=40, min_width=13)
    table.add_column("rule: message", overflow="fold", ratio=1, min_width=13)
    for row in issues.head(limit).iter_rows(named=True):  # at most `limit` rows
        style = "red" if row["severity"] == "error" else "yellow"
        where = row["file"] if row["line"] is None else f"{row['file']}:{row['line']}"
        field = row["field"] or ""
        # (every character shown: a value's zero-width space or byte-order mark may be what
        # makes it wrong, `'student\\u200b'`, which printed as it is reads `'student'`)
        value = "" if row["value"] is None else f"'{_shorten(row['value'], every_character_shown)}'"
        table.add_row(
            f"[{style}]{shown(row['severity'])}[/]",
            shown(where),
            shown(f"{field} = {value}" if field and value else field or value),
            f"[bold]{shown(row['rule'])}[/]: {shown(row['message'] or '')}",
        )
    return table


def summary_table(issues: pl.DataFrame) -> Table:
    table = report_table("Issues per file and rule")
    for column in ("file", "severity", "rule", "count"):
        # a file's or a rule's name is looked up as it is written: cut short (`courseR…`,
        # `course_…`) it names nothing, so a console too narrow prints records instead
        table.add_column(column, justify="right" if column == "count" else "left", no_wrap=True)
    for row in issue_summary(issues).iter_rows(named=True):  # one row per file and rule
        style = "red" if row["severity"] == "error" else "yellow"
        table.add_row(
            shown(row["file"]),
            f"[{style}]{shown(row['severity'])}[/]",
            shown(row["rule"]),
            f"{row['count']:,}",
        )
    return table


def print_validation(console: Console, feed_name: str, issues: pl.DataFrame) -> None:
    errors = issues.filter(pl.col("severity") == "error").height
    warnings = issues.height - errors
    if issues.height:
        print_table(console, summary_table(issues))
        print_table(console, issues_table(issues))
    verdict = "[bold red]invalid[/]" if errors else "[bold green]valid[/]"
    console.print(
        f"{shown(feed_name)}: {verdict} — {counted(errors, 'error')}, {counted(warnings, 'warning')}"
    )


def counted(count: int, noun: str) -> str:
    """`1 error`, `2 errors`, `0 errors`: a count with its noun in the number it takes."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _shorten(
    value: str | None, as_printed: Callable[[object], str] = printable, width: int = 40
) -> str:
    """`value` as printed (its control characters as escapes), cut to `width` characters."""
    if value is None:
        return ""
    value = as_printed(value)
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
    table = report_table(title)
    for column in ("entity", "action", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for row in summary.iter_rows(named=True):  # at most five entities times eight actions
        table.add_row(shown(row["entity"]), shown(row["action"]), f"{row['count']:,}")
    return table


FIRST_ADOPTIONS = 20
# the fields of an adopted account before the run, as the adoptions table heads them: the
# external ID always, the others when any account shown had one
ADOPTED_BEFORE = {
    "external_id_before": "external ID was",
    "username_before": "username was",
    "email_before": "email was",
    "login_before": "login was",
}


def adoptions_table(adoptions: pl.DataFrame, limit: int = FIRST_ADOPTIONS) -> Table:
    """The first `limit` accounts made by hand a run adopts (`SyncResult.adoptions`): the
    record each becomes, its user_id (kept), and what it was before, so a person can check
    each match before approving."""
    first = adoptions.head(limit)
    table = report_table(
        f"Adoptions: {counted(adoptions.height, 'account')} made by hand taken over"
    )
    table.add_column("sourcedId", overflow="fold")
    table.add_column("user_id", justify="right", no_wrap=True)
    columns = [
        name
        for name in ADOPTED_BEFORE
        if name == "external_id_before" or first.get_column(name).is_not_null().any()
    ]
    for name in columns:
        table.add_column(ADOPTED_BEFORE[name], overflow="fold")
    for row in first.iter_rows(named=True):  # at most `limit` rows
        table.add_row(
            shown(row["sourcedId"] or ""),
            str(row["user_id"]),
            *(shown(_shorten(row[name])) for name in columns),
        )
    return table


def print_adoptions(console: Console, result: SyncResult, limit: int = FIRST_ADOPTIONS) -> None:
    """The run's adoptions, the first `limit` of them, and where the others are."""
    adoptions = result.adoptions
    print_table(console, adoptions_table(adoptions, limit))
    if adoptions.height > limit:
        console.print(
            f"… and {adoptions.height - limit:,} more (audit.changes, action 'adopt', run_id = "
            f"{result.run_id})",
            highlight=False,
        )


def sync_verdict(result: SyncResult) -> str:
    """One line of markup: what happened to the feed, for a `schemas.runs.SyncResult`."""
    changes = int(result.summary["count"].sum()) if result.summary.height else 0
    style = VERDICT_STYLE.get(result.outcome, "bold")
    message = shown(result.message or "")
    head = (
        f"{shown(result.feed_name)}: [bold {style}]{shown(result.outcome)}[/] — "
        f"run {result.run_id}, tenant {shown(result.tenant)}"
    )
    if result.outcome == "applied":
        why = f" ({message})" if message else ""
        return f"{head}, {_plural(changes, 'change')}{why}"
    if result.outcome == "held":
        return f"{head}, {_plural(changes, 'change')} planned and held, nothing applied: {message}"
    if result.outcome == "planned":  # its message: that it would be held and why (or recalled)
        why = f"; {message}" if message else ""
        return (
            f"{head}, {_plural(changes, 'change')} planned (dry run: nothing applied; see "
            f"audit.changes){why}"
        )
    # a run rejected by the state of lms (a managed external ID on two rows) has no issues:
    # pointing at audit.issues would send the reader to an empty table
    recorded = (
        f"the issues are in audit.issues (run_id = {result.run_id})"
        if result.issues.height
        else f"the run is in audit.sync_runs (run_id = {result.run_id})"
    )
    return f"{head}: {message}. The warehouse is unchanged; {recorded}"


# the warehouse a command reads without --warehouse
DEFAULT_WAREHOUSE = Path("rosterflow.duckdb")


def names_warehouse(warehouse: str | os.PathLike[str] | None) -> bool:
    """Whether a command suggested for a run of `warehouse` names it (`--warehouse`): every
    warehouse but the default one-file warehouse, which a command reads without it. Copied
    without it into another folder, `rosterflow undo 5` reads that folder's
    `rosterflow.duckdb`: none of a layout's runs, or another district's run 5."""
    return warehouse is not None and Path(warehouse) != DEFAULT_WAREHOUSE


def decide_line(run_id: int, warehouse: Path) -> str:
    """How to approve or discard held run `run_id` of `warehouse`, the warehouse named as the
    sync was given it (the run's message names it by its absolute path)."""
    # (here, not at the top: the notifications' mail and HTTP modules are no report's start-up)
    from rosterflow.flows.notify import decide_commands

    approve, discard = decide_commands(run_id, warehouse)
    return f"Decide: {approve}, or {discard}"


def print_sync_result(
    console: Console,
    result: SyncResult,
    title: str | None = None,
    warehouse: Path | None = None,
) -> None:
    """The change summary, the accounts adopted, the issue summary and first issues, then
    the verdict; for a run held in another `warehouse` than the default, how to decide it
    with that warehouse named (`decide_line`)."""
    if result.summary.height:
        print_table(console, changes_table(result.summary, title or "Changes"))
    elif result.outcome != "rejected":
        console.print("no changes: the warehouse already matches the feed")
    if result.adoptions.height:  # which accounts, for a person to check before approving
        print_adoptions(console, result)
    if result.issues.height:
        print_table(console, summary_table(result.issues))
        print_table(console, issues_table(result.issues))
    if result.planning:
        console.print(shown(planning_line(result)), highlight=False, soft_wrap=True)
    console.print(sync_verdict(result), highlight=False, soft_wrap=True)
    if result.outcome == "held" and names_warehouse(warehouse):
        # (on one line, however long the path: a command broken over two is copied broken)
        console.print(shown(decide_line(result.run_id, warehouse)), highlight=False, soft_wrap=True)


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


UNBROKEN_RUN_COLUMNS = ("run", "started (UTC)", "outcome", "changes")


def runs_table(runs: pl.DataFrame, why: bool = True, whole_decisions: bool = False) -> Table:
    """`warehouse.operations.list_runs` as a table; without the `why` column (each run's
    message) unless `why`. With `whole_decisions`, the decision column is at least as wide as
    its longest word, and the tenant and feed columns as their longest names of at most
    `NAME_WHOLE` characters (`print_runs` prints records where the console is narrower)."""
    table = report_table()
    # (a column no run shown has a word for takes room the others need: left out)
    decided = runs.get_column("decision").is_not_null().any()
    columns = ["run", "tenant", "started (UTC)", "outcome", "decision", "feed", "changes"]
    columns = [column for column in columns if decided or column != "decision"]
    # a decision wraps between its words, never inside one: the run id it names (`approved
    # by run 3298534883331`, 13 digits in a per-tenant layout) is copied whole, as the run
    # column's is
    decision_width = _longest_word(runs.get_column("decision")) if whole_decisions else None
    for column in [*columns, "why"] if why else columns:
        # a run id, a time, an outcome and a count never wrap: an id is copied whole, an
        # outcome cut (`applie` over `d`) is no word a reader or a grep finds, and a count cut
        # in a cron log's 80 columns (`1,14` over `0`) reads as another number; the other
        # columns give way
        table.add_column(
            column,
            justify="right" if column in ("run", "changes") else "left",
            overflow="fold",
            no_wrap=column in UNBROKEN_RUN_COLUMNS,
            min_width=decision_width if column == "decision" else None,
        )
    for row in runs.iter_rows(named=True):  # one row per run shown (--limit)
        style = VERDICT_STYLE.get(row["outcome"], "bold")
        cells = [
            str(row["run_id"]),
            shown(row["tenant"]),
            row["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
            f"[{style}]{shown(row['outcome'])}[/]",
            *([shown(row["decision"] or "")] if decided else []),
            shown(_middle(row["feed_name"], FEED_SHOWN)),
            f"{row['changes']:,}",
        ]
        table.add_row(*cells, *([_why(row["message"])] if why else []))
    if whole_decisions:
        # a tenant's or a feed's name split (`feed-2.zi` over `p`) is no name a grep of a
        # cron log finds: as wide as the longest of those of at most NAME_WHOLE characters
        # (a longer one, a pulled feed's URL, folds)
        for column in table.columns:
            if column.header in ("tenant", "feed"):
                lengths = [len(str(cell)) for cell in column.cells]
                column.min_width = max((n for n in lengths if n <= NAME_WHOLE), default=None)
    return table


def _longest_word(texts: pl.Series) -> int:
    """The characters of the longest word (between spaces) of `texts`; 1 when none has one."""
    return texts.cast(pl.String).str.split(" ").explode().str.len_chars().max() or 1


# a feed's name as the runs table shows it, at most: a URL with its delta filter is twice as
# long, and folded into a column of a cron log's 80 it ran down twenty lines
FEED_SHOWN = 48
# a tenant's or a feed's name no longer than this is never split in the runs table
NAME_WHOLE = 24


def _middle(value: str | None, width: int) -> str:
    """`value` as printed, cut in its middle to `width` characters: a feed's name keeps its
    beginning (the server, the file) and its end (a delta's date, a zip's)."""
    if value is None:
        return ""
    value = printable(value)
    if len(value) <= width:
        return value
    head = (width - 1) // 2
    return value[:head] + "…" + value[len(value) - (width - 1 - head) :]


def _why(message: str | None) -> str:
    """A run's message as the runs table shows it: its first 80 characters, as markup."""
    return shown(_shorten(message, width=80)) if message else ""


# the narrowest the runs table's `why` column reads in: in a cron log's 80 columns it got 5
# characters, each message 20 lines of broken words (`remov` over `e`)
NARROWEST_WHY = 30


def print_runs(console: Console, runs: pl.DataFrame) -> None:
    """The runs as a table (`runs_table`). Where the console leaves the `why` column too
    little room, the table goes without it and each run's message is a line under it
    (`run 41: this feed would remove ...`); on a console too narrow for even that table (its
    run ids, times, outcomes and counts whole, and the run a decision names), each run is a
    record (`print_table`)."""
    with_why = runs_table(runs, whole_decisions=True)
    without_why = runs_table(runs, why=False, whole_decisions=True)
    natural = Measurement.get(console, console.options, without_why).maximum
    # (the why column needs no more room than its longest message, shortened as it is shown)
    longest = runs.get_column("message").str.len_chars().max() or 0
    if longest == 0:  # no run shown has a message: no why column
        print_table(console, without_why, whole_headers=True)
        return
    if (
        console.width - natural - 3 >= min(NARROWEST_WHY, longest + 1)  # (a space, padding)
        or needed_width(console, without_why, whole_headers=True) > console.width  # (records)
    ):
        print_table(console, with_why, whole_headers=True)
        return
    print_table(console, without_why, whole_headers=True)
    messages = runs.filter(pl.col("message").is_not_null()).select("run_id", "message")
    for run_id, message in messages.iter_rows():  # one line per run shown (--limit)
        console.print(f"run {run_id}: {_why(message)}", highlight=False)


# --- an inbox scan ---------------------------------------------------------------------------

FILED_STYLE = {
    "applied": "green",
    "duplicate": "cyan",
    "held": "yellow",
    "waiting": "yellow",
    "gone": "dim",
}


def filed_table(filed: list[Filed], inbox: Path) -> Table:
    """One row per zip a scan looked at: what became of it and where it is now."""
    table = report_table(shown(str(inbox)))
    for column in ("zip", "outcome", "tenant", "run", "now at", "why"):
        # a run id is copied whole, and an outcome read at a glance: neither wraps
        table.add_column(column, overflow="fold", no_wrap=column in ("outcome", "run"))
    for entry in filed:  # one row per zip of one scan
        style = FILED_STYLE.get(entry.outcome, "red")
        where = entry.path.relative_to(inbox) if entry.path.is_relative_to(inbox) else entry.path
        if not entry.path.exists():  # (it left the inbox: where it went, the scan cannot say)
            where = "—"
        table.add_row(
            shown(entry.name),
            f"[{style}]{shown(entry.outcome)}[/]",
            shown(entry.tenant or ""),
            "" if entry.run_id is None else str(entry.run_id),
            shown(str(where)),
            shown(entry.message or ""),
        )
    return table


def print_filed(
    console: Console, filed: list[Filed], inbox: Path, warehouse: Path | None = None
) -> None:
    """The zips a scan filed, and for each one held, how to decide its run in `warehouse`
    (`decide_line`): a scan runs from cron, in another folder than the person deciding."""
    if not filed:
        console.print(f"{shown(str(inbox))}: no new complete zip", soft_wrap=True)
        return
    print_table(console, filed_table(filed, inbox))
    if warehouse is None:
        return
    for entry in filed:  # one line per zip held in this scan
        if entry.outcome == "held" and entry.run_id is not None:
            line = decide_line(entry.run_id, warehouse)
            console.print(shown(f"{entry.name}: {line}"), highlight=False, soft_wrap=True)


# --- a grades export -------------------------------------------------------------------------


def exclusion_summary_table(exclusions: pl.DataFrame) -> Table:
    """What was not sent, per reason: how many records, and what the reason means."""
    from rosterflow.schemas.gradebook import REASONS

    table = report_table("Not sent, per reason")
    for column in ("reason", "records", "meaning"):
        table.add_column(
            column, justify="right" if column == "records" else "left", overflow="fold"
        )
    counts = exclusions.group_by("reason").agg(pl.len().alias("records")).sort("reason")
    for reason, records in counts.iter_rows():  # one row per reason: a handful
        table.add_row(f"[yellow]{shown(reason)}[/]", f"{records:,}", shown(REASONS.get(reason, "")))
    return table


def exclusions_table(exclusions: pl.DataFrame, limit: int = FIRST_ISSUES) -> Table:
    """The first `limit` records not sent, each with why."""
    table = first_of(exclusions, limit, "records not sent")
    table.add_column("record", no_wrap=True)
    table.add_column("reason: why", overflow="fold", ratio=1)
    for row in exclusions.head(limit).iter_rows(named=True):  # at most `limit` rows
        table.add_row(
            shown(f"{row['entity']} {row['sourcedId']}"),
            f"[bold]{shown(row['reason'])}[/]: {shown(row['message'] or '')}",
        )
    return table


GRADEBOOK_NOUNS = {
    "categories": ("category", "categories"),
    "lineItems": ("line item", "line items"),
    "results": ("result", "results"),
}


def _records_per_file(sent: dict[str, int]) -> str:
    """`1 category, 3 line items, 2 results`."""
    return ", ".join(
        f"{sent[name]:,} {one if sent[name] == 1 else many}"
        for name, (one, many) in GRADEBOOK_NOUNS.items()
    )


def print_grades_export(console: Console, exported: GradesExported) -> None:
    """What an export wrote, what it did not send and why, then one line saying so."""
    if exported.exclusions.height:
        print_table(console, exclusion_summary_table(exported.exclusions))
        print_table(console, exclusions_table(exported.exclusions))
    sent = _records_per_file(exported.sent)
    console.print(
        f"{shown(str(exported.out))}: [bold green]exported[/] — grades run "
        f"{exported.grade_run_id}, tenant {shown(exported.tenant)}, OneRoster "
        f"{shown(exported.version)}: {sent}; "
        f"{_plural(exported.exclusions.height, 'record')} not sent",
        highlight=False,
        soft_wrap=True,
    )


def not_accepted_table(refused: pl.DataFrame, limit: int = FIRST_ISSUES) -> Table:
    """The first `limit` records the SIS refused or the push held back: status and reason."""
    table = first_of(refused, limit, "records the SIS did not accept")
    table.add_column("record", no_wrap=True)
    table.add_column("status", justify="right", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for row in refused.head(limit).iter_rows(named=True):  # at most `limit` rows
        status = "held" if row["status"] is None else str(row["status"])
        table.add_row(
            shown(f"{row['entity']} {row['sourcedId']}"),
            f"[red]{status}[/]",
            shown(row["reason"] or ""),
        )
    return table


def print_grades_push(console: Console, pushed: GradesPushed) -> None:
    """What a push did not send and why, what the SIS refused, then one line saying what was
    sent, left unchanged and refused."""
    if pushed.exclusions.height:
        print_table(console, exclusion_summary_table(pushed.exclusions))
        print_table(console, exclusions_table(pushed.exclusions))
    if pushed.not_accepted.height:
        print_table(console, not_accepted_table(pushed.not_accepted))
    verdict = (
        "[bold red]refused in part[/]" if pushed.not_accepted.height else "[bold green]pushed[/]"
    )
    # an unanswered record among them had its retry refused, though the SIS may hold it
    refused = pushed.not_accepted.filter(pl.col("outcome") != "held").height
    held = pushed.not_accepted.height - refused
    not_accepted = (f"; {_plural(refused, 'record')} refused by the SIS" if refused else "") + (
        f"; {held:,} held back (its category or line item was not accepted)" if held else ""
    )
    console.print(
        f"{shown(pushed.url)}: {verdict} — grades run {pushed.grade_run_id}, tenant "
        f"{shown(pushed.tenant)}, OneRoster {shown(pushed.version)}: sent "
        f"{_records_per_file(pushed.sent)}; {pushed.unchanged:,} unchanged (not sent again)"
        f"{not_accepted}; {_plural(pushed.exclusions.height, 'record')} not sent",
        highlight=False,
        soft_wrap=True,
    )


# --- a query's rows --------------------------------------------------------------------------


def rows_table(rows: pl.DataFrame, limit: int | None = None) -> Table:
    """The first `limit` rows (None: all) under their column names; NULL for a missing value."""
    table = report_table()
    for name, dtype in rows.schema.items():
        # a number or a time cut over two lines (`01:31:19.41933` over `4`) reads as another
        # value, and is copied so: those never wrap, the text columns give way
        table.add_column(
            shown(name),
            justify="right" if dtype.is_numeric() else "left",
            overflow="fold",
            no_wrap=dtype.is_numeric() or dtype.is_temporal(),
        )
    first = rows if limit is None else rows.head(limit)
    for row in first.iter_rows():  # at most `limit` rows
        table.add_row(*(_cell(value) for value in row))
    return table


def _cell(value: object) -> str:
    """A query's value as the DuckDB CLI writes it (NULL, true, false), as markup."""
    if value is None:
        return "[dim]NULL[/]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return shown(str(value))


def print_rows(console: Console, rows: pl.DataFrame, max_rows: int = 0) -> None:
    """A query's rows as a table (the first `max_rows`; 0: all), then how many there are."""
    print_row_batches(console, rows.schema, iter([rows]), max_rows)


def print_row_batches(
    console: Console, schema: pl.Schema, batches: Iterator[pl.DataFrame], max_rows: int = 0
) -> None:
    """`print_rows` of rows read a batch at a time: the first `max_rows` are kept for the
    table, the others only counted."""
    kept: list[pl.DataFrame] = [schema.to_frame()]
    count = 0
    for batch in batches:
        if max_rows == 0 or count < max_rows:
            kept.append(batch if max_rows == 0 else batch.head(max_rows - count))
        count += batch.height
    rows = pl.concat(kept)
    limit = max_rows if 0 < max_rows < count else None
    if rows.width:
        # a query's columns are names a reader copies into the next query, and their values
        # identifiers as often: folded into `external` over `_id`, or `teacher_b` over `ase`,
        # both are copied wrong; where a column cannot be as wide as its name, each row is a
        # record
        print_table(console, rows_table(rows, limit), whole_headers=True)
    counted = _plural(count, "row")
    if limit is not None:
        counted += f" (the first {limit:,} shown: --max-rows 0 shows all, --csv prints all)"
    console.print(counted, highlight=False)


def write_csv_batches(schema: pl.Schema, batches: Iterator[pl.DataFrame], out: TextIO) -> None:
    """A query's rows (of `schema`, read a batch at a time) as CSV, each batch written as it
    comes, a header line first; an empty field for NULL, true and false for booleans, lists
    and structs as JSON. A reader that stops reading (`| head`) ends the command as click ends
    any command whose output's reader went: quietly, exit 1."""
    header = True
    for batch in itertools.chain(batches, [schema.to_frame()]):
        if batch.height or header:  # (the header alone for no rows at all)
            _write_csv_part(batch, out, header)
            header = False


def _write_csv_part(rows: pl.DataFrame, out: TextIO, header: bool) -> None:
    written = rows.with_columns(
        pl.struct(pl.col(name).alias("value"))
        .struct.json_encode()
        .str.json_path_match("$.value")
        .alias(name)
        for name, dtype in rows.schema.items()
        if dtype.is_nested()
    )
    try:
        written.write_csv(out, include_header=header)
    except OSError as error:
        # Polars says "Broken pipe (os error 32)" without the errno click looks for: a
        # traceback otherwise
        if error.errno is None and f"(os error {errno.EPIPE})" in str(error):
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)) from None
        raise


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
