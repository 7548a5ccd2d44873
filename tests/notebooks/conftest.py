"""A warehouse with a realistic roster history for the notebook tests.

`build_demo_warehouse` plays what `rosterflow demo` does (CONTRACT §2): a small district is
synced, changed (a student leaves, a student moves school, a new teacher takes a class) and
synced again; then a broken feed is synced and rejected. When `flows.demo` offers this as a
function, the fixture below becomes a call to it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from flows.pipeline import SyncResult, run_sync
from schemas.settings import Settings
from schemas.writer import write_feed
from transforms.generate import generate_feed

DEMO_TENANT = "demo"
DEMO_STUDENTS = 300


def changed_district(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The district a few weeks later: one student left, one moved school, a teacher joined."""
    users, enrollments, classes = frames["users"], frames["enrollments"], frames["classes"]
    students = users.filter(pl.col("role") == "student").sort("sourcedId")
    leaver = students.item(0, "sourcedId")

    # the mover: a student at the first school, sent to the second one
    schools = classes.get_column("schoolSourcedId").unique().sort()
    old_school, new_school = schools[0], schools[1]
    mover = students.filter(pl.col("orgSourcedIds") == old_school).item(1, "sourcedId")
    new_classes = classes.filter(pl.col("schoolSourcedId") == new_school).sort("sourcedId").head(3)
    template = enrollments.filter(pl.col("role") == "student").head(1)
    mover_enrollments = new_classes.select(
        pl.concat_str(pl.lit(f"enr-{mover}-"), pl.col("sourcedId")).alias("sourcedId"),
        pl.col("sourcedId").alias("classSourcedId"),
        pl.col("schoolSourcedId"),
    ).join(template.drop("sourcedId", "classSourcedId", "schoolSourcedId"), how="cross")
    mover_enrollments = mover_enrollments.with_columns(userSourcedId=pl.lit(mover))

    # a new teacher, primary teacher of the first class of the second school
    teacher_template = users.filter(pl.col("role") == "teacher").head(1)
    new_teacher = teacher_template.with_columns(
        sourcedId=pl.lit("usr-tch-new"),
        orgSourcedIds=pl.lit(new_school),
        username=pl.lit("new.teacher"),
        givenName=pl.lit("Nova"),
        familyName=pl.lit("Newton"),
        email=pl.lit("nova.newton@example.org"),
        identifier=pl.lit("T-NEW"),
    )
    taught = new_classes.item(0, "sourcedId")
    teacher_enrollment = enrollments.filter(pl.col("role") == "teacher").head(1)
    teacher_enrollment = teacher_enrollment.with_columns(
        sourcedId=pl.lit("enr-usr-tch-new"),
        classSourcedId=pl.lit(taught),
        schoolSourcedId=pl.lit(new_school),
        userSourcedId=pl.lit("usr-tch-new"),
        primary=pl.lit("true"),
    )
    # the class's previous primary teacher stays, as a co-teacher
    enrollments = enrollments.with_columns(
        primary=pl.when((pl.col("classSourcedId") == taught) & (pl.col("role") == "teacher"))
        .then(pl.lit("false"))
        .otherwise(pl.col("primary"))
    )

    users = pl.concat(
        [
            users.filter(pl.col("sourcedId") != leaver).with_columns(
                orgSourcedIds=pl.when(pl.col("sourcedId") == mover)
                .then(pl.lit(new_school))
                .otherwise(pl.col("orgSourcedIds")),
                agentSourcedIds=_without(pl.col("agentSourcedIds"), leaver),
            ),
            new_teacher,
        ]
    )
    enrollments = pl.concat(
        [
            enrollments.filter(~pl.col("userSourcedId").is_in([leaver, mover])),
            mover_enrollments.select(enrollments.columns),
            teacher_enrollment,
        ]
    )
    return {**frames, "users": users, "enrollments": enrollments}


def _without(ids: pl.Expr, sourced_id: str) -> pl.Expr:
    """A comma-separated list of sourcedIds less one (null when nothing is left)."""
    kept = ids.str.split(",").list.filter(pl.element() != sourced_id).list.join(",")
    return pl.when(kept != "").then(kept)


def broken_district(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The district with an enrollment of a user the feed does not know."""
    enrollments = frames["enrollments"]
    stray = (
        enrollments.filter(pl.col("role") == "student")
        .head(1)
        .with_columns(sourcedId=pl.lit("enr-stray"), userSourcedId=pl.lit("usr-nobody"))
    )
    return {**frames, "enrollments": pl.concat([enrollments, stray])}


def build_demo_warehouse(
    warehouse: Path, feeds: Path, *, tenant: str = DEMO_TENANT, students: int = DEMO_STUDENTS
) -> list[SyncResult]:
    """Sync a district, a changed district and a broken one into `warehouse`."""
    first = generate_feed(students, seed=1)
    second = changed_district(first)
    third = broken_district(second)
    results = []
    for name, frames in (("day-1", first), ("day-2", second), ("day-3-broken", third)):
        feed = write_feed(feeds / f"{tenant}-{name}.zip", frames)
        results.append(run_sync(feed, warehouse, Settings(), tenant=tenant))
    return results


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse holding the demo tenant's history: applied, applied, rejected."""
    folder = tmp_path_factory.mktemp("demo")
    warehouse = folder / "rosterflow.duckdb"
    results = build_demo_warehouse(warehouse, folder)
    assert [r.outcome for r in results] == ["applied", "applied", "rejected"], [
        (r.outcome, r.message) for r in results
    ]
    return warehouse
