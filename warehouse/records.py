"""The tenant's OneRoster records in the warehouse (the `oneroster` schema), read and written.

A file's records are a base snapshot plus patches: `oneroster.snapshots` holds the base (one
Parquet blob per tenant and file), `oneroster.snapshot_patches` the records each later run
upserted or removed. Reading merges them (the last statement of a sourcedId wins). A run that
changed 1% of a district writes a patch of that 1%; a base is written again when the patches
outgrow a tenth of it, or when a run is planned in full.

`oneroster.derived` keeps what a run derived for the next one to compare against: the hash of
every desired course, the students' grade levels, the file order of teacher enrollments (see
`teacher_order`), and the references every stored record resolves (`closed_references`). A
run's derived state replaces the last one's outright (a frame the run carried through as it
read it keeps its blob, stamped with the run): undo never needs it back (the run after an undo
plans in full).

Every read of a blob column reads the blob of every row in the table's row group, live or
deleted, not only the rows it selects (DuckDB 2.0: a 1 KiB derived frame took 0.24 s to read
beside thirty nights' superseded ones at a million students). So superseded derived state is
not kept; a superseded base or patch keeps its row, with its blob moved to
`oneroster.kept_records`, which only an undo reads; and a deleted row must not linger: DuckDB
drops its bytes when it checkpoints the row group anew, which rows appended to it cause (a
run's new derived state does), and which a table that only lost rows (`restore_records`) gets
by being written again with its live rows (`_drop_deleted_rows`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from rosterflow.schemas.lines import LINE_KEY
from rosterflow.schemas.records import (
    ROW_HASH,
    RecordChanges,
    empty_source,
    in_places,
    with_row_hash,
)
from rosterflow.schemas.spec import SYNCED_FILES

REMOVED = "removed"
# a base is rewritten once its patches hold more records than this share of it
COMPACT_SHARE = 0.1
COMPACT_PATCHES = 50
# the derived state naming the references the stored records hold closed
CLOSED_REFERENCES = "closed_references"
# the derived state of the run's files as lines (`schemas.lines`): their summaries, and the
# lines the next run must find again
LINE_SUMMARIES = "line_summaries"
LINE_MARKS = "line_marks"


@dataclass(frozen=True)
class StoredFile:
    """What the warehouse holds of one file: its base and patches."""

    base_records: int
    fingerprint: str | None  # of the bulk file the base came from
    patch_records: int
    patches: int
    validated_under: str | None  # the settings every part was validated under (None: mixed)
    last_run_id: int = 0  # the run that wrote the base or the newest patch


def stored_files(con: duckdb.DuckDBPyConnection, tenant: str) -> dict[str, StoredFile]:
    rows = con.execute(
        """
        with parts as (
            select file, validated_under, record_count as records, run_id
            from oneroster.snapshot_patches
            where tenant = $tenant and superseded_run_id is null
        )
        select
            base.file,
            base.record_count,
            base.fingerprint,
            coalesce(sum(parts.records), 0),
            count(parts.file),
            case
                when count(parts.file) = count(parts.validated_under)
                    and coalesce(bool_and(parts.validated_under = base.validated_under), true)
                    then base.validated_under
            end,
            greatest(base.run_id, coalesce(max(parts.run_id), 0)),
        from oneroster.snapshots as base
        left join parts on parts.file = base.file
        where base.tenant = $tenant and base.superseded_run_id is null
        group by base.file, base.record_count, base.fingerprint, base.validated_under, base.run_id
        """,
        {"tenant": tenant},
    ).fetchall()
    return {
        file: StoredFile(count, fingerprint, int(patched), patches, under, last)
        for file, count, fingerprint, patched, patches, under, last in rows
    }


def read_blob(blob: bytes, columns: list[str] | None = None) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(blob), columns=columns)


def _blobs(
    con: duckdb.DuckDBPyConnection, tenant: str, names: Iterable[str]
) -> dict[str, list[bytes]]:
    """Per file: the base blob, then each patch blob in run order."""
    rows = con.execute(
        """
        select file, 0 as part, run_id, records from oneroster.snapshots
        where tenant = $tenant and list_contains($names, file) and superseded_run_id is null
        union all
        select file, 1 as part, run_id, records from oneroster.snapshot_patches
        where tenant = $tenant and list_contains($names, file) and superseded_run_id is null
        """,
        {"tenant": tenant, "names": list(names)},
    ).fetchall()
    # ordered here, a handful of rows: DuckDB sorting them copies every blob (at a million
    # students 0.15 s and 0.2 GB more for the 200 MB of users' and enrollments' blobs)
    found: dict[str, list[bytes]] = {}
    for file, _part, _run, blob in sorted(rows, key=lambda row: row[:3]):
        found.setdefault(file, []).append(blob)
    return found


def _merge(base: pl.DataFrame, patches: list[pl.DataFrame]) -> pl.DataFrame:
    """The base with each patch applied in order: a patched sourcedId takes the patch's last
    statement of it, and a `removed` one is dropped."""
    if not patches:
        return base
    # (a part written before records kept their line keys has no such column: null)
    patched = pl.concat(patches, how="diagonal_relaxed").unique(
        "sourcedId", keep="last", maintain_order=True
    )
    kept = base.filter(~pl.col("sourcedId").is_in(patched["sourcedId"].implode()))
    return pl.concat([kept, patched.filter(~pl.col(REMOVED)).drop(REMOVED)], how="diagonal_relaxed")


def _hashed(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Records of a base written before row hashes were stored get theirs now."""
    return frame if ROW_HASH in frame.columns else with_row_hash(name, frame)


