"""The change set's views: the summary, audit rows, created id ranges, entity order.

A plan here holds, per entity, only the columns these views read: the entity's id, the
external ID, the action and the detail.
"""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.changes import EntityPlan, Plan, in_entity_order
from rosterflow.schemas.lms import ENTITIES

SUMMARY_SCHEMA = {"entity": pl.String, "action": pl.String, "count": pl.UInt32}


def entity_changes(name: str, *rows: tuple[int, str, str, str | None]) -> EntityPlan:
    """(id, external_id, action, detail) rows of one entity."""
    entity = ENTITIES[name]
    changes = pl.DataFrame(
        rows,
        schema={
            entity.id: pl.Int64,
            "external_id": pl.String,
            "action": pl.String,
            "detail": pl.String,
        },
        orient="row",
    )
    return EntityPlan(entity, changes, managed_active=3)


def plan(*entity_plans: EntityPlan) -> Plan:
    return Plan("district", {p.entity.name: p for p in entity_plans})


MOVED = '{"domain_id":{"from":1,"to":2}}'
GONE = '{"reason":"not in the feed"}'
# in the order a plan holds its entities: dependency order
PLAN = plan(
    entity_changes(
        "user",
        (201, "or--u-s3", "create", None),
        (11, "or--u-s1", "move", MOVED),
        (200, "or--u-s2", "create", None),
    ),
    entity_changes(
        "enrollment",
        (31, "or--e1", "inactivate", GONE),
        (32, "or--e2", "inactivate", GONE),
    ),
    entity_changes("observer"),
    entity_changes("class_resource", (700, "or--cr3", "create", None)),
)


def summary(*rows: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA, orient="row")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (summary(), summary()),
        (
            summary(
                ("course_resource", "create", 1),
                ("user", "update", 2),
                ("domain", "delete", 1),
                ("user", "create", 4),
                ("enrollment", "adopt", 1),
            ),
            summary(
                ("domain", "delete", 1),
                ("user", "create", 4),
                ("user", "update", 2),
                ("enrollment", "adopt", 1),
                ("course_resource", "create", 1),
            ),
        ),
    ],
)
def test_in_entity_order(given, expected):
    assert_frame_equal(in_entity_order(given), expected)


@pytest.mark.parametrize(
    ("planned", "expected"),
    [
        (Plan("district"), summary()),
        (plan(entity_changes("user"), entity_changes("course")), summary()),
        (
            PLAN,
            summary(
                ("user", "create", 2),
                ("user", "move", 1),
                ("enrollment", "inactivate", 2),
                ("class_resource", "create", 1),
            ),
        ),
    ],
    ids=["no entities", "no changes", "changes"],
)
def test_summary_counts_changes_per_entity_and_action(planned, expected):
    assert_frame_equal(planned.summary(), expected)


def test_change_count():
    assert PLAN.change_count == 6
    assert Plan("district").change_count == 0


AUDIT_SCHEMA = {
    "run_id": pl.Int64,
    "entity": pl.String,
    "external_id": pl.String,
    "action": pl.String,
    "detail": pl.String,
    "entity_id": pl.Int64,
}


@pytest.mark.parametrize(
    ("creates", "expected"),
    [
        (
            True,
            [
                (7, "user", "or--u-s3", "create", None, 201),
                (7, "user", "or--u-s1", "move", MOVED, 11),
                (7, "user", "or--u-s2", "create", None, 200),
                (7, "enrollment", "or--e1", "inactivate", GONE, 31),
                (7, "enrollment", "or--e2", "inactivate", GONE, 32),
                (7, "class_resource", "or--cr3", "create", None, 700),
            ],
        ),
        (
            False,
            [
                (7, "user", "or--u-s1", "move", MOVED, 11),
                (7, "enrollment", "or--e1", "inactivate", GONE, 31),
                (7, "enrollment", "or--e2", "inactivate", GONE, 32),
            ],
        ),
    ],
    ids=["every change", "all but the creates"],
)
def test_audit_rows(creates, expected):
    assert_frame_equal(
        PLAN.audit_rows(7, creates=creates),
        pl.DataFrame(expected, schema=AUDIT_SCHEMA, orient="row"),
    )


CREATED_SCHEMA = {"entity": pl.String, "first_id": pl.Int64, "last_id": pl.Int64, "rows": pl.Int64}


@pytest.mark.parametrize(
    ("planned", "expected"),
    [
        (plan(entity_changes("user"), entity_changes("course")), []),
        (
            PLAN,
            # entities that created no row are left out
            [("user", 200, 201, 2), ("class_resource", 700, 700, 1)],
        ),
        (
            # ids not consecutive: a range and its row count tell so
            plan(
                entity_changes(
                    "course", (300, "or--k1", "create", None), (305, "or--k2", "create", None)
                )
            ),
            [("course", 300, 305, 2)],
        ),
    ],
    ids=["none", "per entity", "gaps"],
)
def test_created_ids(planned, expected):
    assert_frame_equal(
        planned.created_ids(), pl.DataFrame(expected, schema=CREATED_SCHEMA, orient="row")
    )


def test_a_plan_of_no_entity_has_no_audit_rows_and_created_nothing():
    empty = Plan("north")
    assert empty.audit_rows(7).is_empty() and empty.audit_rows(7).columns == [
        "run_id",
        "entity",
        "external_id",
        "action",
        "detail",
        "entity_id",
    ]
    assert empty.created_ids().is_empty()
    assert empty.summary().is_empty()
