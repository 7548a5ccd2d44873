"""A OneRoster record's content hash: how a run tells the records that changed since the last.

A record is identified by its file and sourcedId; `row_hash` hashes its fields (those the
warehouse keeps: every column but users.csv's password), not where or when it arrived, so the
same record reordered or sent again hashes alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from rosterflow.schemas.spec import FILE_SPECS, SYNCED_FILES

ROW_HASH = "row_hash"
_SEED = 0x0E7057E5


def source_columns(name: str) -> tuple[str, ...]:
    """The columns of a file the warehouse keeps (the password is never stored)."""
    return tuple(c for c in FILE_SPECS[name].header if c != "password")


def row_hashes(name: str, rows: pl.DataFrame) -> pl.Series:
    """A hash of each record's fields. Equal records hash alike within a Polars version; a new
    version may hash them anew, which only makes one run treat every record as changed (slower,
    never wrong)."""
    return rows.select(source_columns(name)).hash_rows(seed=_SEED).alias(ROW_HASH)


def carried_files(modes: dict[str, str]) -> tuple[str, ...]:
    """The synced files whose earlier records still count: those not sent in bulk."""
    return tuple(name for name in SYNCED_FILES if modes[name] != "bulk")


def validation_key(settings_key: str, version: str) -> str:
    """What a file's stored records were validated under: the settings and rosterflow, and the
    OneRoster version of the feed they came in (1.2 admits values 1.1 refuses, so a record is
    trusted unchecked only when it was checked against the same version's rules)."""
    if version == "1.1":  # as written before 1.2 was read
        return settings_key
    return f"{settings_key} (OneRoster {version})"


def empty_source(name: str) -> pl.DataFrame:
    """No records: the columns a record set has, without row_hash."""
    return pl.DataFrame(
        schema={"run_id": pl.Int64, "line": pl.Int64}
        | dict.fromkeys(source_columns(name), pl.String)
    )


def with_row_hash(name: str, rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(row_hashes(name, rows))


def in_places(rows: pl.LazyFrame, places: pl.LazyFrame) -> pl.LazyFrame:
    """`rows` (with `sourcedId, run_id, line`), each on the run and line `places` gives its
    sourcedId (`sourcedId, run_id, line`), else on its own, in the order of `rows`: a record's
    place in file order (which of a class's teachers is first) is where it was first sent."""
    return (
        rows.join(
            places.select(
                "sourcedId",
                pl.col("run_id").alias("run_id_before"),
                pl.col("line").alias("line_before"),
            ),
            on="sourcedId",
            how="left",
            maintain_order="left",
        )
        .with_columns(
            pl.coalesce("run_id_before", "run_id").alias("run_id"),
            pl.coalesce("line_before", "line").alias("line"),
        )
        .drop("run_id_before", "line_before")
    )


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


def _absent(hashes: pl.Series, others: pl.Series) -> pl.Series:
    """The values of `hashes` that are not among `others`, both sorted: a merge of the two
    (`join_asof` finds each value's greatest other at or below it). Two radix sorts of 64-bit
    integers and a merge cost a third of the hash table an anti join builds of millions."""
    found = others.to_frame(ROW_HASH).with_columns(pl.col(ROW_HASH).alias("found"))
    return (
        hashes.to_frame(ROW_HASH)
        .join_asof(found, on=ROW_HASH, strategy="backward")
        .filter(pl.col("found").ne_missing(pl.col(ROW_HASH)))
        .get_column(ROW_HASH)
    )


def _having(rows: pl.DataFrame, hashes: pl.Series) -> pl.Series:
    """The sourcedIds of the `rows` whose hash is one of `hashes` (a few, as a rule)."""
    return rows.filter(pl.col(ROW_HASH).is_in(hashes.implode())).get_column("sourcedId")


def record_changes(stored: pl.DataFrame, current: pl.DataFrame) -> RecordChanges:
    """Compare records on their row hashes (which cover the sourcedId): a current record whose
    hash is not stored is new or changed; a stored hash no longer current is a record that
    changed or went. `stored` and `current` have `sourcedId` and `row_hash`."""
    stored_hashes, current_hashes = stored[ROW_HASH].sort(), current[ROW_HASH].sort()
    changed = _having(current, _absent(current_hashes, stored_hashes))
    departed = _having(stored, _absent(stored_hashes, current_hashes))
    # sourcedIds are unique on both sides, so a record that changed has departed under its old
    # hash: comparing the two small sets by sourcedId tells edits from arrivals and removals
    removed = departed.filter(~departed.is_in(changed.implode()))
    added = changed.filter(~changed.is_in(departed.implode()))
    return RecordChanges(changed, removed, added)
