"""The platform's gradebook in the warehouse: what an export or a push reads, and the grades run
it records.

`gradebook_inputs` reads what `transforms.gradebook.gradebook` needs: the tenant's line items and
their scores, and of the sync's tables only the courses, users and enrollments those concern,
with the SIS's classes and academic sessions as stored. `with_acknowledged` tells a push which
records the SIS holds already, as they are now (migration 8). `record_grades_run` writes the run
in one transaction: its row in audit.grade_runs, its exclusions, what a push sent, and the
versions of the tenant's gradebook it found, in history (migration 7 says why history is kept
so).
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
    PUSH_OUTCOME_SCHEMA,
    PUSH_RECORD_SCHEMA,
    SCORE_SCHEMA,
    SESSION_SCHEMA,
    USER_SCHEMA,
)
from rosterflow.warehouse.records import stored_hashes
from rosterflow.warehouse.runs import utc_now
from rosterflow.warehouse.schema import ID_FLOOR_SQL, insert_frame, scalar, staged, transaction

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


# the users the scores name, with their role and `result_user_id`: the first user_id the
# tenant's user of that external_id had. A sync under `[policy] users = "delete"` deletes a
# student the SIS stops sending and makes a new row, a new user_id, when it sends them again;
# a result named by the new user_id would be a second result of the student at the SIS for
# the same line item (transforms.gradebook.result_sourced_id). Only a user_id no row holds now
# is taken over (history keeps every ended version: migration 1).
USERS_SQL = """
with

scored as (
    select user_id, external_id, role
    from lms.users
    where tenant = $tenant and user_id in ({students})
),

earlier as (
    select closed.external_id, min(closed.user_id) as user_id
    from history.users_closed as closed
    where closed.tenant = $tenant
        and closed.external_id in (select external_id from scored)
        and closed.user_id not in (select user_id from lms.users where tenant = $tenant)
    group by closed.external_id
),

final as (
    select
        scored.user_id,
        scored.external_id,
        scored.role,
        least(scored.user_id, coalesce(earlier.user_id, scored.user_id)) as result_user_id,
    from scored
    left join earlier on earlier.external_id = scored.external_id
)

select * from final
"""


def gradebook_inputs(con: duckdb.DuckDBPyConnection, tenant: str) -> dict[str, pl.LazyFrame]:
    """The keyword arguments of `transforms.gradebook.gradebook` for the tenant: its line
    items and their scores; of its courses, users and enrollments those the line items and
    scores name (the users with their role and `result_user_id`: `USERS_SQL`); its stored
    classes and academic sessions."""
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
        "users": _rows(con, USERS_SQL.format(students=students), tenant, USER_SCHEMA),
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


# the records of the tenant's the SIS at $destination acknowledged, push by push
ACKNOWLEDGED_PUSHES_SQL = """
select pushes.*
from audit.grade_pushes as pushes
inner join audit.grade_runs as runs on runs.grade_run_id = pushes.grade_run_id
where runs.tenant = $tenant and runs.destination = $destination
    and pushes.outcome = 'sent'
"""


# the records of the tenant's whose PUT to $destination may have been stored, push by push:
# acknowledged, or left unanswered by a push that stopped (a refusal stored nothing)
ATTEMPTED_PUSHES_SQL = """
select pushes.*
from audit.grade_pushes as pushes
inner join audit.grade_runs as runs on runs.grade_run_id = pushes.grade_run_id
where runs.tenant = $tenant and runs.destination = $destination
    and pushes.outcome in ('sent', 'unanswered')
"""


def acknowledged_before(con: duckdb.DuckDBPyConnection, tenant: str, destination: str) -> bool:
    """Whether the SIS at `destination` acknowledged any record of the tenant's before: the
    URL is a gradebook service's, whatever it answers now."""
    return bool(
        con.execute(
            f"select exists ({ACKNOWLEDGED_PUSHES_SQL})",
            {"tenant": tenant, "destination": destination},
        ).fetchone()[0]
    )


def with_acknowledged(
    con: duckdb.DuckDBPyConnection, tenant: str, destination: str, records: pl.DataFrame
) -> pl.DataFrame:
    """`records` (`PUSH_RECORD_SCHEMA`, in their order) with `body_hash`, the md5 of the JSON
    record, and `acknowledged`: whether the body the SIS at `destination` last acknowledged
    for the tenant's record has that very hash (migration 8), and no later push stopped with
    its PUT of the record unanswered (which the SIS may have stored: `sis.push.unanswered`)."""
    positioned = records.cast(PUSH_RECORD_SCHEMA).with_row_index("position")
    with staged(con, "staged_push_records", positioned):
        found = con.sql(
            f"""
            with

            pushes as ({ATTEMPTED_PUSHES_SQL}),

            acknowledged as (
                select entity, sourced_id, arg_max(body_hash, grade_run_id) as body_hash
                from pushes
                group by entity, sourced_id
                having arg_max(outcome, grade_run_id) = 'sent'
            ),

            hashed as (
                select *, md5(record) as body_hash from staged_push_records
            ),

            final as (
                select
                    hashed.*,
                    coalesce(acknowledged.body_hash = hashed.body_hash, false) as acknowledged,
                from hashed
                left join acknowledged
                    on acknowledged.entity = hashed.entity
                    and acknowledged.sourced_id = hashed.sourcedId
            )

            select * from final order by position
            """,
            params={"tenant": tenant, "destination": destination},
        ).pl()
    return found.drop("position")


