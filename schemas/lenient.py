"""Accept what real exports get wrong when the meaning is clear, and say so.

REFERENCE.md's policy: `TRUE` and `Scheduled` are read as `true` and `scheduled`, the 1.0 status
`inactive` is kept, a date-only or otherwise ISO 8601 `dateLastModified` is kept, and grades
outside CEDS are kept; each with a warning. What is not clear is left as it is, so that the
pandera models report it as an error.
"""

from __future__ import annotations

import polars as pl

from schemas.csvfile import LINE
from schemas.issues import issues_from
from schemas.spec import CEDS_GRADES, FileSpec, Kind

CANONICAL_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$"
LENIENT_DATETIME = (
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)


def _canonical_case(column: str, values: tuple[str, ...]) -> pl.Expr:
    """The vocabulary value that `column` spells in another letter case, else null."""
    by_lower = {value.lower(): value for value in values}
    return (
        pl.col(column)
        .str.to_lowercase()
        .replace_strict(by_lower, default=None, return_dtype=pl.String)
    )


def normalize(rows: pl.DataFrame, spec: FileSpec) -> tuple[pl.DataFrame, pl.LazyFrame]:
    """`rows` with clear-meaning variants rewritten, and a warning for each rewrite or oddity."""
    file_name = spec.file_name
    cased = spec.of_kind(Kind.ENUM, Kind.BOOL, Kind.STATUS)
    flags = rows.with_columns(
        *(_canonical_case(c.name, c.values).alias(f"__canon_{c.name}") for c in cased),
    )
    warnings: list[pl.LazyFrame] = []
    for column in cased:
        name, canon = column.name, f"__canon_{column.name}"
        recased = flags.filter(pl.col(canon).is_not_null() & (pl.col(canon) != pl.col(name)))
        warnings.append(
            issues_from(
                recased,
                file=file_name,
                field=name,
                value=pl.col(name),
                rule=f"{_rule_of(column.kind)}.case",
                severity="warning",
                message=pl.format("read as '{}'", pl.col(canon)),
            )
        )
        if column.kind is Kind.STATUS:
            inactive = flags.filter(pl.col(name).str.to_lowercase() == "inactive")
            warnings.append(
                issues_from(
                    inactive,
                    file=file_name,
                    field=name,
                    value=pl.col(name),
                    rule="status.inactive",
                    severity="warning",
                    message="the OneRoster 1.0 status inactive: the record is kept, inactive",
                )
            )
    for column in spec.of_kind(Kind.DATETIME):
        name = column.name
        loose = rows.filter(
            ~pl.col(name).str.contains(CANONICAL_DATETIME)
            & pl.col(name).str.contains(LENIENT_DATETIME)
        )
        warnings.append(
            issues_from(
                loose,
                file=file_name,
                field=name,
                value=pl.col(name),
                rule="datetime.format",
                severity="warning",
                message="accepted; the spec's form is YYYY-MM-DDTHH:MM:SS.sssZ",
            )
        )
    for column in spec.of_kind(Kind.GRADES):
        name = column.name
        outside = rows.filter(
            pl.col(name)
            .str.split(",")
            .list.eval(~pl.element().str.strip_chars().is_in(CEDS_GRADES))
            .list.any()
        )
        warnings.append(
            issues_from(
                outside,
                file=file_name,
                field=name,
                value=pl.col(name),
                rule="grade",
                severity="warning",
                message="not a CEDS grade code (KG, 01 ... 12, PK, Other, ...); kept as given",
            )
        )

    normalized = flags.with_columns(
        *(
            pl.when(pl.col(f"__canon_{c.name}").is_not_null())
            .then(pl.col(f"__canon_{c.name}"))
            .when(pl.col(c.name).str.to_lowercase() == "inactive")
            .then(pl.lit("inactive"))
            .otherwise(pl.col(c.name))
            .alias(c.name)
            if c.kind is Kind.STATUS
            else pl.coalesce(f"__canon_{c.name}", c.name).alias(c.name)
            for c in cased
        )
    ).select(*spec.header, LINE)
    return normalized, pl.concat(warnings) if warnings else issues_from(
        rows.head(0),
        file=file_name,
        field=None,
        value=pl.lit(None),
        rule="",
        severity="",
        message="",
    )


def _rule_of(kind: Kind) -> str:
    return {Kind.BOOL: "boolean", Kind.STATUS: "status", Kind.ENUM: "enum"}[kind]
