"""The course hierarchy: org base, teacher base and session base courses, then sections.

Pure: OneRoster frames in, desired frames out. The SQL lives in `transforms/sql/` (one file
per output, named CTEs ending in `select * from final`) and runs on a private in-memory DuckDB
over the frames, so nothing here touches the warehouse.
"""

from __future__ import annotations

from importlib import resources

import duckdb
import polars as pl

from schemas.settings import Hierarchy


def _sql(name: str) -> str:
    return (resources.files("transforms") / "sql" / f"{name}.sql").read_text(encoding="utf-8")


def course_hierarchy(
    orgs: pl.DataFrame,
    courses: pl.DataFrame,
    classes: pl.DataFrame,
    users: pl.DataFrame,
    enrollments: pl.DataFrame,
    hierarchy: Hierarchy,
) -> pl.DataFrame:
    """Desired courses: `external_id, domain_external_id, kind, title, base_course_external_id,
    status, teacher_id` (the primary teacher of a teacher or session base course)."""
    # hand DuckDB only the columns and rows the SQL reads: a state's enrollments are millions
    # of rows, of which the teachers' are a few percent
    inputs = {
        "source_orgs": orgs.select("sourcedId", "parentSourcedId"),
        "source_courses": courses.select("sourcedId", "title"),
        "source_classes": classes.select(
            "sourcedId", "status", "title", "courseSourcedId", "schoolSourcedId", "termSourcedIds"
        ),
        "source_users": users.select("sourcedId"),
        "source_enrollments": enrollments.filter(pl.col("role") == "teacher").select(
            "classSourcedId", "userSourcedId", "role", "primary", "run_id", "line"
        ),
    }
    with duckdb.connect() as con:
        for name, frame in inputs.items():
            con.register(name, frame)
        con.execute(f"create temp table class_sections as {_sql('class_sections')}")
        con.execute(f"create temp table org_chains as {_sql('org_chains')}")
        return con.sql(
            _sql("course_hierarchy"),
            params={
                "org_base_courses": hierarchy.org_base_courses,
                "session_base_courses": hierarchy.session_base_courses,
            },
        ).pl()


def base_course_enrollments(courses: pl.LazyFrame) -> pl.LazyFrame:
    """The primary teacher of each teacher and session base course, enrolled as its teacher."""
    return courses.filter(pl.col("teacher_id").is_not_null()).select(
        (pl.col("external_id") + "--teacher").alias("external_id"),
        ("or--" + pl.col("teacher_id")).alias("user_external_id"),
        pl.col("external_id").alias("course_external_id"),
        pl.lit("teacher").alias("role"),
        pl.lit(True).alias("is_primary"),
        pl.lit(None, pl.Date).alias("begin_date"),
        pl.lit(None, pl.Date).alias("end_date"),
        pl.lit("active").alias("status"),
    )
