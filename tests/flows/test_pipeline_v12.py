"""A OneRoster 1.2 feed syncs exactly as its 1.1 twin: same lms rows, and no change on a switch."""

import shutil
import zipfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.flows import steps as sync_steps
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.lms import ENTITIES
from rosterflow.schemas.settings import Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.layout import open_warehouse
from rosterflow.warehouse.records import stored_records
from tests.feeds import frame, tiny_district, with_cell, with_resources
from tests.feeds12 import as_v12, write_feed_12

PUBLIC_FEED = Path(__file__).parents[1] / "data" / "oneroster12" / "longsight-bulk-graph" / "feed"
LMS_TABLES = tuple(entity.table for entity in ENTITIES.values())


def district() -> dict[str, pl.DataFrame]:
    """tiny_district with an administrator at three orgs (1.2: siteAdministrator), and content
    assigned to classes and courses."""
    frames = with_resources(tiny_district())
    admin = frame(
        "users",
        {
            "sourcedId": "u-a1",
            "enabledUser": "true",
            "orgSourcedIds": "d1,s1,s2",
            "role": "administrator",
            "username": "ida.admin",
            "givenName": "Ida",
            "familyName": "Admin",
        },
    )
    return frames | {"users": pl.concat([frames["users"], admin])}


def lms_rows(warehouse: Path, table: str) -> pl.DataFrame:
    """A tenant's lms table without the columns naming the run that wrote a row."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.sql(f"select * from lms.{table} order by external_id").pl()
    return rows.drop(c for c in rows.columns if c.endswith("run_id"))


def test_a_1_1_feed_and_its_1_2_twin_give_the_same_lms_rows(tmp_path):
    v11 = write_feed(tmp_path / "v11.zip", district())
    v12 = write_feed_12(tmp_path / "v12.zip", as_v12(district()))
    first = run_sync(v11, tmp_path / "wh11.duckdb", Settings(), "district")
    second = run_sync(v12, tmp_path / "wh12.duckdb", Settings(), "district")
    assert (first.outcome, second.outcome) == ("applied", "applied"), second.issues
    assert_frame_equal(second.summary, first.summary)
    for table in LMS_TABLES:
        assert_frame_equal(
            lms_rows(tmp_path / "wh12.duckdb", table), lms_rows(tmp_path / "wh11.duckdb", table)
        )
    admin = lms_rows(tmp_path / "wh12.duckdb", "users").filter(pl.col("external_id") == "or--u-a1")
    assert admin["role"].to_list() == ["administrator"]


def test_switching_a_tenant_from_1_1_to_1_2_changes_nothing(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    first = run_sync(write_feed(tmp_path / "v11.zip", district()), warehouse, Settings(), "d")
    switched = run_sync(
        write_feed_12(tmp_path / "v12.zip", as_v12(district())), warehouse, Settings(), "d"
    )
    assert first.outcome == "applied"
    assert switched.outcome == "applied", switched.issues
    assert switched.summary.height == 0
    assert switched.planning == "incremental", switched.planning_note
    assert switched.planning_note.startswith("0 of ")


@pytest.mark.slow
@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_1_2_role_change_alone_is_synced(tmp_path, full):
    warehouse = tmp_path / "wh.duckdb"
    frames = as_v12(district())
    run_sync(write_feed_12(tmp_path / "a.zip", frames), warehouse, Settings(), "d")
    # the same users.csv; only roles.csv says u-s2's school is s2 now
    moved = frames["roles"].with_columns(
        pl.when(pl.col("userSourcedId") == "u-s2")
        .then(pl.col("roleType").replace({"primary": "secondary", "secondary": "primary"}))
        .otherwise(pl.col("roleType"))
        .alias("roleType")
    )
    users = frames["users"].with_columns(
        pl.when(pl.col("sourcedId") == "u-s2")
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("primaryOrgSourcedId"))
        .alias("primaryOrgSourcedId")
    )
    result = run_sync(
        write_feed_12(tmp_path / "b.zip", frames | {"roles": moved, "users": users}),
        warehouse,
        Settings(),
        "d",
        full=full,
    )
    assert result.outcome == "applied", result.issues
    changes = {(e, a): n for e, a, n in result.summary.iter_rows()}
    assert changes == {("user", "move"): 1}
    # the stored user record took the new orgs: a resync of the same feed changes nothing
    again = run_sync(
        write_feed_12(tmp_path / "c.zip", frames | {"roles": moved, "users": users}),
        warehouse,
        Settings(),
        "d",
        full=full,
    )
    assert again.summary.height == 0


def test_the_public_1_2_feed_syncs_from_a_zip(tmp_path):
    zipped = tmp_path / "longsight.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(PUBLIC_FEED.iterdir()):
            archive.write(file, file.name)
    result = run_sync(zipped, tmp_path / "wh.duckdb", Settings(), "longsight")
    assert result.outcome == "applied", result.issues
    changes = {(e, a): n for e, a, n in result.summary.iter_rows()}
    assert changes[("domain", "create")] == 2
    assert changes[("user", "create")] == 2
    users = lms_rows(tmp_path / "wh.duckdb", "users")
    assert users.select("external_id", "role").rows() == [
        ("or--user-1", "teacher"),
        ("or--user-agent", "teacher"),
    ]
    again = run_sync(
        shutil.copy(zipped, tmp_path / "again.zip"), tmp_path / "wh.duckdb", Settings(), "longsight"
    )
    assert again.summary.height == 0


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_change_of_roles_csv_alone_reaches_the_stored_users(tmp_path, full):
    warehouse = tmp_path / "wh.duckdb"
    frames = as_v12(district())
    run_sync(write_feed_12(tmp_path / "a.zip", frames), warehouse, Settings(), "d")
    # users.csv byte for byte the same: only roles.csv says u-t2 is an aide now
    aide = frames["roles"].with_columns(
        pl.when(pl.col("userSourcedId") == "u-t2")
        .then(pl.lit("aide"))
        .otherwise(pl.col("role"))
        .alias("role")
    )
    result = run_sync(
        write_feed_12(tmp_path / "b.zip", frames | {"roles": aide}),
        warehouse,
        Settings(),
        "d",
        full=full,
    )
    assert {(e, a) for e, a, _ in result.summary.iter_rows()} == {("user", "update")}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = stored_records(con, "d", ["users"])["users"]
    assert stored.filter(pl.col("sourcedId") == "u-t2")["role"].to_list() == ["aide"]


def validated_again(feed: Path, warehouse: Path):
    """The validation a sync of `feed` would run on `warehouse` (nothing is written)."""
    loaded = sync_steps.load_feed(feed)
    with open_warehouse(warehouse) as con:
        run = sync_steps.start_run(con, loaded, "d", True, Settings())
        return sync_steps.validate(loaded, con, run, Settings()).validated


def test_a_1_2_resync_checks_row_by_row_only_the_records_that_changed(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    frames = as_v12(district())
    run_sync(write_feed_12(tmp_path / "a.zip", frames), warehouse, Settings(), "d")
    edited = frames | {
        "enrollments": with_cell(frames, "enrollments", 1, "beginDate", "2026-09-01")["enrollments"]
    }
    validated = validated_again(write_feed_12(tmp_path / "b.zip", edited), warehouse)
    assert validated.ok, validated.issues
    # enrollments.csv has 1.1's columns: compared with the stored records, one row checked;
    # a 1.2 users.csv is read as 1.1 only after its checks, so all of its rows are checked
    assert validated.checked_rows["enrollments"] == 1
    assert validated.checked_rows["users"] == frames["users"].height
    assert validated.changes["enrollments"].changed.to_list() == ["e2"]
    assert validated.changes["users"].count == 0


def test_records_checked_under_1_2_are_checked_again_when_they_come_in_1_1(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    lab = with_cell(district(), "classes", 0, "classType", "ext:lab")
    first = run_sync(write_feed_12(tmp_path / "a.zip", as_v12(lab)), warehouse, Settings(), "d")
    assert first.outcome == "applied", first.issues
    # the same class in a 1.1 feed: 1.1 has no extension values, unchanged record or not
    second = run_sync(write_feed(tmp_path / "b.zip", lab), warehouse, Settings(), "d")
    assert second.outcome == "rejected"
    errors = second.issues.filter(pl.col("severity") == "error")
    assert errors.select("file", "line", "field", "value").rows() == [
        ("classes.csv", 2, "classType", "ext:lab")
    ]


@pytest.mark.slow
def test_a_generated_district_written_as_1_2_syncs_to_the_lms_rows_of_its_1_1_twin(tmp_path):
    from typer.testing import CliRunner

    from rosterflow.flows.cli import app

    runner = CliRunner()
    for version in ("1.1", "1.2"):
        feed = tmp_path / f"district-{version}.zip"
        written = runner.invoke(
            app, ["generate", str(feed), "--students", "60", "--oneroster", version]
        )
        assert written.exit_code == 0, written.output
        validated = runner.invoke(app, ["validate", str(feed)])
        assert validated.exit_code == 0, validated.output
        result = run_sync(feed, tmp_path / f"wh-{version}.duckdb", Settings())
        assert result.outcome == "applied", result.issues
    for table in LMS_TABLES:
        assert_frame_equal(
            lms_rows(tmp_path / "wh-1.2.duckdb", table), lms_rows(tmp_path / "wh-1.1.duckdb", table)
        )
    refused = runner.invoke(app, ["generate", str(tmp_path / "x.zip"), "--oneroster", "2.0"])
    assert refused.exit_code == 2 and "1.1 or 1.2" in refused.output
