"""A run's change set, from the feed's records to the plan.

The SIS's records after the feed come first (`source_state`: bulk files replace, delta files
upsert, absent files keep). When lms and the stored state are exactly as an earlier applied run
left them (`Since`), only the records that changed since, and what depends on them, are planned
(`incremental`); otherwise every record is (`plan`), against all of the tenant's lms rows. Both
give the same change set. The run also derives what the next run compares with: the hash of
every desired course, the students' grade levels, and the file order of teacher enrollments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from rosterflow.schemas.by_lines import MOST_CHANGED
from rosterflow.schemas.changes import Plan
from rosterflow.schemas.reads import Reads, RowsOf
from rosterflow.schemas.records import ROW_HASH, RecordChanges, record_changes
from rosterflow.schemas.settings import Identity, Settings
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.transforms.adoption import LINES_SCHEMA, Adoption, adoptions, new_users
from rosterflow.transforms.desired import desired_state, source_grade_levels
from rosterflow.transforms.incremental import (
    desired_course_hashes,
    desired_courses,
    plan_incremental,
)
from rosterflow.transforms.plan import marked_external_ids, plan_changes
from rosterflow.transforms.source_state import teacher_order


@dataclass(frozen=True)
class Since:
    """What an incremental plan compares with: lms and the stored records exactly as the
    applied run `run_id` left them."""

    run_id: int
    courses: pl.DataFrame  # that run's desired courses: external_id, row_hash
    grades: pl.DataFrame  # its students' grade levels: sourcedId, grade_level
    # per file stored: sourcedId, row_hash (and each enrollment's userSourcedId)
    hashes: Mapping[str, pl.DataFrame]
    # its teacher enrollments in file order (sourcedId, run_id, line), when it stored them
    teacher_order: pl.DataFrame | None = None


@dataclass
class RunPlan:
    plan: Plan
    records: dict[str, pl.DataFrame]  # per file: the SIS's records after the feed
    changes: dict[str, RecordChanges] | None  # per file, since `Since` (None: planned in full)
    derived: dict[str, pl.DataFrame]  # what the next run compares with
    planning: str  # incremental | full
    note: str
    adoption: Adoption = field(default_factory=Adoption)  # accounts new users take over


def plan_run(
    tenant: str,
    records: dict[str, pl.DataFrame],
    modes: Mapping[str, str],
    settings: Settings,
    first_free: Mapping[str, int],
    since: Since | str,
    found: Mapping[str, RecordChanges] | None = None,
    *,
    sent: pl.LazyFrame | None = None,
    marked: Mapping[str, pl.Series] | None = None,
) -> Reads[RunPlan]:
    """The plan of the SIS's `records` after a feed (`source_state.source_records`; per file,
    sent as `modes` says), given the first free id of each lms table. `since` is the basis of
    an incremental plan, or why the run is planned in full, against every lms row of the
    tenant, read as it asks for them (`schemas.reads`). `found` holds the changes validation
    already worked out, per file. `sent` gives the line of each user record the run received
    (`external_id, line`: `transforms.adoption.sent_lines`), on which an issue the plan raises
    stands. `marked` holds per file the sourcedIds of the records the feed marked
    tobedeleted (`source_state.marked_records`): the rows they remove say so in their detail.
    The records are those of a valid feed: no login among the users is empty or shared, the
    stored users a feed without a bulk users.csv keeps included (validation's errors)."""
    removed_by = marked_external_ids(marked or {})
    if isinstance(since, Since):
        changes = _changes_since(since.hashes, records, found or {})
        if _mostly_changed(changes, records):
            note = incremental_note(changes, records, since.run_id)
            since = f"{note}, most of the records: a plan in full costs less"
    if isinstance(since, Since):
        enrollments = since.hashes.get(
            "enrollments", pl.DataFrame(schema={"sourcedId": pl.String, "userSourcedId": pl.String})
        )
        incremental = yield from plan_incremental(
            tenant,
            records,
            changes,
            since.courses,
            since.grades,
            settings.hierarchy,
            first_free,
            settings.policy,
            settings.identity.key,
            enrollments.select("sourcedId", "userSourcedId"),
            identity=settings.identity,
            previous_teacher_order=since.teacher_order,
            sent=sent,
            marked=removed_by,
        )
        return RunPlan(
            incremental.plan,
            records,
            changes,
            _derived(records, incremental.course_hashes, incremental.grades),
            "incremental",
            incremental_note(changes, records, since.run_id),
            incremental.adoption,
        )
    courses = desired_courses(records, settings.hierarchy)
    grades = source_grade_levels(records).collect()
    desired = desired_state(records, settings.hierarchy, courses, grades, settings.identity.key)
    adoption, read = Adoption(), {}
    if settings.identity.adopt_by != "none":
        # the accounts to adopt are among every lms user: read once, for the plan too
        read["user"] = yield RowsOf("user")
        adoption = _adoption(
            desired["user"],
            read["user"],
            settings.identity,
            pl.LazyFrame(schema=LINES_SCHEMA) if sent is None else sent,
        )
    plan = yield from plan_changes(
        tenant, desired, first_free, settings.policy, adoption.matches, removed_by, read
    )
    derived = _derived(records, desired_course_hashes(courses), grades)
    return RunPlan(plan, records, None, derived, "full", since, adoption)


def incremental_note(
    changes: Mapping[str, RecordChanges], records: Mapping[str, pl.DataFrame], run_id: int
) -> str:
    """How many of the SIS's records after the feed changed (new or different) since `run_id`,
    and how many it no longer has: `2 of 1,997 records changed since run 1`, `0 of 256
    records changed and 463 removed since run 1`. A removed record is not among those after
    the feed, so it is counted apart."""
    changed = sum(change.changed.len() for change in changes.values())
    removed = sum(change.removed.len() for change in changes.values())
    total = sum(rows.height for rows in records.values())
    gone = f" and {removed:,} removed" if removed else ""
    return f"{changed:,} of {total:,} records changed{gone} since run {run_id}"


def _mostly_changed(
    changes: Mapping[str, RecordChanges], records: Mapping[str, pl.DataFrame]
) -> bool:
    """Whether most of the SIS's records changed (or went) since the last run: a plan of
    the changed keys then derives and reads by key nearly everything, for more than a plan in
    full, which it equals (`schemas.by_lines.MOST_CHANGED`)."""
    touched = sum(change.count for change in changes.values())
    # (of the records after the feed and those it removed: every record the plan compares)
    removed = sum(change.removed.len() for change in changes.values())
    compared = sum(rows.height for rows in records.values()) + removed
    return touched > compared * MOST_CHANGED


def _adoption(
    desired: pl.DataFrame, tenant_users: pl.DataFrame, identity: Identity, lines: pl.LazyFrame
) -> Adoption:
    """The accounts made by hand that the new users take over, among all of the tenant's
    `tenant_users` (the issues on the records' `lines`)."""
    return adoptions(
        new_users(desired.lazy(), tenant_users.lazy()).collect(), tenant_users, identity, lines
    )


def _changes_since(
    hashes: Mapping[str, pl.DataFrame],
    records: Mapping[str, pl.DataFrame],
    found: Mapping[str, RecordChanges],
) -> dict[str, RecordChanges]:
    """Per file, the records that changed since the stored ones (validation found those of the
    files it compared)."""
    empty = pl.DataFrame(schema={"sourcedId": pl.String, ROW_HASH: pl.UInt64})
    return {
        name: found[name]
        if name in found
        else record_changes(hashes.get(name, empty), records[name])
        for name in SYNCED_FILES
    }


def _derived(
    records: Mapping[str, pl.DataFrame], course_hashes: pl.DataFrame, grades: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    return {
        "desired_courses": course_hashes,
        "grade_levels": grades,
        "teacher_order": teacher_order(records["enrollments"]),
    }
