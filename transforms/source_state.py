"""The SIS's records after this feed: what the desired lms state is computed from.

The manifest's three modes become one rule per file: a `bulk` file replaces the records of its
entity, a `delta` file upserts its `active` rows and removes its `tobedeleted` ones, and an
`absent` file leaves the previous records as they were. Rows carry `run_id` and `line` so that
"first in file order" stays meaningful across runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from schemas.csvfile import LINE
from schemas.references import stated
from schemas.spec import FILE_SPECS


def source_columns(name: str) -> tuple[str, ...]:
    return tuple(c for c in FILE_SPECS[name].header if c != "password")


def empty_source(name: str) -> pl.DataFrame:
    return pl.DataFrame(
        schema={"run_id": pl.Int64, "line": pl.Int64}
        | dict.fromkeys(source_columns(name), pl.String)
    )


def arrived_records(name: str, incoming: pl.DataFrame, run_id: int) -> pl.LazyFrame:
    """A file's rows as source records (removals included)."""
    return (
        incoming.lazy().select(
            pl.lit(run_id, pl.Int64).alias("run_id"),
            pl.col(LINE).alias("line"),
            *source_columns(name),
        )
        # sourcedIds are unique: a feed repeating one is rejected by validation
    )


def next_source_state(
    name: str,
    previous: pl.DataFrame | None,
    incoming: pl.DataFrame | None,
    mode: str,
    run_id: int,
) -> pl.DataFrame:
    """The records of one file after this feed. `previous` (the warehouse's records) is only
    needed when the file is `delta` or `absent`."""
    if mode == "bulk" and incoming is not None:
        return arrived_records(name, incoming, run_id).filter(stated()).collect()
    previous = previous if previous is not None else empty_source(name)
    if mode == "absent" or incoming is None:
        return previous
    arrived = arrived_records(name, incoming, run_id)
    kept = previous.lazy().join(arrived.select("sourcedId"), on="sourcedId", how="anti")
    return pl.concat([kept, arrived.filter(stated())], how="vertical").collect()


@dataclass(frozen=True)
class SourceWrite:
    """The records of one file to store for the tenant, replacing what was stored."""

    rows: pl.DataFrame
    fingerprint: str | None  # of the bulk file they came from (None after a delta)


def source_write(
    source: pl.DataFrame,
    mode: str,
    fingerprint: str,
    stored_fingerprint: str | None,
) -> SourceWrite | None:
    """What to store for one file, or None when the warehouse already holds it: the file is
    absent, or it is the very bulk file (same fingerprint) that was stored before."""
    if mode == "absent":
        return None
    if mode == "bulk":
        if fingerprint and fingerprint == stored_fingerprint:
            return None
        return SourceWrite(source, fingerprint or None)
    return SourceWrite(source, None)
