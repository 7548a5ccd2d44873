"""Read a tenant's current state from the warehouse: lms rows, source records, known ids."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from schemas.spec import SYNCED_FILES
from transforms.source_state import empty_source, source_columns
from warehouse.entities import ENTITIES, Entity
from warehouse.schema import connect, scalar


def current_rows(con: duckdb.DuckDBPyConnection, tenant: str, entity: Entity) -> pl.DataFrame:
    """All of the tenant's rows of lms.<entity> (managed and hand-made)."""
    columns = ", ".join(entity.columns)
    rows = con.sql(
        f"select {columns} from lms.{entity.table} where tenant = ?", params=[tenant]
    ).pl()
    return rows.cast(entity.schema)


def current_state(con: duckdb.DuckDBPyConnection, tenant: str) -> dict[str, pl.DataFrame]:
    return {name: current_rows(con, tenant, entity) for name, entity in ENTITIES.items()}


def next_ids(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The first free id of each lms table (ids are unique across tenants)."""
    return {
        name: scalar(con, f"select coalesce(max({entity.id}), 0) + 1 from lms.{entity.table}")
        for name, entity in ENTITIES.items()
    }


def source_state(
    con: duckdb.DuckDBPyConnection, tenant: str, names: tuple[str, ...] = SYNCED_FILES
) -> dict[str, pl.DataFrame]:
    """The SIS's records as last received for the tenant, per OneRoster file."""
    state = {}
    for name in names:
        columns = ", ".join(f'"{c}"' for c in source_columns(name))
        rows = con.sql(
            f"select run_id, line, {columns} from oneroster.{name} where tenant = ? "
            "order by run_id, line",
            params=[tenant],
        ).pl()
        state[name] = rows.cast(empty_source(name).schema) if rows.height else empty_source(name)
    return state


def source_fingerprints(con: duckdb.DuckDBPyConnection, tenant: str) -> dict[str, str | None]:
    """The fingerprint of the bulk file each of the tenant's record sets came from."""
    rows = con.sql(
        "select file, fingerprint from oneroster.files where tenant = ?", params=[tenant]
    )
    return dict(rows.fetchall())


def record_ids(
    con: duckdb.DuckDBPyConnection, tenant: str, names: tuple[str, ...] = SYNCED_FILES
) -> dict[str, pl.Series]:
    """sourcedIds the warehouse holds for the tenant, per OneRoster file (for validation)."""
    return {
        name: con.sql(
            f'select "sourcedId" from oneroster.{name} where tenant = ?', params=[tenant]
        ).pl()["sourcedId"]
        for name in names
    }


def known_ids(warehouse: str | Path, tenant: str) -> dict[str, pl.Series]:
    with connect(warehouse, read_only=True) as con:
        return record_ids(con, tenant)
