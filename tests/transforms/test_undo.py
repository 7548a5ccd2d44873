"""`undo_changes`: the change set bringing the rows a run changed back to their versions before.

Each case is one user row (or enrollment row) of tenant `district`: its version the run ended
(history, `before`) and its row in lms now (`current`); the expected change is the row after
the undo, named as a sync names such a change. Run 7 is undone.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import EntityPlan, Plan
from rosterflow.schemas.lms import ENROLLMENT, ENTITIES, USER, Entity
from rosterflow.schemas.reads import ExistingIds, ManagedRowsPointingAt, answered
from rosterflow.transforms.undo import (
    cascaded_deletes,
    made_exact,
    points_at,
    referenced_ids,
    undo_changes,
)

RUN = 7
UNDONE = f"undo of run {RUN}"


def user(**fields) -> dict:
    """Sam's row in lms.users as run 5 wrote it."""
    return {
        "user_id": 11,
        "tenant": "district",
        "external_id": "or--u-s1",
        "domain_id": 1,
        "role": "student",
        "username": "sam.stone",
        "given_name": "Sam",
        "family_name": "Stone",
        "email": "sam.stone@example.org",
        "grade_level": "09",
        "login": "u-s1",
        "status": "active",
        "origin": "sync",
        "updated_run_id": 5,
    } | fields


def enrollment(**fields) -> dict:
    return {
        "enrollment_id": 31,
        "tenant": "district",
        "external_id": "or--e2",
        "user_id": 11,
        "course_id": 21,
        "role": "student",
        "is_primary": False,
        "begin_date": date(2026, 8, 15),
        "end_date": None,
        "status": "active",
        "origin": "sync",
        "updated_run_id": 5,
    } | fields


def rows(entity: Entity, *rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=entity.schema)


def changed(entity: Entity, row: dict, action: str, detail: str) -> pl.DataFrame:
    """The expected change: `row` as it is after the undo (no run wrote it yet)."""
    return rows(entity, row | {"updated_run_id": None}).with_columns(
        pl.lit(action).alias("action"), pl.lit(detail).alias("detail")
    )


def nothing(entity: Entity) -> pl.DataFrame:
    return rows(entity).with_columns(
        pl.lit(None, pl.String).alias("action"), pl.lit(None, pl.String).alias("detail")
    )


