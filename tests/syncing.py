"""Helpers for sync tests: write a feed, run the plain sync, read the warehouse back."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path

import duckdb
import polars as pl

from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings, parse_settings
from rosterflow.schemas.writer import write_feed

_feed_numbers = itertools.count(1)


def query(warehouse: Path, sql: str) -> list[tuple]:
    """The rows of `sql` in the warehouse file, read-only."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(sql).fetchall()


class Warehouse:
    """A warehouse file in a test's tmp_path, synced feed by feed."""

    def __init__(self, tmp_path: Path, tenant: str = "district") -> None:
        self.dir = tmp_path
        self.path = tmp_path / "warehouse.duckdb"
        self.tenant = tenant

    def sync(
        self,
        frames: Mapping[str, pl.DataFrame],
        *,
        modes: Mapping[str, str] | None = None,
        settings: Settings | dict | None = None,
        tenant: str | None = None,
        dry_run: bool = False,
        recall: bool = True,
        full: bool = False,
    ) -> SyncResult:
        """Write `frames` as a new zip and sync it. `recall=False` plans even a feed the last
        run already applied (the full path, which the shortcut must agree with)."""
        feed = write_feed(self.dir / f"feed-{next(_feed_numbers)}.zip", frames, modes=modes)
        if isinstance(settings, dict):
            settings = parse_settings(settings)
        steps = Steps() if recall else Steps(recall=lambda con, run, lines=None: None)
        return run_steps(
            steps, feed, self.path, settings or Settings(), tenant or self.tenant, dry_run, full
        )

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with duckdb.connect(str(self.path)) as con:
            return con.sql(sql, params=params).pl()

    def execute(self, sql: str, params: list | None = None) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute(sql, params).fetchall()

    def table(self, name: str, tenant: str | None = None) -> pl.DataFrame:
        """lms.<name> (or schema.table) of the tenant, in a stable order."""
        qualified = name if "." in name else f"lms.{name}"
        return self.query(
            f"select * from {qualified} where tenant = ? order by all", [tenant or self.tenant]
        )

    def row(self, table: str, external_id: str) -> dict:
        rows = self.query(
            f"select * from lms.{table} where tenant = ? and external_id = ?",
            [self.tenant, external_id],
        )
        assert rows.height == 1, rows
        return rows.row(0, named=True)

    def changes(self, run_id: int) -> pl.DataFrame:
        return self.query(
            "select entity, external_id, action, detail from audit.changes where run_id = ? "
            "order by entity, external_id",
            [run_id],
        )

    def actions(self, run_id: int) -> set[tuple[str, str, str]]:
        return set(self.changes(run_id).select("entity", "external_id", "action").iter_rows())


def counts(result: SyncResult) -> dict[tuple[str, str], int]:
    return {(e, a): n for e, a, n in result.summary.iter_rows()}


def assert_stored_nowhere(warehouse: Path, secret: str) -> None:
    """No text column of any table rosterflow writes holds `secret`, anywhere in a value."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        text_columns = con.sql(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR' and table_schema in ('lms', 'audit', 'oneroster', 'history')"
        ).fetchall()
        for schema, table, column in text_columns:
            hits = con.execute(
                f'select count(*) from "{schema}"."{table}" where "{column}" like ?',
                [f"%{secret}%"],
            ).fetchone()[0]
            assert hits == 0, (schema, table, column)


def every_row(path: Path) -> dict[str, list[str]]:
    """Every row of every table of the warehouse file, sorted, per table: what an operation on
    another tenant must leave exactly as it was."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute(
            "select schema_name, table_name from duckdb_tables() where not internal order by all"
        ).fetchall()
        return {
            f"{schema}.{table}": sorted(
                map(repr, con.execute(f'select * from "{schema}"."{table}"').fetchall())
            )
            for schema, table in names
        }
