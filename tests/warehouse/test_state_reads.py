"""The reads of lms that a plan makes by key (`warehouse.state`), held to what the same rows read
whole say: each table read its own way (by rowid in two passes, or in one) finds the same rows."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.guard import SCHOOL_REMOVALS_SCHEMA
from rosterflow.schemas.lms import ENTITIES, MANAGED_PREFIX
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import WarehouseCurrent, current_rows, school_removals
from tests.feeds import tiny_district
from tests.syncing import Warehouse


def _two_tenants(tmp_path) -> Warehouse:
    """The tiny district synced as `district` and as `other` (every external ID in both)."""
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(tiny_district()).outcome == "applied"
    assert warehouse.sync(tiny_district(), tenant="other").outcome == "applied"
    return warehouse


@pytest.mark.slow  # (the reads' equivalence; the plan's tests read through them)
def test_the_rows_and_ids_of_keys_are_those_of_each_table_read_whole(tmp_path):
    """Rows made by hand beside the managed ones of every table: one that shares a managed
    row's external ID (found with it by `rows`, left out by `ids`), one of another external ID,
    one of none; the other tenant's rows of the same keys are never found, nor a key lms lacks,
    nor a null key."""
    warehouse = _two_tenants(tmp_path)
    keys, sharing = {}, {}
    for entity, table in ENTITIES.items():
        managed = warehouse.query(
            f"select external_id from lms.{table.table} where tenant = 'district' "
            "order by external_id"
        )["external_id"]
        shared = managed[0] if managed.len() else f"{MANAGED_PREFIX}-shared"
        # (the tiny district has no resources: then the hand-made row alone has the key)
        sharing[entity] = (shared, 2 if managed.len() else 1)
        warehouse.execute(
            f"insert into lms.{table.table} ({table.id}, tenant, external_id, status, origin) "
            "values (9901, 'district', ?, 'active', 'manual'), "
            "(9902, 'district', 'hand-made', 'active', 'manual'), "
            "(9903, 'district', null, 'active', 'manual'), "
            "(9904, 'other', 'hand-made', 'active', 'manual')",
            [shared],
        )
        keys[entity] = pl.Series(
            "external_id",
            [*managed.gather_every(2), shared, "hand-made", f"{MANAGED_PREFIX}-nowhere", None],
            pl.String,
        )

    with connect(warehouse.path, read_only=True) as con:
        current = WarehouseCurrent(con, "district")
        for entity, table in ENTITIES.items():
            whole = current_rows(con, "district", table)
            rows, ids = current.rows(entity, keys[entity]), current.ids(entity, keys[entity])
            expected = whole.filter(pl.col("external_id").is_in(keys[entity].implode()))
            assert_frame_equal(rows, expected, check_row_order=False)
            # the hand-made row of a managed row's external ID, and the managed row
            shared, rows_sharing = sharing[entity]
            assert rows.filter(pl.col("external_id") == shared).height == rows_sharing, entity
            assert_frame_equal(
                ids,
                expected.filter(pl.col("external_id").str.starts_with(MANAGED_PREFIX)).select(
                    "external_id", table.id
                ),
                check_row_order=False,
            )


def _expected_removals(
    con, tenant: str, name: str, placed: pl.DataFrame, rows: pl.DataFrame
) -> pl.DataFrame:
    """Per school of the removals `placed` (domain_id): how many, and how many active managed
    `rows` (domain_id) the tenant has there, as Polars counts them from lms read whole."""
    active = rows.filter(
        pl.col("external_id").str.starts_with(MANAGED_PREFIX), pl.col("status") == "active"
    )
    schools = current_rows(con, tenant, ENTITIES["domain"]).select(
        "domain_id", pl.col("name").alias("school")
    )
    return (
        placed.group_by("domain_id")
        .agg(pl.len().alias("removed"))
        .join(
            active.group_by("domain_id").agg(pl.len().alias("active")),
            on="domain_id",
            how="left",
        )
        .join(schools, on="domain_id", how="left")
        .select(
            pl.lit(name).alias("entity"),
            "domain_id",
            "school",
            "removed",
            pl.col("active").fill_null(0),
        )
        .cast(SCHOOL_REMOVALS_SCHEMA)
        .sort("domain_id", nulls_last=True)
    )


@pytest.mark.slow  # (the reads' equivalence; the plan's tests read through them)
def test_a_school_s_removals_count_its_active_managed_rows_of_the_tenant_alone(tmp_path):
    """Users by their domain, enrollments by their course's: a row made by hand, an inactive
    one and another tenant's are not among a school's active rows; a removal placed in no
    domain is a school of its own (no name, none active), one in a school without active
    managed rows counts none, one whose course lms lacks is placed nowhere. Users first, then
    enrollments, each in domain order."""
    warehouse = _two_tenants(tmp_path)
    # a school with managed users (and so enrollments in its classes)
    some_school = warehouse.query(
        "select min(domain_id) as id from lms.users where tenant = 'district' "
        "and starts_with(external_id, 'or-')"
    )["id"].item()
    warehouse.execute(
        "insert into lms.domains (domain_id, tenant, external_id, name, status, origin) values "
        "(9800, 'district', 'hand-school', 'Annex', 'active', 'manual')"
    )
    warehouse.execute(
        "insert into lms.users (user_id, tenant, external_id, domain_id, status, origin) values "
        "(9901, 'district', 'hand-1', ?, 'active', 'manual'), "
        "(9902, 'district', null, ?, 'active', 'manual'), "
        "(9903, 'district', 'hand-2', 9800, 'active', 'manual'), "
        "(9904, 'other', 'or--u-elsewhere', ?, 'active', 'sync')",
        [some_school, some_school, some_school],
    )
    a_course = warehouse.query("select min(course_id) from lms.courses where tenant = 'district'")
    warehouse.execute(
        "insert into lms.enrollments (enrollment_id, tenant, external_id, user_id, course_id, "
        "status, origin) values (9905, 'other', 'or--e-elsewhere', 9904, ?, 'active', 'sync'), "
        "(9906, 'district', 'hand-3', 9901, ?, 'active', 'manual')",
        [a_course.item(), a_course.item()],
    )
    warehouse.execute(
        "update lms.enrollments set status = 'inactive' where enrollment_id = "
        "(select max(enrollment_id) from lms.enrollments where tenant = 'district' "
        "and starts_with(external_id, 'or-'))"
    )
    warehouse.execute(
        "update lms.users set status = 'inactive' where tenant = 'district' and user_id = "
        "(select max(user_id) from lms.users where tenant = 'district' and domain_id = ? "
        "and starts_with(external_id, 'or-'))",
        [some_school],
    )

    with connect(warehouse.path, read_only=True) as con:
        users = current_rows(con, "district", ENTITIES["user"])
        enrollments = current_rows(con, "district", ENTITIES["enrollment"])
        courses = current_rows(con, "district", ENTITIES["course"])
        removed_users = pl.concat(
            [
                users.filter(pl.col("external_id").str.starts_with(MANAGED_PREFIX)),
                users.head(1).with_columns(pl.lit(None, pl.Int64).alias("domain_id")),
                users.head(1).with_columns(pl.lit(9800, pl.Int64).alias("domain_id")),
            ]
        )
        removed_enrollments = pl.concat(
            [
                enrollments.filter(pl.col("status") == "active"),
                enrollments.head(1).with_columns(pl.lit(424242, pl.Int64).alias("course_id")),
            ]
        )
        found = school_removals(
            con, "district", {"user": removed_users, "enrollment": removed_enrollments}
        )
        none = school_removals(con, "district", {"user": removed_users.clear()})
        placed = removed_enrollments.join(
            courses.select("course_id", "domain_id"), on="course_id", how="inner"
        )
        expected = pl.concat(
            [
                _expected_removals(
                    con, "district", "user", removed_users.select("domain_id"), users
                ),
                _expected_removals(
                    con,
                    "district",
                    "enrollment",
                    placed.select("domain_id"),
                    enrollments.join(
                        courses.select("course_id", "domain_id"), on="course_id", how="inner"
                    ),
                ),
            ]
        )

    assert_frame_equal(found, expected)
    assert found.filter(pl.col("domain_id").is_null()).rows() == [("user", None, None, 1, 0)]
    assert found.filter(pl.col("domain_id") == 9800)["active"].to_list() == [0]
    assert set(found["entity"]) == {"user", "enrollment"}
    assert none.height == 0 and none.schema == found.schema
