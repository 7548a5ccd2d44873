"""Runs recorded straight into a warehouse file, without a feed: for tests of the warehouse
layer that need runs, lms rows and stored records to read back (tests/states.py supplies the
literal district and its first plan)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import duckdb
import polars as pl

from rosterflow.schemas.changes import EntityPlan, Plan
from rosterflow.schemas.issues import issue_frame, issue_row
from rosterflow.schemas.records import ROW_HASH
from rosterflow.schemas.runs import RunRecord
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.transforms.desired import source_grade_levels
from rosterflow.transforms.incremental import desired_course_hashes, desired_courses
from rosterflow.transforms.source_state import teacher_order
from rosterflow.warehouse.apply import RunWrites, record_run
from rosterflow.warehouse.records import RecordWrite
from rosterflow.warehouse.runs import next_run_id
from tests.states import EMPTY_LMS, TENANT, district, full_plan, records

SETTINGS_KEY = "rosterflow test settings"
CONTENTS = "c0ffee" * 10 + "0000"
STARTED = datetime(2027, 1, 2, 3, 4, 5)
WARNING = issue_frame(
    [issue_row("users.csv", 3, "email", "kim@", "format.email", "warning", "not an email")]
)
NO_ISSUES = WARNING.clear()


def run_record(con: duckdb.DuckDBPyConnection, outcome: str = "applied", **fields) -> RunRecord:
    """The next run of the tenant, as `flows.steps.start_run` starts one."""
    run = RunRecord(
        run_id=next_run_id(con),
        tenant=TENANT,
        feed_name="district.zip",
        feed_sha256="f" * 64,
        started_at=STARTED,
        outcome=outcome,
        content_sha256=CONTENTS,
        settings_key=SETTINGS_KEY,
    )
    return replace(run, **fields)


def first_run_writes(settings: Settings | None = None) -> RunWrites:
    """What the tenant's first run of `district()` writes: its full plan (every row created),
    a new base of every file, and what the next run compares with."""
    settings = settings or Settings()
    source = records(district(), 1)
    plan = full_plan(source, EMPTY_LMS, settings)
    nothing = pl.Series("sourcedId", [], pl.String)
    writes = {
        name: RecordWrite(source[name], nothing, False, f"fingerprint of {name}", SETTINGS_KEY)
        for name in SYNCED_FILES
    }
    derived = {
        "desired_courses": desired_course_hashes(desired_courses(source, settings.hierarchy)),
        "grade_levels": source_grade_levels(source).collect(),
        "teacher_order": teacher_order(source["enrollments"]),
    }
    return RunWrites(plan, writes, derived)


def no_changes() -> Plan:
    """A plan that changes no row (of a tenant whose lms holds the first run's rows)."""
    first = first_run_writes().plan
    return Plan(
        TENANT,
        {
            name: EntityPlan(p.entity, p.changes.clear(), p.managed_active)
            for name, p in first.entities.items()
        },
    )


def apply_first_run(con: duckdb.DuckDBPyConnection, **fields) -> RunRecord:
    """Record the tenant's first run, applied (lms, history, stored records, derived state)."""
    run = run_record(con, "applied", **fields)
    record_run(con, run, WARNING, first_run_writes())
    return run


def stored_hash_frame(name: str) -> pl.DataFrame:
    """`sourcedId, row_hash` of the first run's records of one file."""
    return records(district(), 1)[name].select("sourcedId", ROW_HASH)
