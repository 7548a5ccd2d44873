"""History and audit as analysts query them, after sequences of real syncs, held runs approved
and discarded, undos (and an undo of an undo) into one DuckDB file: every lms row's versions
form a chain, and audit.changes holds each version's change once, under the run that made it."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from rosterflow.flows.operations import approve_run, discard_run, undo_run
from rosterflow.schemas.lms import ENTITIES
from tests.feeds import tiny_district
from tests.syncing import Warehouse

GUARDED = {"safety": {"max_removal_share": 0.1}}


def _with_user(frames: dict[str, pl.DataFrame], sourced_id: str, given: str) -> dict:
    """The district with one more student, a copy of u-s2 enrolled in k3 as e-<sourced_id>."""
    users, enrollments = frames["users"], frames["enrollments"]
    new_user = users.filter(pl.col("sourcedId") == "u-s2").with_columns(
        sourcedId=pl.lit(sourced_id), username=pl.lit(sourced_id), givenName=pl.lit(given)
    )
    new_enrollment = enrollments.filter(pl.col("sourcedId") == "e6").with_columns(
        sourcedId=pl.lit(f"e-{sourced_id}"), userSourcedId=pl.lit(sourced_id)
    )
    return {
        **frames,
        "users": pl.concat([users, new_user]),
        "enrollments": pl.concat([enrollments, new_enrollment]),
    }


def _moved(frames: dict[str, pl.DataFrame], sourced_id: str, school: str) -> dict:
    users = frames["users"].with_columns(
        pl.when(pl.col("sourcedId") == sourced_id)
        .then(pl.lit(school))
        .otherwise(pl.col("orgSourcedIds"))
        .alias("orgSourcedIds")
    )
    return {**frames, "users": users}


def _broken_chains(warehouse: Warehouse) -> pl.DataFrame:
    """Versions of one lms row that overlap, end before they start, or meet without the run
    that ended one being the run that opened the next (a version made by hand, with no
    valid_from, stands at its valid_to, before the version its run opened)."""
    return pl.concat(
        warehouse.query(
            f"""
            with versions as (
                select
                    {entity.id} as id,
                    valid_from,
                    valid_to,
                    closed_run_id,
                    lead(valid_from) over run_order as next_from,
                    lead(opened_run_id) over run_order as next_opened,
                from history.{entity.table}
                window run_order as (
                    partition by {entity.id}
                    order by coalesce(valid_from, valid_to), valid_from nulls first
                )
            )
            select '{name}' as entity, * from versions
            where valid_to <= valid_from
                or (next_from is not null and valid_to is null)
                or next_from < valid_to
                or (next_from = valid_to and closed_run_id is distinct from next_opened)
            """
        )
        for name, entity in ENTITIES.items()
    )


def _versions_without_their_change(warehouse: Warehouse) -> pl.DataFrame:
    """Versions a run opened or closed that audit.changes has no row of, under that run."""
    return pl.concat(
        warehouse.query(
            f"""
            select '{name}' as entity, {entity.id} as id, run_id, side
            from (
                select {entity.id}, opened_run_id as run_id, 'opened' as side
                from history.{entity.table} where valid_from is not null
                union all
                select {entity.id}, closed_run_id, 'closed'
                from history.{entity.table} where closed_run_id is not null
            ) as versions
            anti join audit.changes as changes
                on changes.run_id = versions.run_id
                and changes.entity = '{name}'
                and changes.entity_id = versions.{entity.id}
            """
        )
        for name, entity in ENTITIES.items()
    )


@pytest.mark.slow
def test_history_stays_a_chain_and_each_change_is_in_audit_once(tmp_path: Path):
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    summaries: dict[int, pl.DataFrame] = {}

    def applied(result) -> int:
        assert result.outcome == "applied", result.message
        summaries[result.run_id] = result.summary
        return result.run_id

    applied(warehouse.sync(district))
    moved = _moved(district, "u-s1", "s2")
    applied(warehouse.sync(moved))
    # the students' enrollments leave: held, discarded, sent again, held again and approved
    without_students = {
        **moved,
        "enrollments": moved["enrollments"].filter(pl.col("role") != "student"),
    }
    held = warehouse.sync(without_students, settings=GUARDED)
    assert held.outcome == "held"
    discard_run(warehouse.path, held.run_id)
    held = warehouse.sync(without_students, settings=GUARDED)
    approval = applied(approve_run(warehouse.path, held.run_id))
    undo = applied(undo_run(warehouse.path, approval))
    applied(undo_run(warehouse.path, undo))
    # by changed lines, then in full
    applied(warehouse.sync(_moved(without_students, "u-s2", "s1")))
    applied(warehouse.sync(moved, full=True))
    # rows created, then deleted by an undo, brought back by undoing it, then changed
    created = applied(warehouse.sync(_with_user(moved, "u-s9", "Nine")))
    undo = applied(undo_run(warehouse.path, created))
    applied(undo_run(warehouse.path, undo))
    applied(warehouse.sync(_moved(_with_user(moved, "u-s9", "Nine"), "u-s9", "s1")))

    assert _broken_chains(warehouse).is_empty()
    assert _versions_without_their_change(warehouse).is_empty()
    repeated = warehouse.query(
        "select run_id, entity, entity_id from audit.changes group by all having count(*) > 1"
    )
    assert repeated.is_empty()
    # audit.changes of each applied run is the summary the run printed
    recorded = warehouse.query(
        "select run_id, entity, action, count(*)::uint32 as count from audit.changes "
        "where run_id in (select run_id from audit.sync_runs where outcome = 'applied') "
        "group by all order by all"
    )
    printed = pl.concat(
        summary.select(pl.lit(run_id, pl.Int64).alias("run_id"), "entity", "action", "count")
        for run_id, summary in summaries.items()
    ).sort(pl.all())
    assert recorded.rows() == printed.rows()
    # the creating run's creates are read from the first version, though it was changed since
    assert ("user", "or--u-s9", "create") in warehouse.actions(created)


def test_the_id_of_a_managed_row_deleted_by_hand_is_never_given_to_another_row(
    tmp_path: Path,
):
    """A teacher deleted by hand in the platform, with the highest user id: the next run
    creates a new student and the teacher again, and the new student took the teacher's id,
    so that what refers to that id (the teacher's scores, an analyst's saved list of ids) now
    names another person."""
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    assert warehouse.sync(district).outcome == "applied"
    deleted = warehouse.row("users", "or--u-t2")  # sorts last: the highest user_id
    assert deleted["user_id"] == warehouse.query("select max(user_id) from lms.users").item()
    warehouse.execute("delete from lms.enrollments where user_id = ?", [deleted["user_id"]])
    warehouse.execute("delete from lms.users where user_id = ?", [deleted["user_id"]])

    result = warehouse.sync(_with_user(district, "u-a0", "Ann"), recall=False)
    assert result.outcome == "applied", result.message

    assert warehouse.row("users", "or--u-a0")["user_id"] != deleted["user_id"]
    assert warehouse.row("users", "or--u-t2")["user_id"] != deleted["user_id"]


def test_a_row_deleted_by_hand_takes_its_create_out_of_audit_when_unchanged_since(
    tmp_path: Path,
):
    """docs/reference/warehouse.md: audit.changes reads a run's creates from the versions the
    run opened, so a managed row deleted by hand while that version is current takes the
    create with it; one a later run changed keeps it (the created version has ended)."""
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    first = warehouse.sync(district)
    second = warehouse.sync(_moved(district, "u-s1", "s2"))
    assert ("user", "or--u-s1", "move") in warehouse.actions(second.run_id)
    created = {
        ("user", "or--u-p1", "create"),
        ("user", "or--u-s1", "create"),
    }
    assert created <= warehouse.actions(first.run_id)

    warehouse.execute("delete from lms.users where external_id in ('or--u-p1', 'or--u-s1')")

    assert warehouse.actions(first.run_id) & created == {("user", "or--u-s1", "create")}
