"""Warehouses with a realistic roster history for the notebook tests.

`build_demo_warehouse` does what `rosterflow demo` does (CONTRACT §2) with the demo's own
district and edits (`demo.week`): a generated district is synced, changed a week later (a
student leaves, a student moves school, a new teacher takes over a class) and synced again;
then one more feed, broken, is synced and rejected, so that the audit has a rejected run.
The syncs run through `flows.pipeline.run_sync`, the plain path without the Prefect engine.

`operations_warehouse` goes on from there with what an operator does to runs (`rosterflow
approve`, `discard` and `undo`, through `flows.operations`): an export without its students,
held by the removal safety guard, is discarded; sent again, it is held again and approved; the
approval is undone; sent a third time, it is held and waits for a decision. Then the platform
grades two sections' homework and `rosterflow grades push` sends it to a gradebook service
(`demo.gradebook_api`) that refuses one result, a locked grade; a second push sends that result
alone again, and it is refused again.

`months_warehouse` is the demo's history spread over months, as a district's syncs are: the
same three syncs, then one more in which a student leaves, each run started on its own day (the
clock patched), so that the notebooks are seen on data other than the demo's syncs, seconds
apart.

`school_changes_warehouse` (tests/conftest.py, which the documentation's tests share) is a
small district whose students change schools in every way a sync records it
(tests/notebooks/school_changes.py).

`layout_warehouse` is a per-tenant layout (`wh/{tenant}.duckdb`, a file per tenant) holding the
demo's history in one tenant's file and a small district's first sync in another's.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from rosterflow.demo.api import serving
from rosterflow.demo.district import generate_feed
from rosterflow.demo.gradebook_api import GradebookApi
from rosterflow.demo.week import cast_of, student_leaves, week_later
from rosterflow.flows import steps
from rosterflow.flows.commands import push_grades
from rosterflow.flows.operations import approve_run, discard_run, undo_run
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse import runs
from rosterflow.warehouse.schema import connect

DEMO_TENANT = "demo"
DEMO_STUDENTS = 2_400  # as `rosterflow demo`: the smallest district with two schools of a level
DEMO_SEED = 0
DEMO_PROPERTIES = {"source.systemCode": "demo", "source.systemName": "rosterflow demo"}
FIRST_TENANT = "acme"  # sorts before DEMO_TENANT
LAST_TENANT = "zeta"  # sorts after DEMO_TENANT
# when the months warehouse's four runs start (UTC)
MONTHS = (
    datetime(2025, 9, 1, 6, 0),
    datetime(2025, 10, 13, 6, 0),
    datetime(2025, 11, 17, 6, 0),
    datetime(2026, 1, 12, 6, 0),
)


def broken_district(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The district with an enrollment of a user the feed does not know."""
    enrollments = frames["enrollments"]
    stray = (
        enrollments.filter(pl.col("role") == "student")
        .head(1)
        .with_columns(sourcedId=pl.lit("enr-stray"), userSourcedId=pl.lit("usr-nobody"))
    )
    return {**frames, "enrollments": pl.concat([enrollments, stray])}


