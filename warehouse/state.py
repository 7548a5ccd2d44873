"""Read a tenant's current state from the warehouse: lms rows, source records, known ids."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import polars as pl

from schemas.spec import SYNCED_FILES
from transforms.source_state import empty_source
from warehouse.entities import ENTITIES, Entity
from warehouse.schema import connect, scalar


def current_rows(con: duckdb.DuckDBPyConnection, tenant: str, entity: Entity) -> pl.DataFrame:
    """All of the tenant's rows of lms.<entity> (managed and hand-made)."""
    columns = ", ".join(entity.columns)
    rows = con.sql(
        f"select {columns} from lms.{entity.table} where tenant = ?", params=[tenant]
    ).pl()
    return rows.cast(entity.schema)


def lms_checksum(con: duckdb.DuckDBPyConnection, tenant: str) -> str:
    """Row count and a sum of row hashes of the tenant's managed rows, per lms table: any hand
    edit, insert or delete of a managed row changes it."""
    parts = []
    for entity in ENTITIES.values():
        count, total = con.execute(
            f"select count(*), coalesce(sum(hash(rows)), 0) from lms.{entity.table} as rows "
            "where tenant = ? and starts_with(external_id, 'or-')",
            [tenant],
        ).fetchall()[0]
        parts.append(f"{entity.table}:{count}:{total}")
    return ";".join(parts)


def next_ids(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The first free id of each lms table (ids are unique across tenants)."""
    return {
        name: scalar(con, f"select coalesce(max({entity.id}), 0) + 1 from lms.{entity.table}")
        for name, entity in ENTITIES.items()
    }


def _snapshots(
    con: duckdb.DuckDBPyConnection, tenant: str, names: tuple[str, ...]
) -> dict[str, bytes]:
    rows = con.execute(
        "select file, records from oneroster.snapshots where tenant = ? and list_contains(?, file)",
        [tenant, list(names)],
    ).fetchall()
    return dict(rows)


def source_state(
    con: duckdb.DuckDBPyConnection, tenant: str, names: tuple[str, ...] = SYNCED_FILES
) -> dict[str, pl.DataFrame]:
    """The SIS's records as last received for the tenant, per OneRoster file."""
    stored = _snapshots(con, tenant, names)
    return {
        name: pl.read_parquet(io.BytesIO(stored[name])) if name in stored else empty_source(name)
        for name in names
    }


def record_ids(
    con: duckdb.DuckDBPyConnection, tenant: str, names: tuple[str, ...] = SYNCED_FILES
) -> dict[str, pl.Series]:
    """sourcedIds the warehouse holds for the tenant, per OneRoster file (for validation)."""
    stored = _snapshots(con, tenant, names)
    empty = pl.Series("sourcedId", [], pl.String)
    return {
        name: pl.read_parquet(io.BytesIO(stored[name]), columns=["sourcedId"]).to_series()
        if name in stored
        else empty
        for name in names
    }


def source_fingerprints(con: duckdb.DuckDBPyConnection, tenant: str) -> dict[str, str | None]:
    """The fingerprint of the bulk file each of the tenant's record sets came from."""
    rows = con.execute(
        "select file, fingerprint from oneroster.snapshots where tenant = ?", [tenant]
    ).fetchall()
    return dict(rows)


def known_ids(warehouse: str | Path, tenant: str) -> dict[str, pl.Series]:
    with connect(warehouse, read_only=True) as con:
        return record_ids(con, tenant)
