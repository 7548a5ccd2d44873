"""`rosterflow grades export`, end to end: a district synced, a gradebook written into lms as a
platform writes it (SQL inserts), exported as OneRoster 1.1 and 1.2, and the export validated."""

from __future__ import annotations

import zipfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from tests.feeds import tiny_district, write_feed
from tests.gradebooks import TENANT, graded_warehouse, write_gradebook
from tests.syncing import Warehouse

runner = CliRunner()
GRADEBOOK = ("categories.csv", "lineItems.csv", "results.csv")


pytestmark = pytest.mark.usefixtures("wide")


@pytest.fixture
def synced(tmp_path) -> Warehouse:
    return graded_warehouse(tmp_path)


def export(warehouse: Warehouse, out: Path, *options: str):
    return runner.invoke(
        app,
        [
            "grades",
            "export",
            str(out),
            "--warehouse",
            str(warehouse.path),
            "--tenant",
            TENANT,
            *options,
        ],
    )


def validate(feed: Path, *options: str):
    return runner.invoke(app, ["validate", str(feed), *options])


def read(feed: Path, name: str) -> pl.DataFrame:
    if feed.suffix == ".zip":
        with zipfile.ZipFile(feed) as archive:
            data = archive.read(name)
    else:
        data = (feed / name).read_bytes()
    return pl.read_csv(data, infer_schema=False)


def test_an_export_in_oneroster_1_1_round_trips_through_validate(synced, tmp_path):
    out = tmp_path / "grades.zip"

    done = export(synced, out)

    assert done.exit_code == 0, done.output
    assert (
        "grades.zip: exported — grades run 1, tenant district, OneRoster 1.1: 1 category, "
        "3 line items, 2 results; 3 records not sent" in done.output
    )
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted(["manifest.csv", *GRADEBOOK])
    manifest = dict(read(out, "manifest.csv").iter_rows())
    assert manifest["oneroster.version"] == "1.1"
    assert manifest["source.systemCode"] == TENANT
    assert [manifest[f"file.{name}"] for name in ("categories", "lineItems", "results")] == [
        "bulk"
    ] * 3
    assert read(out, "lineItems.csv")["gradingPeriodSourcedId"].to_list() == ["t1", "t2", "t2"]
    assert read(out, "results.csv").row(0, named=True) == {
        "sourcedId": "res-101-2",
        "status": None,
        "dateLastModified": None,
        "lineItemSourcedId": "li-101",
        "studentSourcedId": "u-s1",
        "scoreStatus": "fully graded",
        "score": "8",
        "scoreDate": "2027-02-02",
        "comment": "ok",
    }

    alone = validate(out)  # the references into the roster can only be warned about
    with_roster = validate(out, "--warehouse", str(synced.path))

    assert alone.exit_code == 0, alone.output
    assert "grades.zip: valid — 0 errors, " in alone.output
    assert with_roster.exit_code == 0, with_roster.output
    assert "grades.zip: valid — 0 errors, 0 warnings" in with_roster.output


def test_an_export_in_oneroster_1_2_to_a_folder_round_trips_through_validate(synced, tmp_path):
    out = tmp_path / "grades-1.2"

    done = export(synced, out, "--oneroster", "1.2")
    checked = validate(out, "--warehouse", str(synced.path))

    assert done.exit_code == 0, done.output
    assert "OneRoster 1.2: 1 category, 3 line items, 2 results" in done.output
    assert read(out, "manifest.csv").row(1) == ("oneroster.version", "1.2")
    items = read(out, "lineItems.csv")
    assert items.columns[9] == "academicSessionSourcedId"
    assert items.select("classSourcedId", "schoolSourcedId").rows() == [
        ("k1", "s1"),
        ("k2", "s1"),
        ("k3", "s2"),
    ]
    assert read(out, "results.csv")["classSourcedId"].to_list() == ["k1", "k2"]
    assert checked.exit_code == 0, checked.output
    assert "valid — 0 errors, 0 warnings" in checked.output


