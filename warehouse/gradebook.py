"""The platform's gradebook in the warehouse: what an export reads, and the grades run it records.

`gradebook_inputs` reads what `transforms.gradebook.gradebook` needs: the tenant's line items and
their scores, and of the sync's tables only the courses, users and enrollments those concern,
with the SIS's classes and academic sessions as stored. `record_grades_run` writes the run in one
transaction: its row in audit.grade_runs, its exclusions, and the versions of the tenant's
gradebook it found, in history (migration 7 says why history is kept so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version

import duckdb
import polars as pl

from rosterflow.schemas.gradebook import (
    CLASS_SCHEMA,
    COURSE_SCHEMA,
    ENROLLMENT_SCHEMA,
    EXCLUSION_SCHEMA,
    LINE_ITEM_SCHEMA,
    SCORE_SCHEMA,
    SESSION_SCHEMA,
    USER_SCHEMA,
)
from rosterflow.warehouse.records import stored_hashes
from rosterflow.warehouse.runs import utc_now
from rosterflow.warehouse.schema import ID_FLOOR_SQL, scalar, transaction

VERSION_COLUMNS = "valid_from, valid_to, opened_grade_run_id, closed_grade_run_id"


def has_synced(con: duckdb.DuckDBPyConnection, tenant: str) -> bool:
    """Whether a sync was ever applied to the tenant."""
    return bool(
        scalar(
            con,
            "select count(*) from audit.sync_runs where tenant = ? and outcome = 'applied'",
            [tenant],
        )
    )


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, tenant: str, schema: dict[str, pl.DataType]
) -> pl.LazyFrame:
    return con.sql(sql, params={"tenant": tenant}).pl().cast(schema).lazy()


# what the export reads of the SIS's stored records, per file
STORED_FIELDS = {"classes": CLASS_SCHEMA, "academicSessions": SESSION_SCHEMA}


def gradebook_inputs(con: duckdb.DuckDBPyConnection, tenant: str) -> dict[str, pl.LazyFrame]:
    """The keyword arguments of `transforms.gradebook.gradebook` for the tenant: its line
    items and their scores; of its courses, users and enrollments those the line items and
    scores name; its stored classes and academic sessions."""
    items = "select line_item_id from lms.line_items where tenant = $tenant"
    courses = "select course_id from lms.line_items where tenant = $tenant"
    students = f"select user_id from lms.scores where line_item_id in ({items})"
    stored = stored_hashes(
        con,
        tenant,
        tuple(STORED_FIELDS),
        {name: [c for c in schema if c != "sourcedId"] for name, schema in STORED_FIELDS.items()},
    )
    records = {
        name: (stored[name] if name in stored else pl.DataFrame(schema=schema))
        .select(*schema)
        .cast(schema)
        .lazy()
        for name, schema in STORED_FIELDS.items()
    }
    return {
        "line_items": _rows(
            con,
            f"select {', '.join(LINE_ITEM_SCHEMA)} from lms.line_items where tenant = $tenant",
            tenant,
            LINE_ITEM_SCHEMA,
        ),
        "scores": _rows(
            con,
            f"select {', '.join(SCORE_SCHEMA)} from lms.scores where line_item_id in ({items})",
            tenant,
            SCORE_SCHEMA,
        ),
        "courses": _rows(
            con,
            "select course_id, external_id, kind, title from lms.courses "
            f"where tenant = $tenant and course_id in ({courses})",
            tenant,
            COURSE_SCHEMA,
        ),
        "users": _rows(
            con,
            "select user_id, external_id from lms.users "
            f"where tenant = $tenant and user_id in ({students})",
            tenant,
            USER_SCHEMA,
        ),
        "enrollments": _rows(
            con,
            "select user_id, course_id, external_id, role, status from lms.enrollments "
            f"where tenant = $tenant and course_id in ({courses}) and user_id in ({students})",
            tenant,
            ENROLLMENT_SCHEMA,
        ),
        "classes": records["classes"],
        "sessions": records["academicSessions"],
    }


@dataclass(frozen=True)
class GradesRun:
    """One row of audit.grade_runs in the making."""

    tenant: str
    kind: str  # export
    oneroster_version: str
    destination: str
    started_at: datetime
    sent: dict[str, int]  # records sent per OneRoster file: categories, lineItems, results
    outcome: str = "exported"


def next_grade_run_id(con: duckdb.DuckDBPyConnection) -> int:
    return scalar(
        con,
        f"select greatest(coalesce(max(grade_run_id), 0), {ID_FLOOR_SQL}) + 1 from audit.grade_runs",
    )


def record_grades_run(
    con: duckdb.DuckDBPyConnection, run: GradesRun, exclusions: pl.DataFrame
) -> int:
    """Record the run in one transaction: its row, its exclusions, and the tenant's gradebook
    as it is now, in history. Returns the run's grade_run_id."""
    with transaction(con):
        grade_run_id = next_grade_run_id(con)
        snapshot_gradebook(con, run.tenant, grade_run_id, run.started_at)
        staged = exclusions.cast(EXCLUSION_SCHEMA).select(
            pl.lit(grade_run_id, pl.Int64).alias("grade_run_id"),
            "entity",
            pl.col("sourcedId").alias("sourced_id"),
            "line_item_id",
            "user_id",
            "reason",
            "message",
        )
        con.register("staged_exclusions", staged)
        try:
            con.execute("insert into audit.grade_exclusions select * from staged_exclusions")
        finally:
            con.unregister("staged_exclusions")
        con.execute(
            "insert into audit.grade_runs (grade_run_id, tenant, kind, oneroster_version, "
            "destination, started_at, finished_at, outcome, categories, line_items, results, "
            "excluded, rosterflow_version) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                grade_run_id,
                run.tenant,
                run.kind,
                run.oneroster_version,
                run.destination,
                run.started_at,
                utc_now(),
                run.outcome,
                run.sent.get("categories", 0),
                run.sent.get("lineItems", 0),
                run.sent.get("results", 0),
                exclusions.height,
                version("rosterflow"),
            ],
        )
    return grade_run_id


