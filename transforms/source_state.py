"""The SIS's records after this feed: what the desired lms state is computed from.

The manifest's three modes become one rule per file: a `bulk` file replaces the records of its
entity, a `delta` file upserts its `active` rows and removes its `tobedeleted` ones, and an
`absent` file leaves the previous records as they were. Rows carry `run_id` and `line` so that
"first in file order" stays meaningful across runs, and `row_hash`, a hash of the record's
fields, so that a run can tell which records changed since the last one (`record_changes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from schemas.csvfile import LINE
from schemas.records import ROW_HASH, row_hashes, source_columns
from schemas.references import stated


def empty_source(name: str) -> pl.DataFrame:
    """No records: the columns a record set has, without row_hash."""
    return pl.DataFrame(
        schema={"run_id": pl.Int64, "line": pl.Int64}
        | dict.fromkeys(source_columns(name), pl.String)
    )


def with_row_hash(name: str, rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(row_hashes(name, rows))


def arrived_records(name: str, incoming: pl.DataFrame, run_id: int) -> pl.LazyFrame:
    """A file's rows as source records (removals included)."""
    if ROW_HASH not in incoming.columns:
        incoming = with_row_hash(name, incoming)
    return (
        incoming.lazy().select(
            pl.lit(run_id, pl.Int64).alias("run_id"),
            pl.col(LINE).alias("line"),
            *source_columns(name),
            ROW_HASH,
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
    """The records of one file after this feed (with row_hash). `previous` (the warehouse's
    records, with row_hash) is only needed when the file is `delta` or `absent`."""
    if mode == "bulk" and incoming is not None:
        return arrived_records(name, incoming, run_id).filter(stated()).collect()
    previous = previous if previous is not None else with_row_hash(name, empty_source(name))
    if mode == "absent" or incoming is None:
        return previous
    arrived = arrived_records(name, incoming, run_id)
    kept = previous.lazy().join(arrived.select("sourcedId"), on="sourcedId", how="anti")
    return pl.concat([kept, arrived.filter(stated())], how="vertical").collect()


@dataclass(frozen=True)
class RecordChanges:
    """How one file's records differ from the stored ones, by sourcedId."""

    changed: pl.Series  # stated now, and new or different
    removed: pl.Series  # stored, and no longer stated
    added: pl.Series  # stated now and not stored (part of `changed`)

    @property
    def appeared_or_gone(self) -> pl.Series:
        """Records that began or ceased to exist (what a reference to them depends on)."""
        return pl.concat([self.added, self.removed]).alias("sourcedId")

    @property
    def keys(self) -> pl.Series:
        """Every sourcedId whose record is not as stored."""
        return pl.concat([self.changed, self.removed]).alias("sourcedId")

    @property
    def count(self) -> int:
        return self.changed.len() + self.removed.len()


def record_changes(stored: pl.DataFrame, current: pl.DataFrame) -> RecordChanges:
    """Compare records on their row hashes (which cover the sourcedId): a current record whose
    hash is not stored is new or changed; a stored hash no longer current is a record that
    changed or went. `stored` and `current` have `sourcedId` and `row_hash`."""
    is_stored = current[ROW_HASH].is_in(stored[ROW_HASH].implode())
    is_current = stored[ROW_HASH].is_in(current[ROW_HASH].implode())
    changed = current.filter(~is_stored)["sourcedId"]
    departed = stored.filter(~is_current)["sourcedId"]  # changed or removed
    # sourcedIds are unique on both sides, so a record that changed has departed under its old
    # hash: comparing the two small sets by sourcedId tells edits from arrivals and removals
    removed = departed.filter(~departed.is_in(changed.implode()))
    added = changed.filter(~changed.is_in(departed.implode()))
    return RecordChanges(changed, removed, added)