def test_each_record_not_sent_is_reported_with_its_reason(synced, tmp_path):
    synced.sync(  # student u-s1 leaves class k1: the enrollment is inactivated
        tiny_district()
        | {"enrollments": tiny_district()["enrollments"].filter(pl.col("sourcedId") != "e2")}
    )

    done = export(synced, tmp_path / "grades.zip")

    assert done.exit_code == 0, done.output
    for reason in (
        "line_item.hand_made_course",
        "result.line_item_not_sent",
        "result.not_enrolled",
        "result.out_of_range",
    ):
        assert reason in done.output
    assert "course 900 (Chess [club]) was made by hand in the platform" in done.output
    assert "student u-s1 is not actively enrolled in class k1 (enrollment inactive)" in done.output
    assert "score 12 is outside 0 to 10" in done.output
    assert "1 result; 4 records not sent" in done.output
    exclusions = synced.query(
        "select sourced_id, reason from audit.grade_exclusions order by sourced_id"
    )
    assert exclusions.rows() == [
        ("li-1000", "line_item.hand_made_course"),
        ("res-1000-2", "result.line_item_not_sent"),
        ("res-101-2", "result.not_enrolled"),
        ("res-103-3", "result.out_of_range"),
    ]


def test_scores_and_line_items_left_behind_by_a_deleting_sync_say_what_is_gone(synced, tmp_path):
    """Under the delete policies, a sync deletes the rows of a student and of a class the SIS no
    longer sends; the platform's scores and line items stay, pointing at them: their messages
    say the user and the course are gone, not that they were made by hand."""
    district = tiny_district()
    users = district["users"].filter(pl.col("sourcedId") != "u-s1")
    applied = synced.sync(
        district
        | {
            "users": users.with_columns(  # the parent no longer names the student gone
                pl.when(pl.col("sourcedId") == "u-p1")
                .then(None)
                .otherwise(pl.col("agentSourcedIds"))
                .alias("agentSourcedIds")
            ),
            "classes": district["classes"].filter(pl.col("sourcedId") != "k2"),
            "enrollments": district["enrollments"].filter(
                ~pl.col("sourcedId").is_in(["e2", "e3", "e4"])
            ),
        },
        settings={
            "policy": {"users": "delete", "courses": "delete", "enrollments": "delete"},
            "safety": {"max_removal_share": 1.0},
        },
    )
    assert applied.outcome == "applied", applied

    done = export(synced, tmp_path / "grades.zip")

    assert done.exit_code == 0, done.output
    exclusions = synced.query(
        "select sourced_id, reason, message from audit.grade_exclusions "
        "where reason in ('line_item.unknown_course', 'result.not_enrolled') order by sourced_id"
    )
    assert exclusions.rows() == [
        (
            "li-102",
            "line_item.unknown_course",
            "course 2 is none of the tenant's courses in lms.courses (deleted by a sync, or never "
            "one of them)",
        ),
        (
            "res-101-2",
            "result.not_enrolled",
            "user 2 is none of the tenant's users in lms.users (deleted by a sync, or never one "
            "of them)",
        ),
    ]
    assert "made by hand" not in " ".join(exclusions["message"])


def test_a_second_export_sends_the_same_sourced_ids_and_history_keeps_both(synced, tmp_path):
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    assert export(synced, first).exit_code == 0
    synced.execute("update lms.scores set score = 9.5 where score = 8 and line_item_id = 101")

    done = export(synced, second)

    assert done.exit_code == 0, done.output
    for name in GRADEBOOK:
        assert read(first, name)["sourcedId"].to_list() == read(second, name)["sourcedId"].to_list()
    assert read(second, "results.csv")["score"].to_list() == ["9.5", "8"]
    assert synced.query(
        "select score, opened_grade_run_id, closed_grade_run_id from history.scores "
        "where line_item_id = 101 order by valid_from"
    ).rows() == [(8.0, 1, 2), (9.5, 2, None)]
    assert synced.query("select grade_run_id, outcome from audit.grade_runs").rows() == [
        (1, "exported"),
        (2, "exported"),
    ]


def test_a_sync_after_an_export_leaves_the_gradebook_alone(synced, tmp_path):
    before = synced.query("select * from lms.scores order by all")

    again = synced.sync(tiny_district(), recall=False)

    assert again.outcome == "applied" and again.summary.height == 0
    assert synced.query("select * from lms.scores order by all").equals(before)


def test_an_empty_gradebook_is_marked_absent_so_the_sis_keeps_its_grades(synced, tmp_path):
    synced.execute("delete from lms.scores; delete from lms.line_items")
    out = tmp_path / "grades.zip"

    done = export(synced, out)

    assert done.exit_code == 0, done.output
    assert "0 categories, 0 line items, 0 results; 0 records not sent" in done.output
    manifest = dict(read(out, "manifest.csv").iter_rows())
    assert {manifest[f"file.{n}"] for n in ("categories", "lineItems", "results")} == {"absent"}
    assert validate(out).exit_code == 0