def stored_records(
    con: duckdb.DuckDBPyConnection, tenant: str, names: tuple[str, ...] = SYNCED_FILES
) -> dict[str, pl.DataFrame]:
    """The tenant's records per file (run_id, line, the file's columns, row_hash); a file
    never stored is empty. Teacher enrollments carry their place in file order as the last run
    left it (`teacher_order`: their line in a bulk file, or where a delta first sent them)."""
    blobs = _blobs(con, tenant, names)
    records = {}
    for name in names:
        if name not in blobs:
            records[name] = with_row_hash(name, empty_source(name))
            continue
        base, *patches = (read_blob(blob) for blob in blobs[name])
        merged = _merge(_hashed(name, base), [_hashed(name, p) for p in patches])
        records[name] = merged.select(*empty_source(name).columns, ROW_HASH)
    if "enrollments" in names and "enrollments" in blobs:
        order = derived(con, tenant, "teacher_order")
        if order is not None:
            # teacher enrollments in the file order they were first sent in
            records["enrollments"] = in_places(
                records["enrollments"].lazy(), order.lazy()
            ).collect()
    return records


def stored_hashes(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    names: Iterable[str],
    fields: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, pl.DataFrame]:
    """Per stored file: `sourcedId, row_hash` of each record, and the `fields` asked for that
    file (by name), without reading the other fields."""
    blobs = _blobs(con, tenant, names)
    found = {}
    for name, parts in blobs.items():
        columns = ["sourcedId", ROW_HASH, *(fields or {}).get(name, ())]
        frames = []
        for position, blob in enumerate(parts):
            schema = pl.read_parquet_schema(io.BytesIO(blob))
            if ROW_HASH not in schema:
                frame = _hashed(name, read_blob(blob))
            else:
                wanted = [c for c in columns if c in schema] + ([REMOVED] if position else [])
                frame = read_blob(blob, wanted)
            # a column a part lacks (a line key, in a part written before they were kept)
            frames.append(frame.with_columns(_missing(columns, frame.columns)))
        base, *patches = frames
        found[name] = _merge(base, patches).select(columns)
    return found


def _missing(columns: Sequence[str], present: Sequence[str]) -> list[pl.Expr]:
    """Null columns for those of `columns` a stored part does not have: a line key (UInt64)."""
    return [
        pl.lit(None, pl.UInt64 if column == LINE_KEY else pl.String).alias(column)
        for column in columns
        if column not in present
    ]


def stored_ids(
    con: duckdb.DuckDBPyConnection, tenant: str, names: tuple[str, ...] = SYNCED_FILES
) -> dict[str, pl.Series]:
    """sourcedIds the warehouse holds for the tenant, per file (for validation)."""
    hashes = stored_hashes(con, tenant, names)
    empty = pl.Series("sourcedId", [], pl.String)
    return {name: hashes[name]["sourcedId"] if name in hashes else empty for name in names}


