"""OneRoster 1.2's userResources.csv, a resource assigned to one user: validated like the other
content files, synced into nothing, as docs/explanation/resources.md says."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district, with_resources
from tests.feeds12 import as_v12, frame12, write_feed_12

RESOURCES_PAGE = Path(__file__).resolve().parents[2] / "docs/explanation/resources.md"
TENANT = "north"
LMS_TABLES = ("users", "resources", "class_resources", "course_resources", "enrollments")


def user_resources(*resources: str) -> pl.DataFrame:
    """userResources.csv assigning each of `resources` to student u-s1 in class k1."""
    return frame12(
        "userResources",
        *(
            {
                "sourcedId": f"ur-{n}",
                "userSourcedId": "u-s1",
                "classSourcedId": "k1",
                "resourceSourcedId": resource,
            }
            for n, resource in enumerate(resources)
        ),
    )


def lms(warehouse: Path) -> dict[str, list[tuple]]:
    with connect(warehouse, read_only=True) as con:
        return {
            table: con.sql(f"select * from lms.{table} order by all").fetchall()
            for table in LMS_TABLES
        }


@pytest.mark.slow
def test_a_user_s_resources_make_no_lms_row_and_change_nothing(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    district = as_v12(with_resources(tiny_district()))
    first = run_sync(write_feed_12(tmp_path / "1.zip", district), warehouse, Settings(), TENANT)
    assert first.outcome == "applied"
    before = lms(warehouse)

    assigned = district | {"userResources": user_resources("r-alg", "r-lab")}
    result = run_sync(write_feed_12(tmp_path / "2.zip", assigned), warehouse, Settings(), TENANT)

    assert (result.outcome, result.issues.height) == ("applied", 0)
    assert result.summary.is_empty()
    assert lms(warehouse) == before


def test_a_user_s_resource_naming_no_resource_of_a_bulk_feed_rejects_the_run(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    district = as_v12(with_resources(tiny_district()))
    assigned = district | {"userResources": user_resources("r-alg", "r-gone")}
    result = run_sync(write_feed_12(tmp_path / "1.zip", assigned), warehouse, Settings(), TENANT)

    assert result.outcome == "rejected"
    errors = result.issues.filter(pl.col("severity") == "error")
    assert errors.select("file", "line", "field", "value", "rule").rows() == [
        ("userResources.csv", 3, "resourceSourcedId", "r-gone", "reference")
    ]


def test_the_resources_page_says_a_user_s_resources_are_validated_and_not_synced():
    """The page named three files; a 1.2 district sending userResources.csv read nothing of
    what becomes of it."""
    page = " ".join(RESOURCES_PAGE.read_text().split())
    assert "userResources.csv" in page
    assert "syncs none of it" in page
    assert "no lms row is made for a user's resource" in page


def test_a_user_s_resource_naming_a_resource_found_nowhere_says_nothing_is_built(tmp_path):
    """With resources.csv not sent, a resource found in no file and not in the warehouse is a
    warning; it said "the record is built without it", where nothing is built of the file."""
    warehouse = tmp_path / "w.duckdb"
    district = as_v12(with_resources(tiny_district()))
    assert run_sync(write_feed_12(tmp_path / "1.zip", district), warehouse, Settings(), TENANT)
    alone = {"userResources": user_resources("r-gone")}
    feed = write_feed_12(tmp_path / "2.zip", alone, {"userResources": "bulk"})

    result = run_sync(feed, warehouse, Settings(), TENANT)

    warned = result.issues.filter(pl.col("rule") == "reference")
    assert warned.select("file", "field", "value", "severity").rows() == [
        ("userResources.csv", "resourceSourcedId", "r-gone", "warning")
    ]
    assert warned["message"].item().endswith("; userResources.csv is validated, not synced")
