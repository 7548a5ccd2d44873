"""Write OneRoster frames as a feed: a zip or a folder, chosen by the output's suffix, in
OneRoster 1.1 (the default) or 1.2 (frames with 1.2's files and columns: `schemas.v12.as_v12`
gives them for a 1.1 roster)."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

import polars as pl

from rosterflow.schemas.spec import MANIFEST_FILE, SPECS_BY_VERSION

# every member of a zip carries this time, not the moment it was written: the same frames then
# give the same bytes, so `generate --seed` is deterministic down to the zip's sha256 (which
# audit.sync_runs.feed_sha256 records, and an inbox looks an arriving zip up by)
ZIP_MEMBER_TIME = (1980, 1, 1, 0, 0, 0)
# what `ZipFile.writestr` gives a member named by text: read and write for its owner
ZIP_MEMBER_MODE = 0o600 << 16

# every file a feed of any OneRoster version may hold: what a folder may keep of a feed
# written there before
FEED_FILE_NAMES = frozenset(
    spec.file_name for specs in SPECS_BY_VERSION.values() for spec in specs.values()
) | {MANIFEST_FILE}


def feed_csv(name: str, frame: pl.DataFrame, version: str = "1.1") -> bytes:
    """One OneRoster file: the spec's columns in order (missing ones empty), then `metadata.*`."""
    spec = SPECS_BY_VERSION[version][name]
    extensions = [c for c in frame.columns if c.startswith("metadata.")]
    ordered = frame.select(
        *(
            pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String).alias(c)
            for c in spec.header
        ),
        *(pl.col(c).cast(pl.String) for c in extensions),
    )
    buffer = io.BytesIO()
    ordered.write_csv(buffer, line_terminator="\n")
    return buffer.getvalue()


def manifest_csv(
    modes: Mapping[str, str],
    properties: Mapping[str, str] | None = None,
    version: str = "1.1",
) -> bytes:
    rows = [("manifest.version", "1.0"), ("oneroster.version", version)]
    rows += [(f"file.{name}", modes.get(name, "absent")) for name in SPECS_BY_VERSION[version]]
    rows += sorted((properties or {}).items())
    return pl.DataFrame(rows, schema=["propertyName", "value"], orient="row").write_csv().encode()


def write_feed(
    out: str | os.PathLike[str],
    frames: Mapping[str, pl.DataFrame],
    *,
    modes: Mapping[str, str] | None = None,
    properties: Mapping[str, str] | None = None,
    version: str = "1.1",
) -> Path:
    """Write `frames` (OneRoster file name -> frame) with a manifest marking them bulk by default.

    The output is a zip if `out` ends in `.zip`, else a folder. A zip is whole or not there:
    it is written beside `out` and renamed onto it once complete, so a write that fails leaves
    what was at `out` before; and its bytes depend on the frames alone (each member dated
    `ZIP_MEMBER_TIME`), never on when it was written. A folder holds this feed alone once
    written: a file named as a OneRoster file (of either version) that this feed does not
    have, left by a feed written there before, is removed (a 1.2 feed's roles.csv would make a
    1.1 feed written over it invalid); files of any other name stay.
    """
    out = Path(out)
    modes = {name: "bulk" for name in frames} | dict(modes or {})
    files = {MANIFEST_FILE: manifest_csv(modes, properties, version)}
    specs = SPECS_BY_VERSION[version]
    files |= {
        specs[name].file_name: feed_csv(name, frame, version) for name, frame in frames.items()
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".zip":
        _write_zip(out, files)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for file_name in FEED_FILE_NAMES - files.keys():
            with suppress(FileNotFoundError):
                (out / file_name).unlink()
        for file_name, data in files.items():
            (out / file_name).write_bytes(data)
    return out


def _write_zip(out: Path, files: Mapping[str, bytes]) -> None:
    """The zip of `files` at `out`, written first under a name beside it that no inbox takes
    for a zip: a write that fails (a full disk) leaves `out` as it was, never a truncated zip
    that a sync would read as damaged or an inbox would pick up."""
    partial = out.with_name(f".{out.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            for file_name, data in files.items():
                member = zipfile.ZipInfo(file_name, date_time=ZIP_MEMBER_TIME)
                member.external_attr = ZIP_MEMBER_MODE
                archive.writestr(member, data, zipfile.ZIP_DEFLATED, 6)
        os.replace(partial, out)
    except BaseException:
        with suppress(OSError):
            partial.unlink()
        raise
