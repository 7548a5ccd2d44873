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

import pandera.polars as pa
import polars as pl

from rosterflow.schemas.models import FINITE_NUMBER, calendar_date, finite_number


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


def suspect_rows(rows: pl.DataFrame, model: type[pa.DataFrameModel]) -> pl.Series:
    """A boolean per row: could `model` report anything about it?"""
    flags: list[pl.Expr] = []
    columns = model.to_schema().columns
    # patterns and dates are costly per value: judge each distinct value once (the distinct
    # values of every such column found in one parallel pass)
    judged = [n for n, c in columns.items() if any(check.name != "isin" for check in c.checks)]
    distinct = rows.select(pl.col(n).drop_nulls().unique().implode() for n in judged)
    for name, column in columns.items():
        if not column.nullable:
            flags.append(pl.col(name).is_null())
        # the cheap test first: distinct hashes mean distinct values (five times faster than
        # counting distinct strings); a repeated hash only costs the exact test
        if column.unique and rows[name].hash().n_unique() != rows.height:
            flags.append(pl.col(name).is_duplicated())
        # pandera's checks ignore nulls (ignore_na), so only values can fail them
        for check in column.checks:
            if check.name == "isin":
                flags.append(pl.col(name).is_not_null() & _failing(name, check))
                continue
            failing_values = (
                distinct.select(pl.col(name).explode()).filter(_failing(name, check)).to_series()
            )
            if failing_values.len():
                # a null is never among them (`is_in` would say null, not false, and the row
                # would be suspect for another row's value)
                flags.append(
                    pl.col(name).is_not_null() & pl.col(name).is_in(failing_values.implode())
                )
    if not flags:
        return pl.Series("suspect", [False] * rows.height)
    return rows.select(pl.any_horizontal(flags).fill_null(True).alias("suspect")).to_series()