def fingerprints(con: duckdb.DuckDBPyConnection, tenant: str) -> dict[str, str | None]:
    """The fingerprint of the bulk file each of the tenant's bases came from."""
    rows = con.execute(
        "select file, fingerprint from oneroster.snapshots "
        "where tenant = ? and superseded_run_id is null",
        [tenant],
    ).fetchall()
    return dict(rows)


# --- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordWrite:
    """How one file's stored records change: a new base (`patch` false: `rows` are all the
    records) or a patch (`rows` are the upserted records, `removed` the sourcedIds that go)."""

    rows: pl.DataFrame
    removed: pl.Series
    patch: bool
    fingerprint: str | None  # of the bulk file a base came from
    validated_under: str | None

    @property
    def record_count(self) -> int:
        return self.rows.height + self.removed.len()


def parquet_blob(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", compression_level=1, statistics=False)
    return buffer.getvalue()


def encode_records(name: str, write: RecordWrite) -> bytes:
    """The Parquet blob of a write: the records of a base, or the records and removals of a
    patch. Pure, and about half a second for a million records (apply encodes each file's
    write inside the run's transaction, once lms is written)."""
    columns = [*empty_source(name).columns, ROW_HASH]
    if LINE_KEY in write.rows.columns:
        columns.append(LINE_KEY)
    if not write.patch:
        return parquet_blob(write.rows.select(columns))
    removed = (
        write.removed.to_frame("sourcedId")
        .join(write.rows.select("sourcedId"), on="sourcedId", how="anti")
        .select(
            *(
                pl.lit(None, dtype).alias(column)
                for column, dtype in write.rows.select(columns).schema.items()
                if column != "sourcedId"
            ),
            "sourcedId",
        )
        .select(columns)
        .with_columns(pl.lit(True).alias(REMOVED))
    )
    patch = pl.concat(
        [write.rows.select(columns).with_columns(pl.lit(False).alias(REMOVED)), removed],
        how="vertical_relaxed",
    )
    return parquet_blob(patch)


def write_records(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    run_id: int,
    name: str,
    write: RecordWrite,
    blob: bytes,
) -> None:
    """Store one file's write (`blob`: its `encode_records`)."""
    key = {"tenant": tenant, "file": name}
    if not write.patch:
        # the records a new base replaces are kept, superseded, so that undoing this run can
        # bring them back
        for table in KEPT_TABLES:
            con.execute(
                "insert into oneroster.kept_records (tenant, source, file, run_id, records) "
                f"select tenant, '{table}', file, run_id, records from oneroster.{table} "
                "where tenant = $tenant and file = $file and superseded_run_id is null",
                key,
            )
            con.execute(
                f"update oneroster.{table} set superseded_run_id = $run_id, records = null "
                "where tenant = $tenant and file = $file and superseded_run_id is null",
                key | {"run_id": run_id},
            )
        con.execute(
            "insert into oneroster.snapshots (tenant, file, run_id, record_count, fingerprint, "
            "records, validated_under) values ($tenant, $file, $run_id, $count, $fingerprint, "
            "$records, $validated_under)",
            key
            | {
                "run_id": run_id,
                "count": write.rows.height,
                "fingerprint": write.fingerprint,
                "records": blob,
                "validated_under": write.validated_under,
            },
        )
        return
    con.execute(
        "insert into oneroster.snapshot_patches (tenant, file, run_id, record_count, "
        "validated_under, records) values "
        "($tenant, $file, $run_id, $count, $validated_under, $records)",
        key
        | {
            "run_id": run_id,
            "count": write.record_count,
            "validated_under": write.validated_under,
            "records": blob,
        },
    )


def needs_compaction(stored: StoredFile | None, patch_records: int) -> bool:
    """Whether a patch of `patch_records` should rather be a new base."""
    if stored is None:
        return True
    patched = stored.patch_records + patch_records
    return patched > COMPACT_SHARE * max(stored.base_records, 1) or (
        stored.patches + 1 >= COMPACT_PATCHES
    )


def record_writes(
    records: Mapping[str, pl.DataFrame],
    changes: Mapping[str, RecordChanges] | None,
    modes: Mapping[str, str],
    fingerprints: Mapping[str, str],
    stored: Mapping[str, StoredFile],
    validated_under: str,
) -> dict[str, RecordWrite]:
    """How the tenant's stored records change after a run: a patch of the records that changed
    (`changes`, when the run was planned incrementally), or a new base (planned in full, a
    first file, patches grown too large, a file validated anew). `records` are the SIS's
    records after the run, `modes` each file's manifest mode, `fingerprints` those of the
    files sent, `validated_under` what this run validated under (`validation_key`)."""
    writes = {}
    nothing = pl.Series("sourcedId", [], pl.String)
    for name in SYNCED_FILES:
        mode = modes.get(name, "absent")
        if mode == "absent":
            continue
        before = stored.get(name)
        lineage = before.validated_under if before is not None else None
        fingerprint = fingerprints.get(name) if mode == "bulk" else None
        # a bulk file's every record is validated now (or was, under these settings); a
        # delta file's records kept from before are as their lineage says
        under = validated_under if mode == "bulk" or lineage == validated_under else None
        base = RecordWrite(records[name], nothing, False, fingerprint, under)
        if changes is None:
            same_file = (
                before is not None
                and fingerprint is not None
                and before.fingerprint == fingerprint
                and before.patches == 0
                and lineage == under
            )
            if not same_file:
                writes[name] = base
            continue
        change = changes[name]
        if lineage != under or needs_compaction(before, change.count):
            writes[name] = base
        elif change.count:
            upserted = records[name].filter(pl.col("sourcedId").is_in(change.changed.implode()))
            writes[name] = RecordWrite(upserted, change.removed, True, None, validated_under)
    return writes


# --- derived state ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DerivedState:
    run_id: int
    settings_key: str | None
    lms_checksum: str | None


def derived_states(con: duckdb.DuckDBPyConnection, tenant: str) -> dict[str, DerivedState]:
    rows = con.execute(
        "select name, run_id, settings_key, lms_checksum from oneroster.derived "
        "where tenant = ? and superseded_run_id is null",
        [tenant],
    ).fetchall()
    return {name: DerivedState(run, key, checksum) for name, run, key, checksum in rows}


def derived(con: duckdb.DuckDBPyConnection, tenant: str, name: str) -> pl.DataFrame | None:
    rows = con.execute(
        "select records from oneroster.derived "
        "where tenant = ? and name = ? and superseded_run_id is null",
        [tenant, name],
    ).fetchall()
    return read_blob(rows[0][0]) if rows else None


def write_derived(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    run_id: int,
    frames: Mapping[str, pl.DataFrame],
    settings_key: str | None,
    checksum: str | None,
    stored: Mapping[str, pl.DataFrame] | None = None,
) -> None:
    """The tenant's derived state after run `run_id`: `frames`, under that run's settings and
    lms checksum. `stored` holds those of the frames as stored now that the run read: a frame
    the run carried through as it read it (the very frame) keeps its blob, stamped with the
    run, rather than being encoded and written again. Any other frame is written, even one of
    the same values: told by identity, no frame costs a comparison, and one derived again
    mostly comes in another row order, which is what must be stored."""
    kept = [name for name, frame in frames.items() if frame is (stored or {}).get(name)]
    if kept:
        stamped = con.execute(
            "update oneroster.derived set run_id = $run_id, settings_key = $settings_key, "
            "lms_checksum = $checksum where tenant = $tenant and list_contains($names, name) "
            "and superseded_run_id is null returning name",
            {
                "tenant": tenant,
                "names": kept,
                "run_id": run_id,
                "settings_key": settings_key,
                "checksum": checksum,
            },
        ).fetchall()
        kept = [name for (name,) in stamped]  # (a row gone since it was read: written)
    written = {name: frame for name, frame in frames.items() if name not in kept}
    if not written:
        return
    con.execute(
        "delete from oneroster.derived where tenant = $tenant and list_contains($names, name)",
        {"tenant": tenant, "names": list(written)},
    )
    for name, frame in written.items():
        con.execute(
            "insert into oneroster.derived (tenant, name, run_id, settings_key, lms_checksum, "
            "record_count, records) values "
            "($tenant, $name, $run_id, $settings_key, $checksum, $count, $records)",
            {
                "tenant": tenant,
                "name": name,
                "run_id": run_id,
                "settings_key": settings_key,
                "checksum": checksum,
                "count": frame.height,
                "records": parquet_blob(frame),
            },
        )


def _drop_deleted_rows(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """oneroster.`table` written again with its live rows, so that no deleted row's blob stays
    for every later read to read (see the module's docstring): with the rows before this
    transaction checkpointed (every sync checkpoints as it closes), the row group that held
    them is left with no live row, and the next checkpoint drops it."""
    con.execute(
        f"""
        create temp table rosterflow_live_rows as select * from oneroster.{table};
        delete from oneroster.{table};
        insert into oneroster.{table} select * from rosterflow_live_rows;
        drop table rosterflow_live_rows;
        """
    )


# --- keeping what runs replaced, for undo -------------------------------------------------------

RECORD_TABLES = ("snapshots", "snapshot_patches", "derived")
# the tables whose superseded rows are kept, their blobs in oneroster.kept_records
KEPT_TABLES = ("snapshots", "snapshot_patches")
KEEP_DAYS = 30


def prune_superseded(con: duckdb.DuckDBPyConnection, tenant: str, days: int = KEEP_DAYS) -> None:
    """Forget what runs older than `days` replaced (their undo can no longer restore it).
    audit's times are UTC: `now()::timestamp` is the machine's local time, which east of UTC
    forgot what undo (`flows.operations`, by UTC) still counted on restoring."""
    old = (
        "superseded_run_id in (select run_id from audit.sync_runs where tenant = $tenant "
        "and started_at < (now() at time zone 'UTC') - to_days($days))"
    )
    key = {"tenant": tenant, "days": days}
    for table in KEPT_TABLES:
        _drop_kept(con, table, f"kept_row.{old}", key)
        con.execute(f"delete from oneroster.{table} where tenant = $tenant and {old}", key)


def later_records(con: duckdb.DuckDBPyConnection, tenant: str, run_id: int) -> bool:
    """Whether a run after `run_id` stored records or derived state for the tenant, or received
    them and stored nothing, being recalled (and was not undone since): then the records are
    those the later runs left, and what `run_id` replaced can no longer simply be brought back.
    A recalled run counts as the run planned in full it stands for, which stores its records
    again: an undo leaves the same records whichever way a later run was planned."""
    recalled = (
        "select run_id from audit.sync_runs where tenant = $tenant and run_id > $run "
        "and planning = 'recalled' and outcome = 'applied' and run_id not in "
        "(select run_id from audit.decisions where decision = 'undone')"
    )
    later = " union all ".join(
        [
            *(
                f"select run_id from oneroster.{table} where tenant = $tenant "
                "and (run_id > $run or superseded_run_id > $run)"
                for table in RECORD_TABLES
            ),
            recalled,
        ]
    )
    found = con.execute(
        f"select count(*) from ({later})", {"tenant": tenant, "run": run_id}
    ).fetchall()
    return found[0][0] > 0


def restore_records(con: duckdb.DuckDBPyConnection, tenant: str, run_id: int) -> None:
    """The tenant's stored records as they were before `run_id` wrote, and no derived state
    (what `run_id` derived goes; what it replaced was not kept)."""
    key = {"tenant": tenant, "run": run_id}
    for table in RECORD_TABLES:
        deleted = con.execute(
            f"delete from oneroster.{table} where tenant = $tenant and run_id = $run", key
        ).fetchone()[0]
        if deleted:
            _drop_deleted_rows(con, table)
    for table in KEPT_TABLES:
        con.execute(
            f"""
            update oneroster.{table} as superseded
            set superseded_run_id = null, records = kept.records
            from oneroster.kept_records as kept
            where superseded.tenant = $tenant and superseded.superseded_run_id = $run
            and kept.tenant = $tenant and kept.source = '{table}'
            and kept.file = superseded.file and kept.run_id = superseded.run_id
            """,
            key,
        )
        _drop_kept(con, table, "kept_row.superseded_run_id is null", {"tenant": tenant})


def _drop_kept(
    con: duckdb.DuckDBPyConnection, table: str, condition: str, params: dict[str, object]
) -> None:
    """The kept blobs of the tenant's rows of oneroster.`table` that meet `condition` (SQL on
    `kept_row`) dropped: rows forgotten, or current again."""
    con.execute(
        f"""
        delete from oneroster.kept_records as kept
        where tenant = $tenant and source = '{table}' and exists (
            select 1 from oneroster.{table} as kept_row
            where kept_row.tenant = $tenant and kept_row.file = kept.file
            and kept_row.run_id = kept.run_id and {condition}
        )
        """,
        params,
    )