def test_a_per_tenant_layout_exports_the_tenants_own_file(tmp_path):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    layout = str(tmp_path / "wh" / "{tenant}.duckdb")
    synced = runner.invoke(
        app, ["sync", str(feed), "--warehouse", layout, "--tenant", TENANT, "--no-prefect"]
    )
    assert synced.exit_code == 0, synced.output
    warehouse = Warehouse(tmp_path / "wh", TENANT)
    warehouse.path = tmp_path / "wh" / f"{TENANT}.duckdb"
    write_gradebook(warehouse)

    done = runner.invoke(
        app,
        ["grades", "export", str(tmp_path / "g.zip"), "--warehouse", layout, "--tenant", TENANT],
    )

    assert done.exit_code == 0, done.output
    assert "3 line items, 2 results" in done.output
    with duckdb.connect(str(warehouse.path)) as con:
        run_id = con.sql("select grade_run_id from audit.grade_runs").fetchall()[0][0]
    assert run_id > 1 << 40  # in the tenant's own id range


@pytest.mark.parametrize("command", ["export", "push"])
def test_a_tenant_too_long_for_a_file_of_the_layout_exits_2_in_one_line(tmp_path, command):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    layout = str(tmp_path / "wh" / "{tenant}.duckdb")
    synced = runner.invoke(
        app, ["sync", str(feed), "--warehouse", layout, "--tenant", TENANT, "--no-prefect"]
    )
    assert synced.exit_code == 0, synced.output
    target = (
        str(tmp_path / "g.zip") if command == "export" else "http://127.0.0.1:9/ims/oneroster/v1p1"
    )

    done = runner.invoke(
        app, ["grades", command, target, "--warehouse", layout, "--tenant", "y" * 300]
    )

    assert done.exit_code == 2, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert done.output.startswith("rosterflow: ") and "Traceback" not in done.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--tenant", "nobody"], "--tenant nobody: no sync was ever applied to it"),
        (["--tenant", TENANT, "--oneroster", "1.0"], "'1.0': write 1.1 or 1.2"),
    ],
)
def test_an_export_that_cannot_be_made_exits_2(synced, tmp_path, arguments, message):
    done = runner.invoke(
        app,
        ["grades", "export", str(tmp_path / "g.zip"), "--warehouse", str(synced.path), *arguments],
    )

    assert done.exit_code == 2, done.output
    assert message in " ".join(done.output.split())
    assert not (tmp_path / "g.zip").exists()


def test_an_export_into_a_roster_feed_s_folder_is_refused_and_removes_nothing(synced, tmp_path):
    roster = write_feed(tmp_path / "district", tiny_district())
    before = sorted(path.name for path in roster.iterdir())

    done = export(synced, roster)

    assert done.exit_code == 2, done.output
    assert "holds a roster's files" in " ".join(done.output.split())
    assert sorted(path.name for path in roster.iterdir()) == before
    again = export(synced, tmp_path / "grades")  # an export's own folder takes the next one
    assert (again.exit_code, export(synced, tmp_path / "grades").exit_code) == (0, 0)


def test_an_export_from_no_warehouse_exits_2(tmp_path):
    missing = str(tmp_path / "none.duckdb")
    done = runner.invoke(
        app,
        ["grades", "export", str(tmp_path / "g.zip"), "--tenant", TENANT, "--warehouse", missing],
    )

    assert done.exit_code == 2, done.output
    assert "no such warehouse" in done.output


def test_an_export_from_a_file_that_is_no_warehouse_exits_2_and_changes_nothing(tmp_path):
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as con:
        con.execute("create table t (a integer)")
    before = foreign.read_bytes()

    done = runner.invoke(
        app,
        [
            "grades",
            "export",
            str(tmp_path / "g.zip"),
            "--tenant",
            TENANT,
            "--warehouse",
            str(foreign),
        ],
    )

    assert done.exit_code == 2, done.output
    assert done.output.strip() == (
        f"rosterflow: {foreign}: not a rosterflow warehouse (it has no audit.schema_migrations); "
        "name the file a sync wrote"
    )
    assert foreign.read_bytes() == before
    assert not (tmp_path / "g.zip").exists()