@dataclass(frozen=True)
class GradesRun:
    """One row of audit.grade_runs in the making."""

    tenant: str
    kind: str  # export | push
    oneroster_version: str
    destination: str
    started_at: datetime
    sent: dict[str, int]  # records sent per OneRoster file: categories, lineItems, results
    outcome: str = "exported"  # exported | pushed | refused | failed
    unchanged: int | None = None  # a push: records not sent, as the SIS holds them already
    refused: int | None = None  # a push: records refused or held back
    message: str | None = None  # a push that stopped: why


def next_grade_run_id(con: duckdb.DuckDBPyConnection) -> int:
    return scalar(
        con,
        f"select greatest(coalesce(max(grade_run_id), 0), {ID_FLOOR_SQL}) + 1 from audit.grade_runs",
    )


def record_grades_run(
    con: duckdb.DuckDBPyConnection,
    run: GradesRun,
    exclusions: pl.DataFrame,
    pushed: pl.DataFrame | None = None,
    read: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> int:
    """Record the run in one transaction: its row, its exclusions, what a push sent or held
    back (`pushed`: `PUSH_OUTCOME_SCHEMA` and `body_hash`), and the tenant's gradebook in
    history: as it is now, or as the run `read` it (its line items and scores, as
    `gradebook_inputs` gave them: a push reads, closes the warehouse while it sends, and records
    what it read). Returns the run's grade_run_id."""
    with transaction(con):
        grade_run_id = next_grade_run_id(con)
        snapshot_gradebook(con, run.tenant, grade_run_id, run.started_at, read)
        if pushed is not None:
            _insert_pushes(con, grade_run_id, pushed)
        excluded = exclusions.cast(EXCLUSION_SCHEMA).select(
            pl.lit(grade_run_id, pl.Int64).alias("grade_run_id"),
            "entity",
            pl.col("sourcedId").alias("sourced_id"),
            "line_item_id",
            "user_id",
            "reason",
            "message",
        )
        insert_frame(con, "audit.grade_exclusions", excluded)
        con.execute(
            "insert into audit.grade_runs (grade_run_id, tenant, kind, oneroster_version, "
            "destination, started_at, finished_at, outcome, categories, line_items, results, "
            "excluded, rosterflow_version, unchanged, refused, message) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                run.unchanged,
                run.refused,
                run.message,
            ],
        )
    return grade_run_id


def _insert_pushes(con: duckdb.DuckDBPyConnection, grade_run_id: int, pushed: pl.DataFrame) -> None:
    rows = pushed.cast(PUSH_OUTCOME_SCHEMA | {"body_hash": pl.String()}).select(
        pl.lit(grade_run_id, pl.Int64).alias("grade_run_id"),
        "entity",
        pl.col("sourcedId").alias("sourced_id"),
        "body_hash",
        pl.col("status").cast(pl.Int32),
        "outcome",
        "reason",
    )
    insert_frame(con, "audit.grade_pushes", rows)


def snapshot_gradebook(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    grade_run_id: int,
    now: datetime,
    read: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> None:
    """Bring history.line_items and history.scores up to the tenant's gradebook (or to the line
    items and scores `read`): close each open version whose row changed or went, open one for
    each row new or changed. Rows are compared whole (`except`: nulls equal), so a row as the
    last run found it keeps its version."""
    if read is not None:
        line_items, scores = read
        with (
            staged(
                con, "read_line_items", line_items.select(*LINE_ITEM_SCHEMA).cast(LINE_ITEM_SCHEMA)
            ),
            staged(con, "read_scores", scores.select(*SCORE_SCHEMA).cast(SCORE_SCHEMA)),
        ):
            _snapshot(con, tenant, grade_run_id, now, "read_line_items", "read_scores")
        return
    _snapshot(
        con,
        tenant,
        grade_run_id,
        now,
        "(select * from lms.line_items where tenant = $tenant)",
        "(select * from lms.scores where line_item_id in "
        "(select line_item_id from lms.line_items where tenant = $tenant))",
    )


def _snapshot(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    grade_run_id: int,
    now: datetime,
    line_items: str,
    scores: str,
) -> None:
    """`snapshot_gradebook` of the tenant's rows of the relations `line_items` and `scores`
    (lms.line_items' and lms.scores' columns, in their order)."""
    params = {"tenant": tenant, "run": grade_run_id, "now": now}
    open_items = (
        f"select * exclude ({VERSION_COLUMNS}) from history.line_items "
        "where tenant = $tenant and valid_to is null"
    )
    items = f"select * from {line_items} as found"
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
    scores = f"select * from {scores} as found"
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
