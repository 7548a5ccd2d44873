"""The issues frame: the one currency of validation.

One row per problem found: `file, line, field, value, rule, severity, message`. `line` is the
line the record starts on (the header is line 1); it is null for problems of a whole file or
feed. Pandera failure cases and the cross-file checks all end up as rows of this frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from rosterflow.schemas.printable import CONTROL_CHARACTERS, CONTROL_SHOWN

ISSUE_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "line": pl.Int64(),
    "field": pl.String(),
    "value": pl.String(),
    "rule": pl.String(),
    "severity": pl.String(),
    "message": pl.String(),
}
ISSUE_COLUMNS = tuple(ISSUE_SCHEMA)
SEVERITIES = ("error", "warning")


def issue_row(
    file: str,
    line: int | None,
    field: str | None,
    value: str | None,
    rule: str,
    severity: str,
    message: str,
) -> dict[str, object]:
    return {
        "file": file,
        "line": line,
        "field": field,
        "value": value,
        "rule": rule,
        "severity": severity,
        "message": message,
    }


def issue_frame(rows: Iterable[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=ISSUE_SCHEMA)


def issues_from(
    flagged: pl.LazyFrame | pl.DataFrame,
    *,
    file: str,
    field: str | None,
    value: pl.Expr,
    rule: str,
    severity: str,
    message: pl.Expr | str,
) -> pl.LazyFrame:
    """Issue rows for every row of `flagged` (a frame that has the `__line` column)."""
    if isinstance(flagged, pl.DataFrame):
        # in one chunk: a lazy filter of a frame in chunks, collected, leaves the chunks it
        # emptied in place, and Polars' `pl.format` panics on a column with an empty chunk between
        # others (`assertion failed: i < self.len()`), as a by-lines run's enrollments (the
        # changed lines' chunk, then the kept records' in the stored records' chunks) had it
        # when a middle chunk held no duplicated primary teacher. A few flagged rows.
        flagged = flagged.rechunk()
    return flagged.lazy().select(
        pl.lit(file, pl.String).alias("file"),
        pl.col("__line").cast(pl.Int64).alias("line"),
        pl.lit(field, pl.String).alias("field"),
        value.cast(pl.String).alias("value"),
        pl.lit(rule, pl.String).alias("rule"),
        pl.lit(severity, pl.String).alias("severity"),
        (pl.lit(message, pl.String) if isinstance(message, str) else message).alias("message"),
    )


def sort_issues(issues: pl.DataFrame) -> pl.DataFrame:
    """A stable, readable order: errors first, then by file, line and field."""
    return issues.sort(
        pl.col("severity") != "error", "file", "line", "field", "rule", "value", nulls_last=False
    )


def count_errors(issues: pl.DataFrame) -> int:
    return issues.filter(pl.col("severity") == "error").height


# the formats of an issue report: CSV, or JSON (a list of rows)
REPORT_SUFFIXES = (".csv", ".json")


def write_report(issues: pl.DataFrame, path: Path) -> None:
    """Every issue to `path` (CSV, or JSON by its suffix), columns as audit.issues less run_id,
    plus the message. A CSV report, read in a terminal or a spreadsheet as often as by a
    program, shows each control character of a text as the terminal does
    (`schemas.printable`: ESC as `\\x1b`, NUL as `\\x00`); JSON writes every text exactly,
    escaping what JSON escapes (C0 characters as `\\u001b`)."""
    rows = issues.select(*ISSUE_COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    # opened here, not by Polars: a name holding a byte that is not UTF-8 (a zip named on a
    # Windows share, `caf\xe9.zip`, whose report an inbox writes beside it) is a path to
    # Python, and a TypeError to Polars, which failed the inbox's scan after the run
    with path.open("wb") as out:
        if path.suffix.lower() == ".json":
            rows.write_json(out)
        else:
            texts = [name for name, dtype in rows.schema.items() if dtype == pl.String]
            rows.with_columns(
                pl.col(texts).str.replace_many(CONTROL_CHARACTERS, CONTROL_SHOWN)
            ).write_csv(out)