CASES = {
    # (entity, before the run, in lms now) -> the change undoing the run
    "an update is updated back": (
        USER,
        [user()],
        [user(given_name="Samuel", updated_run_id=RUN)],
        changed(USER, user(), "update", '{"given_name":{"from":"Samuel","to":"Sam"}}'),
    ),
    "a delete is undone by creating the row again under its id": (
        USER,
        [user()],
        [],
        changed(USER, user(), "create", f'{{"reason":"{UNDONE}: the run removed it"}}'),
    ),
    "an inactivate is undone by a reactivate": (
        USER,
        [user()],
        [user(status="inactive", updated_run_id=RUN)],
        changed(USER, user(), "reactivate", '{"status":{"from":"inactive","to":"active"}}'),
    ),
    "a reactivate is undone by an inactivate": (
        USER,
        [user(status="inactive")],
        [user(updated_run_id=RUN)],
        changed(
            USER,
            user(status="inactive"),
            "inactivate",
            '{"status":{"from":"active","to":"inactive"}}',
        ),
    ),
    "a move is moved back": (
        USER,
        [user()],
        [user(domain_id=2, updated_run_id=RUN)],
        changed(USER, user(), "move", '{"domain_id":{"from":2,"to":1}}'),
    ),
    "an adopt gives the row back to the hand that made it": (
        USER,
        [user(origin="manual", given_name="Samuel", updated_run_id=None)],
        [user(updated_run_id=RUN)],
        changed(
            USER,
            user(origin="manual", given_name="Samuel"),
            "update",
            '{"given_name":{"from":"Sam","to":"Samuel"},"origin":{"from":"sync","to":"manual"}}',
        ),
    ),
    "an adopt gives the account its own external ID and last writer back": (
        USER,
        # made by hand under an external ID of its own; run 3 wrote it last (a synced row made
        # a hand-made one)
        [user(external_id="hand-1", origin="manual", given_name="Samuel", updated_run_id=3)],
        [user(updated_run_id=RUN)],
        rows(
            USER,
            user(external_id="hand-1", origin="manual", given_name="Samuel", updated_run_id=3),
        ).with_columns(
            pl.lit("update").alias("action"),
            pl.lit(
                '{"external_id":{"from":"or--u-s1","to":"hand-1"},'
                '"given_name":{"from":"Sam","to":"Samuel"},"origin":{"from":"sync","to":"manual"}}'
            ).alias("detail"),
        ),
    ),
    "an adopt that put the account in a school is undone by an update, no move": (
        USER,
        [user(origin="manual", domain_id=None, updated_run_id=None)],
        [user(updated_run_id=RUN)],
        changed(
            USER,
            user(origin="manual", domain_id=None),
            "update",
            '{"domain_id":{"from":1,"to":null},"origin":{"from":"sync","to":"manual"}}',
        ),
    ),
    "a hand-made row the run deleted comes back as it was": (
        USER,
        [user(origin="manual", updated_run_id=3)],
        [],
        rows(USER, user(origin="manual", updated_run_id=3)).with_columns(
            pl.lit("create").alias("action"),
            pl.lit(f'{{"reason":"{UNDONE}: the run removed it"}}').alias("detail"),
        ),
    ),
    "a create is undone by deleting the row as it is": (
        USER,
        [],
        [user(updated_run_id=RUN)],
        changed(
            USER, user(updated_run_id=RUN), "delete", f'{{"reason":"{UNDONE}: the run created it"}}'
        ),
    ),
    "a withdraw is undone by a reactivate": (
        ENROLLMENT,
        [enrollment()],
        [enrollment(status="withdrawn", updated_run_id=RUN)],
        changed(
            ENROLLMENT,
            enrollment(),
            "reactivate",
            '{"status":{"from":"withdrawn","to":"active"}}',
        ),
    ),
    "a reactivated withdrawn enrollment is withdrawn again": (
        ENROLLMENT,
        [enrollment(status="withdrawn")],
        [enrollment(updated_run_id=RUN)],
        changed(
            ENROLLMENT,
            enrollment(status="withdrawn"),
            "withdraw",
            '{"status":{"from":"active","to":"withdrawn"}}',
        ),
    ),
    "a row changed back by hand since is left alone": (
        USER,
        [user()],
        [user()],
        nothing(USER),
    ),
    "a row made a hand-made one since is never touched": (
        USER,
        [user()],
        [user(given_name="Samuel", origin="manual", updated_run_id=None)],
        nothing(USER),
    ),
}


@pytest.mark.parametrize(("entity", "before", "current", "expected"), CASES.values(), ids=CASES)
def test_undo_changes(entity, before, current, expected):
    touched = pl.DataFrame({"entity_id": [11 if entity is USER else 31]})
    found = undo_changes(
        entity,
        RUN,
        touched,
        rows(entity, *before),
        rows(entity, *current),
        pl.Series("external_id", [], pl.String),
    )
    assert_frame_equal(found, expected)


def test_a_row_whose_external_id_another_row_holds_now_is_not_created_again():
    # run 7 deleted Sam's row; a later run gave or--u-s1 to a row of another id
    found = undo_changes(
        USER,
        RUN,
        pl.DataFrame({"entity_id": [11]}),
        rows(USER, user()),
        rows(USER),
        pl.Series("external_id", ["or--u-s1"]),
    )
    assert_frame_equal(found, nothing(USER))