def without_students(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The district as an export that lost its students: over the removal safety guard."""
    return {
        **frames,
        "users": frames["users"]
        .filter(pl.col("role") != "student")
        .with_columns(pl.lit(None, pl.String).alias("agentSourcedIds")),
        "enrollments": frames["enrollments"].filter(pl.col("role") != "student"),
    }


@contextmanager
def runs_started_at(times: Sequence[datetime]) -> Iterator[None]:
    """Each sync started at the next of `times`: the sync's clock dates its run and the history
    versions it writes; the warehouse's, which dates the run's end, tells the same time."""
    upcoming = iter(times)
    now = times[0]

    def start() -> datetime:
        nonlocal now
        now = next(upcoming)
        return now

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(steps, "utc_now", start)  # a run's start (`start_run`)
        patch.setattr(runs, "utc_now", lambda: now)  # its end (`insert_run`)
        yield


def demo_feeds() -> dict[str, dict[str, pl.DataFrame]]:
    """The demo district, the same a week later, and the same with a broken enrollment."""
    first = generate_feed(DEMO_STUDENTS, seed=DEMO_SEED)
    second = week_later(first, cast_of(first))
    return {"feed-1": first, "feed-2": second, "feed-3-broken": broken_district(second)}


def sync_feeds(
    warehouse: Path, folder: Path, feeds: dict[str, dict[str, pl.DataFrame]], tenant: str
) -> list[SyncResult]:
    results = []
    for name, frames in feeds.items():
        feed = write_feed(folder / f"{name}.zip", frames, properties=DEMO_PROPERTIES)
        results.append(run_sync(feed, warehouse, Settings(), tenant=tenant))
    return results


def build_demo_warehouse(
    warehouse: Path, feeds: Path, *, tenant: str = DEMO_TENANT
) -> list[SyncResult]:
    """Sync the demo district, the same a week later, and a broken feed into `warehouse`."""
    return sync_feeds(warehouse, feeds, demo_feeds(), tenant)


def build_months_warehouse(warehouse: Path, feeds: Path) -> list[SyncResult]:
    """The demo's three syncs and a fourth, in which a student leaves, started at MONTHS."""
    frames = demo_feeds()
    second = frames["feed-2"]
    cast = cast_of(frames["feed-1"])
    leaver = (
        second["users"]
        .filter(
            (pl.col("role") == "student")
            & ~pl.col("sourcedId").is_in([cast.leaver, cast.mover, cast.classmate])
        )
        .item(0, "sourcedId")
    )
    frames["feed-4"] = student_leaves(second, leaver)
    with runs_started_at(MONTHS):
        return sync_feeds(warehouse, feeds, frames, DEMO_TENANT)


@pytest.fixture(scope="session")
def demo_warehouse(built_once) -> Path:
    """A warehouse holding the demo tenant's history: applied, applied, rejected."""

    def build(folder: Path) -> str:
        warehouse = folder / "rosterflow.duckdb"
        results = build_demo_warehouse(warehouse, folder)
        assert [r.outcome for r in results] == ["applied", "applied", "rejected"], [
            (r.outcome, r.message) for r in results
        ]
        return str(warehouse)

    return Path(built_once("demo", build))


@pytest.fixture(scope="session")
def months_warehouse(built_once) -> Path:
    """The demo tenant's history over months: applied, applied, rejected, applied."""

    def build(folder: Path) -> str:
        warehouse = folder / "rosterflow.duckdb"
        results = build_months_warehouse(warehouse, folder)
        assert [r.outcome for r in results] == ["applied", "applied", "rejected", "applied"], [
            (r.outcome, r.message) for r in results
        ]
        return str(warehouse)

    return Path(built_once("months", build))


@pytest.fixture(scope="session")
def empty_warehouse(built_once) -> Path:
    """A migrated warehouse in which nothing has been synced yet."""

    def build(folder: Path) -> str:
        connect(folder / "rosterflow.duckdb").close()
        return str(folder / "rosterflow.duckdb")

    return Path(built_once("empty", build))


@pytest.fixture(scope="session")
def multi_tenant_warehouse(built_once, demo_warehouse: Path) -> Path:
    """The demo warehouse plus a tenant, first in order, whose only run was rejected: the
    notebooks open on a tenant with runs and issues but no history."""

    def build(folder: Path) -> str:
        warehouse = folder / "rosterflow.duckdb"
        shutil.copyfile(demo_warehouse, warehouse)
        feed = write_feed(folder / "acme.zip", broken_district(generate_feed(40, seed=2)))
        result = run_sync(feed, warehouse, Settings(), tenant=FIRST_TENANT)
        assert result.outcome == "rejected", (result.outcome, result.message)
        return str(warehouse)

    return Path(built_once("multi_tenant", build))


@pytest.fixture(scope="session")
def operations_warehouse(built_once, demo_warehouse: Path) -> Path:
    """The demo warehouse plus held runs and decisions about runs, in the demo tenant: a held
    run discarded, a held run approved (by a new run) whose approval was undone (by another),
    and a held run waiting for a decision."""

    def build(folder: Path) -> str:
        warehouse = folder / "rosterflow.duckdb"
        shutil.copyfile(demo_warehouse, warehouse)
        first = generate_feed(DEMO_STUDENTS, seed=DEMO_SEED)
        emptied = without_students(week_later(first, cast_of(first)))

        def held(name: str) -> SyncResult:
            feed = write_feed(folder / f"{name}.zip", emptied, properties=DEMO_PROPERTIES)
            result = run_sync(feed, warehouse, Settings(), tenant=DEMO_TENANT)
            assert result.outcome == "held", (result.outcome, result.message)
            return result

        discard_run(warehouse, held("feed-4-no-students").run_id)
        approved = approve_run(warehouse, held("feed-5-no-students").run_id)
        assert approved.outcome == "applied", (approved.outcome, approved.message)
        undone = undo_run(warehouse, approved.run_id)
        assert undone.outcome == "applied", (undone.outcome, undone.message)
        held("feed-6-no-students")
        push_homework(warehouse)
        return str(warehouse)

    return Path(built_once("operations", build))


LOCKED = "the grade is locked: the term is closed"


def push_homework(warehouse: Path) -> None:
    """The platform grades a homework in two of the tenant's sections, every student enrolled
    there; a push sends it to a gradebook service that refuses the first result (locked), and a
    second push sends that result again, refused again."""
    with connect(warehouse) as con:
        con.execute(
            """
            insert into lms.line_items
                (line_item_id, tenant, course_id, title, due_date, points_possible, category)
            select 7000 + course_id, tenant, course_id, 'Homework 1', date '2026-02-02', 10,
                'Homework'
            from lms.courses
            where tenant = ? and kind = 'section'
            order by course_id
            limit 2
            """,
            [DEMO_TENANT],
        )
        con.execute(
            """
            insert into lms.scores (line_item_id, user_id, score)
            select items.line_item_id, enrollments.user_id, 8
            from lms.line_items as items
            inner join lms.enrollments as enrollments on enrollments.course_id = items.course_id
            where enrollments.role = 'student' and enrollments.status = 'active'
            """
        )
        first = con.execute(
            "select min(line_item_id), min(user_id) from lms.scores "
            "where line_item_id = (select min(line_item_id) from lms.scores)"
        ).fetchall()[0]
    api = GradebookApi(refuse={f"res-{first[0]}-{first[1]}": (403, LOCKED)})
    with serving(api) as root:
        pushed = push_grades(root + api.base_path, warehouse, DEMO_TENANT, None, False, False)
        assert pushed.exit_code == 1 and pushed.not_accepted.height == 1, pushed
        # pushed again, the locked result alone is sent again, and refused again: still one
        # record not accepted, refused by two pushes
        again = push_grades(root + api.base_path, warehouse, DEMO_TENANT, None, False, False)
    assert again.exit_code == 1 and again.not_accepted.height == 1, again
    assert sum(again.sent.values()) == 0, again


@pytest.fixture(scope="session")
def layout_warehouse(built_once) -> str:
    """A layout of two tenant files: a small district registered first (so that its file is
    the one the catalog takes the tables from), then the demo tenant's history; the notebooks
    open on the demo, first in order."""

    def build(folder: Path) -> str:
        template = str(folder / "wh" / "{tenant}.duckdb")
        feed = write_feed(folder / "zeta.zip", generate_feed(40, seed=2))
        result = run_sync(feed, template, Settings(), tenant=LAST_TENANT)
        assert result.outcome == "applied", (result.outcome, result.message)
        results = build_demo_warehouse(Path(template), folder)
        assert [r.outcome for r in results] == ["applied", "applied", "rejected"], [
            (r.outcome, r.message) for r in results
        ]
        return template

    return built_once("layout", build)


@pytest.fixture(scope="session")
def empty_layout_warehouse(built_once) -> str:
    """A layout nobody has synced into yet."""
    return built_once("empty_layout", lambda folder: str(folder / "wh" / "{tenant}.duckdb"))
