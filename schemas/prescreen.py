"""Find the rows a pandera model could possibly reject, in one fused Polars pass.

pandera runs each check as its own query and builds failure cases as it goes: thorough, and
slow on a million rows. Almost every row of a real feed is valid, so `model_issues` first asks
this pre-screen which rows are suspect and runs the model on those rows only (all occurrences
of a duplicated sourcedId included, so the uniqueness check still sees every copy).

The pre-screen is derived from the model's own checks and must never be more lenient than
pandera: a check it does not know marks every non-null value suspect, which costs speed,
never correctness. Being stricter is harmless: pandera then finds nothing in those rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandera.polars as pa
import polars as pl

from rosterflow.schemas.models import FINITE_NUMBER, calendar_date, finite_number

# the values of a column sampled to tell whether they repeat (see `_repeats`)
SAMPLED_VALUES = 10_000


def distinct_values(rows: pl.DataFrame, columns: list[str]) -> dict[str, pl.Series]:
    """The distinct values (nulls left out) of each of `columns`, found in one parallel pass."""
    found = rows.select(pl.col(name).drop_nulls().unique().implode() for name in columns)
    return {name: found[name][0].alias(name) for name in columns}


def _failing(column: str, check: pa.Check) -> pl.Expr:
    value = pl.col(column)
    statistics = check.statistics or {}
    if check.name == "isin":
        return ~value.is_in(list(statistics["allowed_values"]))
    if check.name == "str_matches":
        pattern = statistics["pattern"]
        return ~value.str.contains(pattern if pattern.startswith("^") else f"^{pattern}")
    if check.name.startswith("calendar_date"):
        # not a real day in its first ten characters: stricter than the model's check, which
        # leaves a value not in the column's format to the format check; the rows are the
        # same, as that check fails on every such value
        return ~calendar_date(value)
    if check.name.startswith(FINITE_NUMBER):
        return ~finite_number(value)
    return pl.lit(True)  # unknown to the pre-screen: let pandera look at every value


def _repeats(values: pl.Series) -> bool:
    """Whether a column's values repeat enough that judging each distinct one once is cheaper
    than judging every row: its distinct values are found by hashing every value, which costs
    about what a pattern costs, so it pays when they are few (dates, grades, vocabularies), not
    when almost every row has its own (lists of IDs, a timestamp per record). Told from an
    evenly spread sample; either way judges the same rows."""
    sample = values.gather_every(max(1, values.len() // SAMPLED_VALUES)).drop_nulls()
    return sample.n_unique() <= sample.len() // 2


def suspect_rows(
    rows: pl.DataFrame,
    model: type[pa.DataFrameModel],
    distinct: Mapping[str, pl.Series] | None = None,
) -> pl.Series:
    """A boolean per row: could `model` report anything about it?

    `distinct` holds, for some columns, values among which are all those the rows hold in it
    (`distinct_values` of these rows, or of a frame they are rows of): their checks judge each
    of those once, and look at the rows only for a value that fails."""
    flags: list[pl.Expr] = []
    columns = model.to_schema().columns
    # patterns and dates are costly per value: judge each distinct value once where values
    # repeat (the distinct values of every such column found in one parallel pass), and the
    # rows themselves where they hardly do
    distinct = dict(distinct or {})
    judged = [
        name
        for name, column in columns.items()
        if name not in distinct
        and any(check.name != "isin" for check in column.checks)
        and _repeats(rows.get_column(name))
    ]
    distinct |= distinct_values(rows, judged)
    for name, column in columns.items():
        # (a column without nulls, as most are, needs no look at its rows)
        if not column.nullable and rows.get_column(name).null_count():
            flags.append(pl.col(name).is_null())
        # the cheap test first: distinct hashes mean distinct values (five times faster than
        # counting distinct strings); a repeated hash only costs the exact test
        if column.unique and rows[name].hash().n_unique() != rows.height:
            flags.append(pl.col(name).is_duplicated())
        # pandera's checks ignore nulls (ignore_na), so only values can fail them
        for check in column.checks:
            if name not in distinct:  # every row judged (an `isin` costs no more)
                flags.append(pl.col(name).is_not_null() & _failing(name, check))
                continue
            failing_values = distinct[name].to_frame().filter(_failing(name, check)).to_series()
            if failing_values.len():
                # a null is never among them (`is_in` would say null, not false, and the row
                # would be suspect for another row's value)
                flags.append(
                    pl.col(name).is_not_null() & pl.col(name).is_in(failing_values.implode())
                )
    if not flags:
        return pl.zeros(rows.height, pl.Boolean, eager=True).alias("suspect")
    return rows.select(pl.any_horizontal(flags).fill_null(True).alias("suspect")).to_series()
