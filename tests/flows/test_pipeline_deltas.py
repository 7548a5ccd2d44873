"""A delta file changes what it sends, and the sync reads what it does not send as stored: the
checks of `schemas.validate` that stand on the tenant's stored records (`carried`), wired
through the pipeline (`flows.steps.validate` reads them, and the plan reuses them)."""

import duckdb
import polars as pl
import pytest

from rosterflow.flows.commands import validate
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district
from tests.feeds12 import as_v12, write_feed_12


def _users(warehouse, *external_ids: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select external_id, given_name, role from lms.users "
            "where external_id in (select unnest($ids)) order by external_id",
            {"ids": list(external_ids)},
        ).fetchall()


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_1_2_users_delta_without_the_users_roles_keeps_the_stored_role(tmp_path, full):
    warehouse = tmp_path / "wh.duckdb"
    frames = as_v12(tiny_district())
    first = run_sync(write_feed_12(tmp_path / "a.zip", frames), warehouse, Settings(), "d")
    assert first.outcome == "applied", first.issues
    renamed = (
        frames["users"]
        .filter(pl.col("sourcedId") == "u-t1")
        .with_columns(givenName=pl.lit("Adah"), status=pl.lit("active"))
    )
    delta = write_feed_12(
        tmp_path / "delta.zip",
        {"users": renamed, "roles": frames["roles"].head(0)},
        {"users": "delta", "roles": "delta"},
    )

    result = run_sync(delta, warehouse, Settings(), "d", full=full)

    assert result.outcome == "applied", result.issues
    assert {(e, a): n for e, a, n in result.summary.iter_rows()} == {("user", "update"): 1}
    assert _users(warehouse, "or--u-t1") == [("or--u-t1", "Adah", "teacher")]


def test_an_orgs_delta_removing_a_parent_of_stored_orgs_is_warned_on_its_line(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    district = tiny_district()
    run_sync(write_feed(tmp_path / "a.zip", district), warehouse, Settings(), "d")
    removal = (
        district["orgs"]
        .filter(pl.col("sourcedId") == "d1")
        .with_columns(status=pl.lit("tobedeleted"))
    )
    delta = write_feed(tmp_path / "delta.zip", {"orgs": removal}, modes={"orgs": "delta"})

    result = run_sync(delta, warehouse, Settings(), "d", dry_run=True)

    warned = result.issues.filter(
        (pl.col("rule") == "reference.removed") & (pl.col("file") == "orgs.csv")
    )
    assert warned.select("line", "field", "value", "severity").rows() == [
        (2, "sourcedId", "d1", "warning")
    ]
    assert "s1, s2" in warned["message"][0]


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_schools_of_a_district_an_orgs_delta_removes_lose_their_parent_domain(tmp_path, full):
    """Under `[policy] domains = "inactivate"` (the default) d1's domain stays, inactive: the
    schools kept it as their parent, where the feed's warning said they lose it and a
    warehouse that never held d1 had them without one."""
    warehouse = tmp_path / "wh.duckdb"
    district = tiny_district()
    no_guard = Settings().with_max_removal_share(1.0)
    run_sync(write_feed(tmp_path / "a.zip", district), warehouse, no_guard, "d")
    removal = (
        district["orgs"]
        .filter(pl.col("sourcedId") == "d1")
        .with_columns(status=pl.lit("tobedeleted"))
    )
    delta = write_feed(tmp_path / "delta.zip", {"orgs": removal}, modes={"orgs": "delta"})

    result = run_sync(delta, warehouse, no_guard, "d", full=full)

    assert result.outcome == "applied", result.message
    with duckdb.connect(str(warehouse), read_only=True) as con:
        domains = con.sql(
            "select d.external_id, d.status, p.external_id from lms.domains d "
            "left join lms.domains p on p.domain_id = d.parent_domain_id order by all"
        ).fetchall()
    assert domains == [
        ("or--d1", "inactive", "or--st"),
        ("or--s1", "active", None),
        ("or--s2", "active", None),
        ("or--st", "active", None),
    ]


def test_validate_against_the_warehouse_keeps_a_1_2_delta_user_s_stored_role(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    frames = as_v12(tiny_district())
    run_sync(write_feed_12(tmp_path / "a.zip", frames), warehouse, Settings(), "d")
    renamed = (
        frames["users"]
        .filter(pl.col("sourcedId") == "u-t1")
        .with_columns(
            givenName=pl.lit("Adah"),
            status=pl.lit("active"),
            dateLastModified=pl.lit("2027-01-10T08:00:00.000Z"),
        )
    )
    delta = write_feed_12(
        tmp_path / "delta.zip",
        {"users": renamed, "roles": frames["roles"].head(0)},
        {"users": "delta", "roles": "delta"},
    )

    _, with_warehouse = validate(delta, None, warehouse, "d")
    _, alone = validate(delta, None, None, None)

    # as the sync reads it: the stored role kept, no issue
    assert with_warehouse.ok and with_warehouse.issues.is_empty(), with_warehouse.issues.to_dicts()
    assert with_warehouse.tables["users"]["role"].to_list() == ["teacher"]
    # without the warehouse the role cannot be known: a warning says so
    assert alone.ok
    assert set(alone.issues["rule"]) == {"reference.unverified"}
    role_unknown = alone.issues.filter(pl.col("field") == "sourcedId")
    assert role_unknown.select("file", "line", "value").rows() == [("users.csv", 2, "u-t1")]
