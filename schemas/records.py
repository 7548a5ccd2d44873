"""A OneRoster record's content hash: how a run tells the records that changed since the last.

A record is identified by its file and sourcedId; `row_hash` hashes its fields (those the
warehouse keeps: every column but users.csv's password), not where or when it arrived, so the
same record reordered or sent again hashes alike.
"""

from __future__ import annotations

import polars as pl

from schemas.spec import FILE_SPECS

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
