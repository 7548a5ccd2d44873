"""OneRoster 1.2 feeds for tests: literal 1.2 frames, a 1.1 district's 1.2 twin, and a writer."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from schemas.spec import FILE_SPECS_12, MANIFEST_FILE

# how the twin states each 1.1 role in 1.2 (any of the administrators reads back as 1.1's)
ROLE_WORDS_12 = {"administrator": "siteAdministrator"}


def frame12(name: str, *rows: dict[str, str | None]) -> pl.DataFrame:
    """A OneRoster 1.2 frame from dict rows; unspecified columns are empty."""
    header = FILE_SPECS_12[name].header
    return pl.DataFrame(
        [{column: row.get(column) for column in header} for row in rows],
        schema={column: pl.String for column in header},
    )


def as_v12(frames: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The 1.2 twin of a 1.1 district: the same records, each user's role and orgs as roles.csv
    rows (the first org primary, with `primaryOrgSourcedId`; the others secondary, in order)."""
    users = frames["users"]
    memberships = (
        users.select(
            "sourcedId",
            "role",
            pl.col("orgSourcedIds").str.split(",").alias("org"),
        )
        .explode("org")
        .with_columns(
            pl.col("org").str.strip_chars(),
            pl.int_range(pl.len()).over("sourcedId").alias("nth"),
        )
    )
    roles = memberships.select(
        pl.format("r-{}-{}", "sourcedId", "nth").alias("sourcedId"),
        pl.lit(None, pl.String).alias("status"),
        pl.lit(None, pl.String).alias("dateLastModified"),
        pl.col("sourcedId").alias("userSourcedId"),
        pl.when(pl.col("nth") == 0).then(pl.lit("primary")).otherwise(pl.lit("secondary"))
        .alias("roleType"),
        pl.col("role").replace(ROLE_WORDS_12).alias("role"),
        pl.lit(None, pl.String).alias("beginDate"),
        pl.lit(None, pl.String).alias("endDate"),
        pl.col("org").alias("orgSourcedId"),
        pl.lit(None, pl.String).alias("userProfileSourcedId"),
    )  # fmt: skip
    users12 = users.with_columns(
        pl.col("orgSourcedIds").str.split(",").list.first().alias("primaryOrgSourcedId")
    )
    return dict(frames) | {
        "users": users12.select(
            pl.col(c) if c in users12.columns else pl.lit(None, pl.String).alias(c)
            for c in FILE_SPECS_12["users"].header
        ),
        "roles": roles,
    }


def manifest_csv_12(modes: Mapping[str, str]) -> bytes:
    rows = [("manifest.version", "1.0"), ("oneroster.version", "1.2")]
    rows += [(f"file.{name}", modes.get(name, "absent")) for name in FILE_SPECS_12]
    return pl.DataFrame(rows, schema=["propertyName", "value"], orient="row").write_csv().encode()


def feed_csv_12(name: str, frame: pl.DataFrame) -> bytes:
    header = FILE_SPECS_12[name].header
    return (
        frame.select(
            pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in header
        )
        .write_csv(line_terminator="\n")
        .encode()
    )


def feed_files_12(
    frames: Mapping[str, pl.DataFrame], modes: Mapping[str, str] | None = None
) -> dict[str, bytes]:
    """The members of a 1.2 feed as bytes (every file given marked bulk unless `modes` says)."""
    modes = {name: "bulk" for name in frames} | dict(modes or {})
    files = {MANIFEST_FILE: manifest_csv_12(modes)}
    files |= {FILE_SPECS_12[n].file_name: feed_csv_12(n, f) for n, f in frames.items()}
    return files


def write_feed_12(
    path: Path, frames: Mapping[str, pl.DataFrame], modes: Mapping[str, str] | None = None
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in feed_files_12(frames, modes).items():
            archive.writestr(name, data)
    return path