def test_rows_are_undone_each_once_in_id_order():
    # the run touched two rows (one of them named twice in audit): one updated, one created
    created = user(user_id=12, external_id="or--u-s9", updated_run_id=RUN)
    found = undo_changes(
        USER,
        RUN,
        pl.DataFrame({"entity_id": [12, 11, 12]}),
        rows(USER, user()),
        rows(USER, created, user(email=None, updated_run_id=RUN)),
        pl.Series("external_id", [], pl.String),
    )
    assert_frame_equal(
        found,
        pl.concat(
            [
                changed(
                    USER, user(), "update", '{"email":{"from":null,"to":"sam.stone@example.org"}}'
                ),
                changed(USER, created, "delete", f'{{"reason":"{UNDONE}: the run created it"}}'),
            ]
        ),
    )


def test_rows_pointing_at_rows_the_undo_deletes_are_deleted_as_they_are():
    # a later run enrolled Sam (user 11) in course 21; run 7 created Sam
    pointing = rows(ENROLLMENT, enrollment(updated_run_id=9))
    assert_frame_equal(
        cascaded_deletes(ENROLLMENT, RUN, pointing),
        changed(
            ENROLLMENT,
            enrollment(),
            "delete",
            f'{{"reason":"{UNDONE}: the user or course it points at was deleted"}}',
        ),
    )


def test_a_row_points_at_the_ids_named_through_any_of_its_references():
    enrollments = rows(
        ENROLLMENT,
        enrollment(),
        enrollment(enrollment_id=32, user_id=12, course_id=22),
        enrollment(enrollment_id=33, user_id=13, course_id=None),
    )
    gone = {"user": pl.Series([13]), "course": pl.Series([21])}

    def pointing(ids):
        return enrollments.with_columns(points_at(ENROLLMENT, ids).alias("points"))["points"]

    assert pointing(gone).to_list() == [True, False, True]
    assert pointing({"user": pl.Series([], dtype=pl.Int64)}).to_list() == [False] * 3
    assert {
        target: ids.to_list() for target, ids in referenced_ids(ENROLLMENT, enrollments).items()
    } == {"user": [11, 12, 13], "course": [21, 22]}


def test_an_undo_made_exact_deletes_what_points_at_its_deletions_and_leaves_what_would_dangle():
    # run 7 created Sam (user 11), whom a later run 9 enrolled (enrollment 31); run 7 also
    # deleted enrollment 40 of user 12, whom a later run deleted: it must not come back
    created_back = changed(ENROLLMENT, enrollment(enrollment_id=40, user_id=12), "create", "{}")
    sam_deleted = changed(USER, user(), "delete", "{}")
    undo = Plan("district", {name: EntityPlan(e, nothing(e), 0) for name, e in ENTITIES.items()})
    undo.entities["user"] = EntityPlan(USER, sam_deleted, 0)
    undo.entities["enrollment"] = EntityPlan(ENROLLMENT, created_back, 0)
    asked = []

    def lms_now(read):
        asked.append(read)
        match read:
            case ExistingIds("user", ids):  # user 12 is gone
                return ids.filter(ids != 12)
            case ExistingIds(_, ids):
                return ids
            case ManagedRowsPointingAt("enrollment", deleted, _) if 11 in deleted["user"]:
                return rows(ENROLLMENT, enrollment(updated_run_id=9))
            case ManagedRowsPointingAt(entity, _, _):
                return rows(ENTITIES[entity])

    exact = answered(made_exact(undo, RUN), lms_now)

    assert_frame_equal(
        exact.plan.entities["enrollment"].changes,
        changed(
            ENROLLMENT,
            enrollment(),
            "delete",
            f'{{"reason":"{UNDONE}: the user or course it points at was deleted"}}',
        ),
    )
    assert (exact.cascaded, exact.left_out, exact.later_runs) == (
        {"enrollments": 1},
        {"enrollments": 1},
        [9],
    )
    assert exact.note == (
        "; deleted with the rows they point at: 1 row of lms.enrollments"
        "; not brought back, as a row they would point at is gone: 1 row of lms.enrollments"
    )
    # the plan it was given is left as it was
    assert_frame_equal(undo.entities["enrollment"].changes, created_back)
    assert [
        r.ids.to_list() for r in asked if isinstance(r, ExistingIds) and r.entity == "user"
    ] == [[12]]
