"""Small tenant states for tests that plan without a warehouse: a district's records as a run
stored them, and the lms rows that run left, as literal frames.

`synced` is a tenant after its first run: the records of a bulk feed, and lms as that run's full
plan left it (applied to an empty lms as warehouse/apply.py applies it). `LiteralCurrent` answers
a plan's reads of lms rows (`schemas.reads`) from those frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from rosterflow.schemas.changes import Plan
from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.lms import ENTITIES, MANAGED_PREFIX
from rosterflow.schemas.reads import CurrentRows, answered
from rosterflow.schemas.records import ROW_HASH, RecordChanges, record_changes
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.transforms.desired import desired_state, source_grade_levels
from rosterflow.transforms.incremental import desired_course_hashes, desired_courses
from rosterflow.transforms.plan import plan_changes
from rosterflow.transforms.source_state import next_source_state
from tests.feeds import frame, tiny_district, with_resources

TENANT = "district"
Frames = dict[str, pl.DataFrame]


def district() -> Frames:
    """tiny_district with two resources, each assigned to a class and to a course."""
    return with_resources(tiny_district())


def records(frames: Frames, run_id: int) -> Frames:
    """Per synced file, the records a bulk feed of `frames` leaves (run_id, line, row_hash);
    a file `frames` lacks has none."""
    return {
        name: next_source_state(
            name,
            None,
            (frames[name] if name in frames else frame(name)).with_columns(
                (pl.int_range(pl.len()) + 2).cast(pl.Int64).alias(LINE)
            ),
            "bulk",
            run_id,
        )
        for name in SYNCED_FILES
    }


def changes_since(stored: Frames, source: Frames) -> dict[str, RecordChanges]:
    """Per synced file, how `source` differs from the `stored` records."""
    return {
        name: record_changes(stored[name].select("sourcedId", ROW_HASH), source[name])
        for name in SYNCED_FILES
    }


class LiteralCurrent(CurrentRows):
    """The lms rows a plan reads (`schemas.reads`), from literal frames (one per entity)."""

    def __init__(self, lms: Frames) -> None:
        self.lms = lms

    def _managed(self, entity: str) -> pl.DataFrame:
        return self.lms[entity].filter(pl.col("external_id").str.starts_with(MANAGED_PREFIX))

    def rows(self, entity: str, external_ids: pl.Series | None = None) -> pl.DataFrame:
        rows = self.lms[entity]
        if external_ids is None:
            return rows
        return rows.filter(pl.col("external_id").is_in(external_ids.implode()))

    def ids(self, entity: str, external_ids: pl.Series) -> pl.DataFrame:
        return (
            self._managed(entity)
            .filter(pl.col("external_id").is_in(external_ids.implode()))
            .select("external_id", ENTITIES[entity].id)
        )

    def pointing_at(self, entity: str, field: str, ids: pl.Series) -> pl.Series:
        return self._managed(entity).filter(pl.col(field).is_in(ids.implode()))["external_id"]

    def managed_active(self, entity: str) -> int:
        return self._managed(entity).filter(pl.col("status") == "active").height


EMPTY_LMS = {name: pl.DataFrame(schema=entity.schema) for name, entity in ENTITIES.items()}


def applied(lms: Frames, plan: Plan, run_id: int) -> Frames:
    """The lms rows after `plan`, as warehouse/apply.py writes them: each changed row replaced
    by the plan's (deleted ones dropped), with the run's id."""
    after = {}
    for name, entity in ENTITIES.items():
        changes = plan.entities[name].changes
        written = changes.filter(pl.col("action") != "delete").with_columns(
            pl.lit(run_id, pl.Int64).alias("updated_run_id")
        )
        after[name] = pl.concat(
            [
                lms[name].join(changes.select(entity.id), on=entity.id, how="anti"),
                written.select(entity.columns),
            ]
        )
    return after


def first_free(lms: Frames) -> dict[str, int]:
    """The first free id of each entity (as `warehouse.state.next_ids`, without history)."""
    return {n: (lms[n][e.id].max() or 0) + 1 for n, e in ENTITIES.items()}


def full_plan(source: Frames, lms: Frames, config: Settings) -> Plan:
    """`plan_changes` of the records `source` against the lms rows `lms`."""
    return answered(
        plan_changes(
            TENANT,
            desired_state(source, config.hierarchy, identity_key=config.identity.key),
            first_free(lms),
            config.policy,
        ),
        LiteralCurrent(lms).answer,
    )


@dataclass
class Synced:
    """What the last run left: the records it stored, lms, its desired courses' hashes and its
    students' grade levels."""

    records: Frames
    lms: Frames
    courses: pl.DataFrame
    grades: pl.DataFrame
    config: Settings

    @property
    def hashes(self) -> Frames:
        """Per file, `sourcedId, row_hash` of the stored records (and each enrollment's
        `userSourcedId`), as `warehouse.basis.stored_state` reads them."""
        return {
            name: rows.select(
                "sourcedId", ROW_HASH, *(["userSourcedId"] if name == "enrollments" else [])
            )
            for name, rows in self.records.items()
        }


def synced(frames: Frames, config: Settings) -> Synced:
    """A tenant whose first run applied a bulk feed of `frames`."""
    stored = records(frames, 1)
    lms = applied(EMPTY_LMS, full_plan(stored, EMPTY_LMS, config), 1)
    courses = desired_course_hashes(desired_courses(stored, config.hierarchy))
    return Synced(stored, lms, courses, source_grade_levels(stored).collect(), config)


_synced: dict[tuple, Synced] = {}


def synced_once(before: Callable[[Frames], Frames] | None, config: Settings) -> Synced:
    """`synced`, of `district()` as `before` changes it, once per test session (tests only
    read it)."""
    key = (before, config.model_dump_json())
    if key not in _synced:
        _synced[key] = synced(district() if before is None else before(district()), config)
    return _synced[key]
