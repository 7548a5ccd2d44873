"""A small district whose students change schools in every way a sync records it, for the tests
of the notebooks (tests/notebooks) and of the query recipes (tests/docs/test_query.py).

Each step runs at its own time (the clocks patched), two on the first day, so that a question
asked of a date has one right answer. Under `[policy] domains = "delete"` and `courses =
"delete"`, from `generate_feed(40, seed=2)` (Madison High School, org-s-1, and Emerson
Elementary School, org-s-2):

| run | at (UTC)         | what happens |
|-----|------------------|--------------|
| 1   | 2026-09-01 06:00 | the district's first sync |
| 2   | 2026-09-01 18:00 | RETURNER moves to Emerson (`move`); LEAVER leaves (`inactivate`); RENAMED's family name changes (`update`) |
| 3   | 2026-09-02 06:00 | RETURNER moves back to Madison; LEAVER comes back at a new school, Riverside Academy (`reactivate`, with `domain_id` in its detail); ADOPTED, a user made by hand at Emerson with a managed external ID, is taken over into Madison (`adopt`) |
| 4   | 2026-09-03 06:00 | UNDONE moves to Emerson |
| 5   | 2026-09-04 06:00 | `rosterflow undo 4`: UNDONE back at Madison |
| 6   | 2026-09-05 06:00 | Riverside Academy and the section DELETED_SECTION (one of LEAVER's) leave the SIS and are deleted; LEAVER moves to Emerson |
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from rosterflow.demo.district import generate_feed
from rosterflow.demo.week import student_leaves
from rosterflow.flows import operations as flow_operations
from rosterflow.flows import steps
from rosterflow.flows.operations import undo_run
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import parse_settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse import operations as warehouse_operations
from rosterflow.warehouse import runs
from rosterflow.warehouse.schema import connect

TENANT = "demo"
MADISON, EMERSON, RIVERSIDE = "org-s-1", "org-s-2", "org-s-9"
SCHOOL_NAMES = {
    MADISON: "Madison High School",
    EMERSON: "Emerson Elementary School",
    RIVERSIDE: "Riverside Academy",
}
RETURNER = "usr-stu-1"  # Madison → Emerson → Madison
LEAVER = "usr-stu-2"  # Madison, leaves, back at Riverside (a reactivate), Emerson
RENAMED = "usr-stu-3"  # Madison all along, a new family name
UNDONE = "usr-stu-4"  # Madison → Emerson by run 4, which run 5 undoes
ADOPTED = "usr-stu-new"  # made by hand at Emerson, adopted into Madison by run 3
DELETED_SECTION = "cls-9"  # one of LEAVER's sections, deleted by run 6
TIMES = (
    datetime(2026, 9, 1, 6, 0),
    datetime(2026, 9, 1, 18, 0),
    datetime(2026, 9, 2, 6, 0),
    datetime(2026, 9, 3, 6, 0),
    datetime(2026, 9, 4, 6, 0),
    datetime(2026, 9, 5, 6, 0),
)
FIRST_DAY, SECOND_DAY, LAST_DAY = date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 5)
SETTINGS = {"policy": {"domains": "delete", "courses": "delete"}}

Frames = dict[str, pl.DataFrame]


def placed(frames: Frames, placements: dict[str, str]) -> Frames:
    """The district with each student of `placements` in that school (their org)."""
    users = frames["users"]
    school = pl.col("sourcedId").replace_strict(placements, default=pl.col("orgSourcedIds"))
    return {**frames, "users": users.with_columns(school.alias("orgSourcedIds"))}


def without(frames: Frames, file: str, sourced_ids: list[str], column: str = "sourcedId") -> Frames:
    """The district without the rows of `file` whose `column` is one of `sourced_ids`."""
    return {**frames, file: frames[file].filter(~pl.col(column).is_in(sourced_ids))}


def with_riverside(frames: Frames) -> Frames:
    """The district with a third school, Riverside Academy."""
    orgs = frames["orgs"]
    riverside = orgs.filter(pl.col("sourcedId") == MADISON).with_columns(
        sourcedId=pl.lit(RIVERSIDE),
        name=pl.lit(SCHOOL_NAMES[RIVERSIDE]),
        identifier=pl.lit("990000100009"),
    )
    return {**frames, "orgs": pl.concat([orgs, riverside])}


def with_adopted(frames: Frames) -> Frames:
    """The district with one more Madison student, ADOPTED (a copy of RENAMED's row)."""
    users = frames["users"]
    new = users.filter(pl.col("sourcedId") == RENAMED).with_columns(
        sourcedId=pl.lit(ADOPTED),
        username=pl.lit("nina.newman"),
        givenName=pl.lit("Nina"),
        familyName=pl.lit("Newman"),
        email=pl.lit("nina.newman@example.org"),
        identifier=pl.lit(None, pl.String),
        agentSourcedIds=pl.lit(None, pl.String),
    )
    return {**frames, "users": pl.concat([users, new])}


def feeds() -> list[Frames]:
    """What the SIS sends before each of runs 1, 2, 3, 4 and 6."""
    first = generate_feed(40, seed=2)
    second = student_leaves(placed(first, {RETURNER: EMERSON}), LEAVER)
    second = {
        **second,
        "users": second["users"].with_columns(
            pl.when(pl.col("sourcedId") == RENAMED)
            .then(pl.lit("Moralez"))
            .otherwise(pl.col("familyName"))
            .alias("familyName")
        ),
    }
    renamed = second["users"].filter(pl.col("sourcedId") == RENAMED)
    third = with_adopted(with_riverside(placed(first, {LEAVER: RIVERSIDE})))
    third = {
        **third,
        "users": pl.concat([third["users"].filter(pl.col("sourcedId") != RENAMED), renamed]),
    }
    fourth = placed(third, {UNDONE: EMERSON})
    sixth = without(placed(third, {LEAVER: EMERSON}), "orgs", [RIVERSIDE])
    sixth = without(sixth, "classes", [DELETED_SECTION])
    sixth = without(sixth, "enrollments", [DELETED_SECTION], column="classSourcedId")
    sixth = without(sixth, "classResources", [DELETED_SECTION], column="classSourcedId")
    return [first, second, third, fourth, sixth]


@contextmanager
def clock() -> Iterator[Callable[[datetime], None]]:
    """Every clock a run reads (its start and end, a decision's time) at the time set."""
    now = TIMES[0]

    def read() -> datetime:
        return now

    def set_to(when: datetime) -> None:
        nonlocal now
        now = when

    with pytest.MonkeyPatch.context() as patch:
        for module in (steps, runs, flow_operations, warehouse_operations):
            patch.setattr(module, "utc_now", read)
        yield set_to


def make_by_hand(warehouse: Path) -> None:
    """ADOPTED's account, made by hand at Emerson with its managed external ID, as
    docs/explanation/sync.md says to (its id from audit.next_ids)."""
    with connect(warehouse) as con:
        con.execute(
            """
            insert into lms.users (user_id, tenant, external_id, domain_id, role, username,
                given_name, family_name, email, status, origin)
            select next_id, $tenant, 'or--' || $adopted,
                (select domain_id from lms.domains where external_id = 'or--' || $emerson),
                'student', 'nina.hand', 'Nina', 'Newman', 'nina@hand.example.org', 'active',
                'manual'
            from audit.next_ids where table_name = 'users'
            """,
            {"tenant": TENANT, "adopted": ADOPTED, "emerson": EMERSON},
        )


def build_school_changes_warehouse(warehouse: Path, folder: Path) -> list[str]:
    """The runs of the table above; each one's outcome."""
    settings = parse_settings(SETTINGS)
    first, second, third, fourth, sixth = feeds()
    outcomes = []

    def sync(name: str, frames: Frames) -> int:
        feed = write_feed(folder / f"{name}.zip", frames)
        result = run_sync(feed, warehouse, settings, tenant=TENANT)
        outcomes.append(result.outcome)
        assert result.outcome == "applied", (name, result.outcome, result.message)
        return result.run_id

    with clock() as set_clock:
        for at, name, frames in zip(
            TIMES[:4],
            ("feed-1", "feed-2-moved", "feed-3-back", "feed-4-moved"),
            (first, second, third, fourth),
            strict=True,
        ):
            set_clock(at)
            if name == "feed-3-back":
                make_by_hand(warehouse)
            run_id = sync(name, frames)
        set_clock(TIMES[4])
        undone = undo_run(warehouse, run_id)
        outcomes.append(undone.outcome)
        set_clock(TIMES[5])
        sync("feed-6-closed", sixth)
    return outcomes


ROSTER_HISTORY = Path(__file__).resolve().parents[2] / "notebooks" / "roster_history.py"


@contextmanager
def roster_history_run(warehouse: Path, module_name: str) -> Iterator[tuple[ModuleType, dict]]:
    """notebooks/roster_history.py run on `warehouse` (imported as `module_name`), and the
    definitions of its cells."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROSTERFLOW_WAREHOUSE", str(warehouse))
        patch.syspath_prepend(str(ROSTER_HISTORY.parent))  # as marimo does, for `_shared`
        spec = importlib.util.spec_from_file_location(module_name, ROSTER_HISTORY)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # the setup cell reads the variable on import
        _, defs = module.app.run()
        yield module, defs
