"""Accept what real exports get wrong when the meaning is clear, and say so.

The field reference's policy (docs/reference/oneroster-1.1.md): `TRUE` and `Scheduled` are read
as `true` and `scheduled`, the 1.0 status `inactive` is kept, a date-only or otherwise ISO 8601
`dateLastModified` is kept, and grades outside CEDS are kept; each with a warning. What is not clear is left as it is, so that the
pandera models report it as an error.

Each rule judges the distinct values of a column (a handful for enumerations and dates), then
touches only the rows holding a value it flagged: a clean file costs one pass per column.
"""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.issues import ISSUE_SCHEMA, issues_from
from rosterflow.schemas.models import DATETIME_PATTERN, calendar_date
from rosterflow.schemas.prescreen import distinct_values
from rosterflow.schemas.spec import CEDS_GRADES, Column, FileSpec, Kind

# the spec's own form; any other the models accept (`DATETIME_PATTERN`) is warned of. ASCII
# digits alone: `\d` matches any script's digits, which the models refuse (such a value was
# warned of as accepted beside their error)
CANONICAL_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z$"
_RULE_PREFIX = {Kind.BOOL: "boolean", Kind.STATUS: "status", Kind.ENUM: "enum"}


def _recasings(distinct: pl.Series, column: Column) -> dict[str, str]:
    """Values spelling a vocabulary word in another letter case -> the word."""
    by_lower = {value.lower(): value for value in (*column.values, *column.also)}
    if column.kind is Kind.STATUS:
        by_lower["inactive"] = "inactive"  # the 1.0 status, kept (with its own warning)
    canonical = distinct.str.to_lowercase().replace_strict(by_lower, default=None)
    return {
        value: canon
        for value, canon in zip(distinct.to_list(), canonical.to_list(), strict=True)
        if canon is not None and canon != value
    }


def _warn_values(
    rows: pl.DataFrame,
    distinct: pl.Series,
    file_name: str,
    flagged: pl.Expr,
    rule: str,
    message: str,
) -> pl.LazyFrame | None:
    """A warning for each row holding a value `flagged` picks out, judged once per value of
    `distinct` (the column's); None when no value is flagged."""
    column = distinct.name
    values = distinct.to_frame().filter(flagged).to_series()
    if not values.len():
        return None
    return issues_from(
        rows.filter(pl.col(column).is_in(values.implode())),
        file=file_name, field=column, value=pl.col(column), rule=rule, severity="warning",
        message=message,
    )  # fmt: skip


def judged_columns(spec: FileSpec) -> list[str]:
    """The columns of a file whose distinct values `normalize` judges."""
    judged = spec.of_kind(Kind.ENUM, Kind.BOOL, Kind.STATUS, Kind.DATETIME, Kind.GRADES)
    return [column.name for column in judged]


def normalize(
    rows: pl.DataFrame, spec: FileSpec, distinct: dict[str, pl.Series] | None = None
) -> tuple[pl.DataFrame, pl.LazyFrame]:
    """`rows` with clear-meaning variants rewritten, and a warning for each rewrite or oddity.

    `distinct` holds the distinct values of `rows`' columns found already (`prescreen.
    distinct_values`): only those of `judged_columns` it lacks are looked for, and it is left
    holding those of every judged column as the rows returned hold them (a column rewritten
    holds others), for the pre-screen of those rows to share (`prescreen.suspect_rows`)."""
    file_name = spec.file_name
    warnings: list[pl.LazyFrame] = [pl.LazyFrame(schema=ISSUE_SCHEMA)]
    rewrites: list[pl.Expr] = []
    shared = {} if distinct is None else distinct
    shared |= distinct_values(rows, [name for name in judged_columns(spec) if name not in shared])
    distinct = dict(shared)  # (as `rows` hold them)
    for column in spec.of_kind(Kind.ENUM, Kind.BOOL, Kind.STATUS):
        name = column.name
        if column.kind is Kind.STATUS:
            warnings.append(
                _warn_values(
                    rows, distinct[name], file_name, pl.col(name).str.to_lowercase() == "inactive",
                    "status.inactive",
                    "the OneRoster 1.0 status inactive: the record is kept, inactive",
                )
            )  # fmt: skip
        recased = _recasings(distinct[name], column)
        if not recased:
            continue
        mapping = pl.DataFrame({"value": list(recased), "canon": list(recased.values())})
        changed = rows.filter(pl.col(name).is_in(mapping["value"].implode()))
        warnings.append(
            issues_from(
                changed.join(mapping, left_on=name, right_on="value", how="left"),
                file=file_name, field=name, value=pl.col(name),
                rule=f"{_RULE_PREFIX[column.kind]}.case", severity="warning",
                message=pl.format("read as '{}'", pl.col("canon")),
            )
        )  # fmt: skip
        rewrites.append(pl.col(name).replace(recased))
        shared[name] = distinct[name].replace(recased).unique()
    for column in spec.of_kind(Kind.DATETIME):
        name = column.name
        # a value naming no real day is not accepted: its one issue is the models' error
        warnings.append(
            _warn_values(
                rows, distinct[name], file_name,
                ~pl.col(name).str.contains(CANONICAL_DATETIME) & pl.col(name).str.contains(DATETIME_PATTERN)
                & calendar_date(pl.col(name)),
                "datetime.format", "accepted; the spec's form is YYYY-MM-DDTHH:MM:SS.sssZ",
            )
        )  # fmt: skip
    for column in spec.of_kind(Kind.GRADES):
        name = column.name
        warnings.append(
            _warn_values(
                rows, distinct[name], file_name,
                pl.col(name).str.split(",").list.eval(~pl.element().str.strip_chars().is_in(CEDS_GRADES)).list.any(),
                "grade", "not a CEDS grade code (KG, 01 ... 12, PK, Other, ...); kept as given",
            )
        )  # fmt: skip
    normalized = rows.with_columns(rewrites) if rewrites else rows
    return normalized, pl.concat([w for w in warnings if w is not None])
