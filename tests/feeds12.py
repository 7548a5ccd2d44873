"""OneRoster 1.2 feeds for tests: literal 1.2 frames, a 1.1 district's 1.2 twin, and a writer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from rosterflow.schemas.spec import FILE_SPECS_12, MANIFEST_FILE
from rosterflow.schemas.v12 import as_v12  # noqa: F401  (the twin of a 1.1 district, for tests)
from rosterflow.schemas.writer import feed_csv, manifest_csv, write_feed


def frame12(name: str, *rows: dict[str, str | None]) -> pl.DataFrame:
    """A OneRoster 1.2 frame from dict rows; unspecified columns are empty."""
    header = FILE_SPECS_12[name].header
    return pl.DataFrame(
        [{column: row.get(column) for column in header} for row in rows],
        schema={column: pl.String for column in header},
    )


def feed_files_12(
    frames: Mapping[str, pl.DataFrame], modes: Mapping[str, str] | None = None
) -> dict[str, bytes]:
    """The members of a 1.2 feed as bytes (every file given marked bulk unless `modes` says)."""
    modes = {name: "bulk" for name in frames} | dict(modes or {})
    files = {MANIFEST_FILE: manifest_csv(modes, version="1.2")}
    files |= {FILE_SPECS_12[n].file_name: feed_csv(n, f, "1.2") for n, f in frames.items()}
    return files


def write_feed_12(
    path: Path, frames: Mapping[str, pl.DataFrame], modes: Mapping[str, str] | None = None
) -> Path:
    return write_feed(path, frames, modes=modes, version="1.2")
