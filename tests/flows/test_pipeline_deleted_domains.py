"""A school that leaves the SIS under `[policy] domains = "delete"` while lms keeps rows in it
(its teacher inactivated, its courses kept): the run deletes the domain as the setting says,
and warns on the school's record of every row left pointing at no domain."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from tests.feeds import tiny_district
from tests.syncing import Warehouse

SETTINGS = {"policy": {"domains": "delete"}, "safety": {"max_removal_share": 1}}


def without_south_high(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """tiny_district without South High (s2), its course, class, teacher and enrollments:
    Kim (u-s2), of both schools, stays at North High."""
    return district | {
        "orgs": district["orgs"].filter(pl.col("sourcedId") != "s2"),
        "courses": district["courses"].filter(pl.col("orgSourcedId") != "s2"),
        "classes": district["classes"].filter(pl.col("schoolSourcedId") != "s2"),
        "enrollments": district["enrollments"].filter(pl.col("schoolSourcedId") != "s2"),
        "users": district["users"]
        .filter(pl.col("sourcedId") != "u-t2")
        .with_columns(pl.col("orgSourcedIds").str.replace(",s2", "")),
    }


def homeless(warehouse: Warehouse) -> dict[str, int]:
    """How many of the tenant's users and courses point at a domain that does not exist."""
    return {
        table: warehouse.query(
            f"select count(*) as n from lms.{table} where tenant = ? and domain_id is not null "
            "and domain_id not in (select domain_id from lms.domains)",
            [warehouse.tenant],
        )["n"][0]
        for table in ("users", "courses")
    }


@pytest.mark.slow
def test_the_rows_a_deleted_school_leaves_behind_are_warned_of_as_in_full(tmp_path):
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    warehouse.sync(district, settings=SETTINGS)
    south = warehouse.row("domains", "or--s2")["domain_id"]
    oracle = Warehouse(tmp_path / "full")
    oracle.dir.mkdir()
    shutil.copyfile(warehouse.path, oracle.path)

    ran = warehouse.sync(without_south_high(district), settings=SETTINGS)
    full = oracle.sync(without_south_high(district), settings=SETTINGS, full=True)

    assert ran.planning == "incremental" and full.planning == "full"
    assert ran.outcome == full.outcome == "applied"
    assert ("domain", "delete") in {(e, a) for e, a, _ in ran.summary.iter_rows()}
    # what the warning says is what lms is left with: Alan (u-t2) inactivated, the section
    # k3 and its org, teacher and session base courses kept, all in a domain that is gone
    assert homeless(warehouse) == {"users": 1, "courses": 4}
    warned = ran.issues.filter(pl.col("rule") == "domain.delete_leaves_rows")
    assert warned.select("file", "field", "value", "severity").rows() == [
        ("orgs.csv", "sourcedId", "s2", "warning")
    ]
    assert warned["message"][0].startswith(
        f"domain {south} (s2) is deleted with rows still in it: 1 user, 4 courses"
    )
    assert ran.issues.equals(full.issues)
    # the warning is recorded with the run, for the audit notebook and `rosterflow runs`
    recorded = warehouse.query("select rule from audit.issues where run_id = ?", [ran.run_id])[
        "rule"
    ]
    assert recorded.to_list() == ["domain.delete_leaves_rows"]
    # the same feed again deletes nothing: recalled, with none of the plan's warnings
    again = warehouse.sync(without_south_high(district), settings=SETTINGS)
    assert again.planning == "recalled" and again.issues.height == 0


def test_a_school_that_leaves_with_everything_in_it_deleted_is_not_warned_of(tmp_path):
    warehouse = Warehouse(tmp_path)
    settings = SETTINGS | {"policy": {"domains": "delete", "users": "delete", "courses": "delete"}}
    district = tiny_district()
    warehouse.sync(district, settings=settings)
    ran = warehouse.sync(without_south_high(district), settings=settings)
    assert ran.outcome == "applied"
    assert homeless(warehouse) == {"users": 0, "courses": 0}
    assert ran.issues.filter(pl.col("rule") == "domain.delete_leaves_rows").height == 0
