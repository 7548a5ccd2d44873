"""The SIS's records after this feed: what the desired lms state is computed from.

The manifest's three modes become one rule per file: a `bulk` file replaces the records of its
entity, a `delta` file upserts its `active` rows and removes its `tobedeleted` ones, and an
`absent` file leaves the previous records as they were. Rows carry `run_id` and `line` so that
"first in file order" stays meaningful across runs.
"""

from __future__ import annotations

import polars as pl

from schemas.csvfile import LINE
from schemas.spec import FILE_SPECS

SOURCE_ORDER = ("run_id", "line")


def source_columns(name: str) -> tuple[str, ...]:
    return tuple(c for c in FILE_SPECS[name].header if c != "password")


def empty_source(name: str) -> pl.DataFrame:
    return pl.DataFrame(
        schema={"run_id": pl.Int64, "line": pl.Int64}
        | dict.fromkeys(source_columns(name), pl.String)
    )


def next_source_state(
    name: str,
    previous: pl.DataFrame,
    incoming: pl.DataFrame | None,
    mode: str,
    run_id: int,
) -> pl.DataFrame:
    """`previous` (the warehouse's records) updated by this feed's file `incoming`."""
    if mode == "absent" or incoming is None:
        return previous
    arrived = (
        incoming.lazy()
        .select(
            pl.lit(run_id, pl.Int64).alias("run_id"),
            pl.col(LINE).alias("line"),
            *source_columns(name),
        )
        # a sourcedId stated twice is a validation error; keep the first should it get here
        .unique("sourcedId", keep="first", maintain_order=True)
    )
    stated = arrived.filter(pl.col("status").is_null() | (pl.col("status") != "tobedeleted"))
    if mode == "bulk":
        return stated.collect()
    kept = previous.lazy().join(arrived.select("sourcedId"), on="sourcedId", how="anti")
    return pl.concat([kept, stated], how="vertical").collect()