def snapshot_gradebook(
    con: duckdb.DuckDBPyConnection, tenant: str, grade_run_id: int, now: datetime
) -> None:
    """Bring history.line_items and history.scores up to the tenant's gradebook: close each
    open version whose row changed or went, open one for each row new or changed. Rows are
    compared whole (`except`: nulls equal), so a row as the last run found it keeps its version."""
    params = {"tenant": tenant, "run": grade_run_id, "now": now}
    open_items = (
        f"select * exclude ({VERSION_COLUMNS}) from history.line_items "
        "where tenant = $tenant and valid_to is null"
    )
    items = "select * from lms.line_items where tenant = $tenant"
    con.execute(
        f"""
        update history.line_items as versions
        set valid_to = $now, closed_grade_run_id = $run
        where versions.tenant = $tenant and versions.valid_to is null
            and versions.line_item_id in (
                select line_item_id from ({open_items} except {items})
            )
        """,
        params,
    )
    con.execute(
        f"insert into history.line_items "
        f"select *, $now, null, $run, null from ({items} except {open_items})",
        params,
    )
    open_scores = (
        f"select * exclude (tenant, {VERSION_COLUMNS}) from history.scores "
        "where tenant = $tenant and valid_to is null"
    )
    scores = (
        "select * from lms.scores where line_item_id in "
        "(select line_item_id from lms.line_items where tenant = $tenant)"
    )
    con.execute(
        f"""
        update history.scores as versions
        set valid_to = $now, closed_grade_run_id = $run
        from ({open_scores} except {scores}) as ended
        where versions.tenant = $tenant and versions.valid_to is null
            and versions.line_item_id = ended.line_item_id and versions.user_id = ended.user_id
        """,
        params,
    )
    con.execute(
        f"insert into history.scores "
        f"select *, $tenant, $now, null, $run, null from ({scores} except {open_scores})",
        params,
    )
