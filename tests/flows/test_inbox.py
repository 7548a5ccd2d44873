"""The inbox service: which zips are ready, where each goes, and real `serve --once` runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import DEFAULT_INTERVAL, app
from rosterflow.flows.commands import served_deployment_name
from rosterflow.flows.errors import NotRun
from rosterflow.flows.inbox import (
    HELD,
    PROCESSED,
    REJECTED,
    REPORT_SUFFIX,
    AlreadyApplied,
    Arrival,
    file_zip,
    free_path,
    is_ready,
    ready_zips,
    report_path,
    tenant_chains,
    verdict,
)
from rosterflow.schemas.feed import FeedError, FeedUnreadable
from rosterflow.schemas.issues import ISSUE_COLUMNS, issue_frame, issue_row
from rosterflow.schemas.runs import SyncResult
from rosterflow.warehouse.schema import WarehouseError
from tests.feeds import tiny_district, with_cell, write_feed

runner = CliRunner()
HOUR = 3600.0
DAY = 24 * HOUR


def aged(path: Path, seconds: float) -> Path:
    """`path`, last modified `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def partial_copy(source: Path, target: Path) -> Path:
    """The first half of a zip, as a SIS upload in progress leaves it."""
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def result(outcome: str, issues: pl.DataFrame | None = None, message=None) -> SyncResult:
    summary = pl.DataFrame(schema={"entity": pl.String, "action": pl.String, "count": pl.UInt32})
    issues = issue_frame([]) if issues is None else issues
    return SyncResult(4, "north", "n.zip", outcome, message, summary, issues)


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# --- which zips are ready ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "opens", "expected"),
    [
        (1.0, True, False),  # written to a second ago: maybe not the last write
        (10.0, True, True),  # settled and complete
        (10.0, False, False),  # settled but no central directory yet: an upload that stalled
        (2 * HOUR, False, True),  # still not a zip long after: broken, filed as unreadable
        # dated ahead of this machine's clock: complete is all that can be told
        (-DAY, True, True),
        (-DAY, False, False),
        (-1.0, True, False),  # (ahead by less than the settle time: as if written just now)
    ],
)
def test_a_zip_is_ready_once_settled_and_complete(age, opens, expected):
    arrival = Arrival(Path("x.zip"), modified=1000.0, opens_as_zip=opens)
    assert is_ready(arrival, 1000.0 + age, settle_seconds=5, give_up_seconds=HOUR) is expected


def test_ready_zips_are_complete_top_level_zips_oldest_first(tmp_path):
    complete = write_feed(tmp_path / "src.zip", tiny_district())
    inbox = tmp_path / "inbox"
    (inbox / PROCESSED).mkdir(parents=True)
    aged(shutil.copy(complete, inbox / "tuesday.zip"), 60)
    aged(shutil.copy(complete, inbox / "MONDAY.ZIP"), 120)
    aged(shutil.copy(complete, inbox / "fresh.zip"), 0)
    aged(partial_copy(complete, inbox / "uploading.zip"), 60)
    aged(shutil.copy(complete, inbox / "._tuesday.zip"), 60)  # macOS metadata, not a feed
    aged(shutil.copy(complete, inbox / "notes.txt"), 60)
    aged(shutil.copy(complete, inbox / PROCESSED / "old.zip"), 60)

    ready = ready_zips(inbox, settle_seconds=5)

    assert [p.name for p in ready] == ["MONDAY.ZIP", "tuesday.zip"]
    assert [p.name for p in ready_zips(inbox, settle_seconds=0)] == [
        "MONDAY.ZIP",
        "tuesday.zip",
        "fresh.zip",
    ]


# --- where a zip goes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "folder", "rules"),
    [
        (result("applied"), PROCESSED, []),
        (
            result(
                "rejected",
                issue_frame([issue_row("users.csv", 4, "role", "pupil", "enum", "error", "bad")]),
                "1 validation errors",
            ),
            REJECTED,
            ["enum"],
        ),
        # held by the safety guard: filed under held/, the report says why
        (
            result("held", message="this feed would remove 9 of 10 users"),
            HELD,
            ["safety.held"],
        ),
        # rejected for what the warehouse holds, not for the feed: the report says why
        (
            result("rejected", message="lms.users holds or--u1 twice"),
            REJECTED,
            ["sync.rejected"],
        ),
        (AlreadyApplied(3, "north"), PROCESSED, ["feed.duplicate"]),
    ],
)
def test_verdicts_send_each_outcome_to_its_folder(outcome, folder, rules):
    found = verdict("n.zip", outcome)
    assert (found.folder, found.issues["rule"].to_list()) == (folder, rules)
    if rules in (["safety.held"], ["sync.rejected"]):
        assert found.issues["message"].to_list() == [outcome.message]


def test_verdicts_for_errors_find_the_cause_behind_prefects_wrapping():
    def wrapped(cause: Exception) -> Exception:
        try:
            raise RuntimeError("Flow run encountered an exception") from cause
        except RuntimeError as error:
            return error

    unreadable = verdict("n.zip", wrapped(FeedError("n.zip: damaged zip archive")))
    assert (unreadable.outcome, unreadable.folder) == ("unreadable", REJECTED)
    assert unreadable.issues.row(0, named=True)["message"] == "n.zip: damaged zip archive"
    waiting = verdict("n.zip", WarehouseError("w.duckdb: cannot open the warehouse (locked)"))
    assert (waiting.outcome, waiting.folder) == ("waiting", None)
    # a dispatched sync whose worker process crashed came to no outcome: its zip waits too
    crashed = verdict("n.zip", NotRun("flow run n.zip ended CRASHED, and recorded no run"))
    assert (crashed.outcome, crashed.folder) == ("waiting", None)
    failed = verdict("n.zip", OSError("disk full"))
    assert (failed.outcome, failed.folder) == ("failed", REJECTED)
    assert failed.issues["rule"].to_list() == ["sync.failed"]


def test_a_taken_name_gets_the_next_number_and_reports_sit_beside_their_zip(tmp_path):
    (tmp_path / "roster.zip").touch()
    (tmp_path / "roster-3.issues.csv").touch()  # a report without its zip still takes the name
    assert free_path(tmp_path, "fresh.zip") == tmp_path / "fresh.zip"
    assert free_path(tmp_path, "roster.zip") == tmp_path / "roster-2.zip"
    (tmp_path / "roster-2.zip").touch()
    assert free_path(tmp_path, "roster.zip") == tmp_path / "roster-4.zip"
    assert report_path(tmp_path / "roster-4.zip") == tmp_path / "roster-4.issues.csv"


def test_a_name_too_long_for_its_report_is_cut_short_to_fit(tmp_path):
    """`<stem>.issues.csv` is 7 bytes longer than `<stem>.zip`: a zip named near the file
    system's limit had no report name, and its filing failed the scan at every run."""
    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    name = "é" * ((longest - 4) // 2) + ".zip"  # fits the inbox, its report does not

    first = free_path(tmp_path, name)
    first.touch()
    second = free_path(tmp_path, name)

    for path in (first, report_path(first), second, report_path(second)):
        assert len(os.fsencode(path.name)) <= longest
    cut = os.fsdecode(os.fsencode(name)[: longest - len(REPORT_SUFFIX)])
    assert first == tmp_path / f"{cut}.zip"
    assert second == tmp_path / f"{os.fsdecode(os.fsencode(cut)[:-2])}-2.zip"


def test_a_zip_named_near_the_limit_is_filed_and_the_scan_goes_on(tmp_path):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    longest = os.pathconf(tmp_path, "PC_NAME_MAX")
    district = tiny_district()
    write_feed(inbox / "south.zip", district, properties={"source.systemCode": "south"})
    north = write_feed(tmp_path / "north.zip", district, properties={"source.systemCode": "north"})
    aged(north.rename(inbox / ("n" * (longest - 4) + ".zip")), 20)  # filed first

    done = once(inbox, warehouse, "--no-prefect")

    assert done.exit_code == 0, done.output
    cut = "n" * (longest - len(".issues.csv"))
    assert files_under(inbox) == {
        f"processed/{cut}.zip",
        f"processed/{cut}.issues.csv",
        "processed/south.zip",
        "processed/south.issues.csv",
    }
    assert [run[1:] for run in runs(warehouse)] == [("north", "applied"), ("south", "applied")]


def test_filing_moves_the_zip_and_writes_its_report(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    zip_path = inbox / "north.zip"
    zip_path.write_bytes(b"PK")
    issues = issue_frame([issue_row("users.csv", 4, "role", "pupil", "enum", "error", "bad role")])

    filed = file_zip(zip_path, inbox, result("rejected", issues, "1 validation errors"))

    assert not zip_path.exists()
    assert filed.path == inbox / REJECTED / "north.zip" and filed.path.read_bytes() == b"PK"
    report = pl.read_csv(filed.report)
    assert tuple(report.columns) == ISSUE_COLUMNS
    assert report.row(0) == ("users.csv", 4, "role", "pupil", "enum", "error", "bad role")


def test_a_zip_held_for_the_warehouse_stays_in_the_inbox(tmp_path):
    zip_path = tmp_path / "north.zip"
    zip_path.write_bytes(b"PK")
    filed = file_zip(zip_path, tmp_path, WarehouseError("locked"))
    assert (filed.outcome, filed.path, filed.report) == ("waiting", zip_path, None)
    assert files_under(tmp_path) == {"north.zip"}


def test_a_zip_gone_before_it_is_filed_is_gone_not_waiting(tmp_path):
    """Unread for being gone (moved out of the inbox during the scan): it waited, reported as
    'cannot be moved to rejected/', its tenant's later zips behind it, and the scan exit 2."""
    filed = file_zip(tmp_path / "north.zip", tmp_path, FeedError("north.zip: no such file"))

    assert (filed.outcome, filed.report) == ("gone", None)
    assert files_under(tmp_path) == set()


def test_a_zip_moved_out_of_the_inbox_during_the_scan_leaves_its_tenant_s_later_zips_synced(
    tmp_path,
):
    """docs/how-to/schedule.md: to leave a zip unsynced, move it out of the inbox."""
    import rosterflow.flows.plain as plain
    from rosterflow.flows.inbox import ScanSteps, scan_inbox

    inbox, aside = tmp_path / "inbox", tmp_path / "aside"
    aside.mkdir()
    for name, age in (("sun.zip", 30), ("mon.zip", 20), ("tue.zip", 10)):
        aged(write_feed(inbox / name, tiny_district(), properties={"source.systemCode": "n"}), age)

    def sync_moving_monday_out(feed, warehouse, config, tenant=None):
        if Path(feed).name == "sun.zip":
            shutil.move(inbox / "mon.zip", aside / "mon.zip")
        return plain.sync_outcome(feed, warehouse, config, tenant)

    steps = ScanSteps(sync=sync_moving_monday_out)
    filed = scan_inbox(steps, str(inbox), str(tmp_path / "w.duckdb"), settle_seconds=0)

    assert [(f.name, f.outcome) for f in filed] == [
        ("sun.zip", "applied"),
        ("mon.zip", "gone"),
        ("tue.zip", "duplicate"),  # (the same records as Sunday's: applied before)
    ]
    assert files_under(inbox) == {
        "processed/sun.zip",
        "processed/sun.issues.csv",
        "processed/tue.zip",
        "processed/tue.issues.csv",
    }


# --- serve --once, for real --------------------------------------------------------------------


def once(inbox: Path, warehouse: Path, *extra: str):
    arguments = ["serve", "--inbox", str(inbox), "--warehouse", str(warehouse), "--once"]
    return runner.invoke(app, [*arguments, "--settle", "0", *extra])


def runs(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(
            "select feed_name, tenant, outcome from audit.sync_runs order by run_id"
        ).fetchall()


@pytest.mark.slow
@pytest.mark.flow
def test_once_files_each_zip_by_its_outcome_and_a_second_scan_does_nothing(tmp_path):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    district = tiny_district()
    good = write_feed(inbox / "good.zip", district, properties={"source.systemCode": "north"})
    write_feed(inbox / "broken.zip", with_cell(district, "users", 2, "role", "pupil"))
    aged(inbox / "good.zip", 20)  # synced oldest first: good before broken
    (inbox / "junk.zip").write_bytes(b"no zip, and not becoming one")
    aged(inbox / "junk.zip", HOUR)  # long past the give-up time: broken, not arriving
    partial_copy(good, inbox / "uploading.zip")

    first = once(inbox, warehouse)

    assert first.exit_code == 1, first.output
    assert files_under(inbox) == {
        "uploading.zip",
        "processed/good.zip",
        "processed/good.issues.csv",
        "rejected/broken.zip",
        "rejected/broken.issues.csv",
        "rejected/junk.zip",
        "rejected/junk.issues.csv",
    }
    assert runs(warehouse) == [
        ("good.zip", "north", "applied"),
        ("broken.zip", "broken", "rejected"),
    ]
    broken_report = pl.read_csv(inbox / "rejected/broken.issues.csv")
    assert tuple(broken_report.columns) == ISSUE_COLUMNS
    assert ("users.csv", 4, "role", "pupil", "enum", "error") in broken_report.select(
        ISSUE_COLUMNS[:6]
    ).rows()
    junk_report = pl.read_csv(inbox / "rejected/junk.issues.csv")
    assert junk_report["rule"].to_list() == ["feed.unreadable"]
    assert pl.read_csv(inbox / "processed/good.issues.csv").height == 0
    for shown in ("good.zip", "applied", "broken.zip", "rejected", "junk.zip", "unreadable"):
        assert shown in first.output

    second = once(inbox, warehouse)

    assert second.exit_code == 0, second.output
    assert "no new complete zip" in second.output
    assert "uploading.zip" in files_under(inbox)
    assert len(runs(warehouse)) == 2


@pytest.mark.flow
def test_once_files_a_zip_applied_before_without_syncing_it_again(tmp_path):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    write_feed(inbox / "nightly.zip", tiny_district())
    assert once(inbox, warehouse).exit_code == 0
    shutil.copy(inbox / PROCESSED / "nightly.zip", inbox / "nightly.zip")  # sent again

    again = once(inbox, warehouse)

    assert again.exit_code == 0, again.output
    assert "duplicate" in again.output
    assert len(runs(warehouse)) == 1
    report = pl.read_csv(inbox / PROCESSED / "nightly-2.issues.csv")
    assert report.select("rule", "severity").row(0) == ("feed.duplicate", "warning")


@pytest.mark.flow
def test_an_unusable_warehouse_leaves_every_zip_in_the_inbox_and_exits_2(tmp_path):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    write_feed(inbox / "good.zip", tiny_district())
    warehouse.write_text("not a DuckDB file")

    outcome = once(inbox, warehouse)

    assert outcome.exit_code == 2, outcome.output
    assert "cannot open the warehouse" in outcome.output and "Traceback" not in outcome.output
    assert files_under(inbox) == {"good.zip"}


def test_serve_refuses_usage_mistakes_before_starting_prefect(tmp_path):
    missing = runner.invoke(app, ["serve", "--inbox", str(tmp_path / "nope"), "--once"])
    assert missing.exit_code == 2 and "no such folder" in missing.output
    both = runner.invoke(
        app, ["serve", "--inbox", str(tmp_path), "--interval", "60", "--cron", "* * * * *"]
    )
    assert both.exit_code == 2 and "not both" in both.output
    mixed = runner.invoke(app, ["serve", "--inbox", str(tmp_path), "--once", "--interval", "60"])
    assert mixed.exit_code == 2 and "--once" in mixed.output
    (tmp_path / "s.toml").write_text("[policy]\nusers = 'vanish'\n")
    settings = runner.invoke(
        app, ["serve", "--inbox", str(tmp_path), "--once", "--config", str(tmp_path / "s.toml")]
    )
    assert settings.exit_code == 2 and "vanish" in settings.output


def test_serve_hands_its_scans_a_settings_file_named_from_the_home_folder(tmp_path, monkeypatch):
    """`--config "~/s.toml"` was checked as the home folder's file, then handed to the scans
    as a folder named `~` of the current one."""
    from rosterflow.flows import commands

    home, inbox = tmp_path / "home", tmp_path / "inbox"
    home.mkdir(), inbox.mkdir()
    (home / "s.toml").write_text("[policy]\nusers = 'keep'\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    handed: list[dict] = []
    monkeypatch.setattr(
        commands,
        "scan_once",
        lambda parameters, *_: handed.append(parameters) or commands.Scan([], None),
    )

    served = runner.invoke(app, ["serve", "--inbox", str(inbox), "--once", "--config", "~/s.toml"])

    assert served.exit_code == 0, served.output
    assert [parameters["config"] for parameters in handed] == [str(home / "s.toml")]


def test_serve_needs_a_prefect_server_for_its_schedule(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        served = runner.invoke(app, ["serve", "--inbox", str(tmp_path)])
    assert served.exit_code == 2
    assert "prefect server start" in served.output and "--once" in served.output


UNREACHABLE = "http://bob:Hunter2@127.0.0.1:9/api"  # nothing listens on port 9


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "instead"),
    [
        (["--once", "--settle", "0"], "or run with --no-prefect"),
        (["--interval", "60"], "or scan with --once --no-prefect from cron"),
    ],
)
def test_serve_with_a_prefect_server_it_cannot_reach_exits_2_in_one_line(tmp_path, how, instead):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    inbox = tmp_path / "inbox"
    write_feed(inbox / "c.zip", tiny_district())
    aged(inbox / "c.zip", HOUR)
    arguments = ["serve", "--inbox", str(inbox), "--warehouse", str(tmp_path / "w.duckdb")]

    with temporary_settings({PREFECT_API_URL: UNREACHABLE}):
        served = runner.invoke(app, [*arguments, *how])

    assert served.exit_code == 2, served.output
    said = " ".join(served.output.split())
    assert said.startswith("rosterflow: cannot reach the Prefect API at http://127.0.0.1:9/api (")
    assert instead in said and "prefect server start" in said
    assert "Traceback" not in served.output and "Hunter2" not in served.output
    assert served.output.strip().count("\n") == 0, served.output
    assert files_under(inbox) == {"c.zip"}  # left for the next scan


def test_a_cron_that_is_no_cron_expression_is_refused_in_one_line(tmp_path):
    refused = runner.invoke(app, ["serve", "--inbox", str(tmp_path), "--cron", "every monday"])

    assert refused.exit_code == 2
    assert " ".join(refused.output.split()) == (
        "rosterflow: --cron 'every monday' is not a cron expression; give five fields, minute "
        "hour day-of-month month day-of-week, such as '*/15 * * * *' (every 15 minutes) or "
        "'0 2 * * 1-5' (at 02:00 on weekdays)"
    )
    assert "pydantic" not in refused.output


@pytest.mark.flow
def test_serve_serves_the_inbox_deployment_with_its_schedule(tmp_path, monkeypatch):
    from rosterflow.flows.inbox_flow import inbox_flow

    served = []
    monkeypatch.setattr(type(inbox_flow), "serve", lambda flow, **kw: served.append(kw))
    inbox = tmp_path / "Drop Box"
    inbox.mkdir()

    by_default = runner.invoke(app, ["serve", "--inbox", str(inbox)])
    by_interval = runner.invoke(app, ["serve", "--inbox", str(inbox), "--interval", "90"])
    by_cron = runner.invoke(app, ["serve", "--inbox", str(inbox), "--cron", "*/15 * * * *"])
    bad_cron = runner.invoke(app, ["serve", "--inbox", str(inbox), "--cron", "every monday"])

    assert (by_default.exit_code, by_interval.exit_code, by_cron.exit_code) == (0, 0, 0)
    assert bad_cron.exit_code == 2 and "cron" in bad_cron.output
    default, interval, cron = served
    assert default["interval"] == DEFAULT_INTERVAL
    assert (interval["name"], interval["interval"], interval["cron"]) == (
        served_deployment_name("inbox", inbox, "Drop Box"),
        90,
        None,
    )
    assert (cron["interval"], cron["cron"], cron["limit"]) == (None, "*/15 * * * *", 1)
    assert interval["parameters"] == {
        "inbox": str(inbox.resolve()),
        "warehouse": str(Path("rosterflow.duckdb").resolve()),
        "config": None,
        "settle_seconds": 5.0,
    }


def test_zips_in_the_configured_encoding_are_synced_into_their_tenants_file(tmp_path):
    inbox, layout = tmp_path / "inbox", tmp_path / "wh" / "{tenant}.duckdb"
    frames = with_cell(tiny_district(), "users", 0, "givenName", "Zoë")
    exported = write_feed(tmp_path / "n.zip", frames, properties={"source.systemCode": "north"})
    inbox.mkdir()
    with zipfile.ZipFile(exported) as utf8, zipfile.ZipFile(inbox / "n.zip", "w") as utf16:
        for name in utf8.namelist():  # what Windows calls Unicode
            utf16.writestr(name, utf8.read(name).decode().encode("utf-16"))
    config = tmp_path / "s.toml"
    config.write_text('[feed]\nencoding = "utf-16"\n')
    # each zip's tenant (its manifest's systemCode) picks its file before it is synced
    assert tenant_chains(str(layout), [inbox / "n.zip"], "utf-16") == {"north": [inbox / "n.zip"]}

    scanned = once(inbox, layout, "--config", str(config), "--no-prefect")

    assert scanned.exit_code == 0, scanned.output
    assert files_under(inbox) == {"processed/n.zip", "processed/n.issues.csv"}
    with duckdb.connect(str(tmp_path / "wh" / "north.duckdb"), read_only=True) as con:
        names = con.sql("select given_name from lms.users").fetchall()
    assert ("Zoë",) in names


def test_a_failed_or_unreadable_zip_says_why_in_the_scans_table_as_in_its_report():
    """The table a scan prints shows each zip's reason (its `why` column), not an empty cell."""
    for error, outcome, says in [
        (OSError("disk full"), "failed", "the sync failed (OSError: disk full)"),
        (FeedError("n.zip: damaged zip archive"), "unreadable", "n.zip: damaged zip archive"),
    ]:
        found = verdict("n.zip", error)

        assert found.outcome == outcome
        assert found.message is not None and found.message.startswith(says), found.message
        assert found.issues.row(0, named=True)["message"] == found.message


def test_a_zip_this_user_may_not_read_waits_in_the_inbox_for_a_person():
    refused = verdict("n.zip", FeedUnreadable("inbox/n.zip: cannot be read (Permission denied)"))
    assert (refused.outcome, refused.folder) == ("waiting", None)
    assert refused.message == "inbox/n.zip: cannot be read (Permission denied)"


def test_a_zip_whose_tenant_is_too_long_for_a_file_of_the_layout_is_rejected_alone(tmp_path):
    inbox, layout = tmp_path / "inbox", tmp_path / "wh" / "{tenant}.duckdb"
    district = tiny_district()
    aged(write_feed(inbox / "long.zip", district, properties={"source.systemCode": "x" * 300}), 20)
    write_feed(inbox / "good.zip", district, properties={"source.systemCode": "north"})

    done = once(inbox, layout, "--no-prefect")

    assert done.exit_code == 1, done.output
    assert files_under(inbox) == {
        "processed/good.zip",
        "processed/good.issues.csv",
        "rejected/long.zip",
        "rejected/long.issues.csv",
    }
    report = pl.read_csv(inbox / "rejected/long.issues.csv")
    assert report["rule"].to_list() == ["feed.unreadable"]
    assert "its warehouse file" in report["message"][0]
    assert "cannot be made" in report["message"][0]
    assert sorted(p.name for p in (tmp_path / "wh").iterdir()) == [
        ".rosterflow-tenants",
        "north.duckdb",
        "north.duckdb.seal",
    ]


LOCKER = """
import fcntl, os, sys, time
folder = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(folder, fcntl.LOCK_EX)
print("scanning", flush=True)
time.sleep(float(sys.argv[2]))
"""


def scanning_elsewhere(inbox: Path, seconds: float) -> subprocess.Popen:
    """Another scan of `inbox`, as the lock shows it, for `seconds`."""
    other = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(inbox), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert other.stdout.readline() == "scanning\n"
    return other


@pytest.mark.slow
def test_a_scan_waits_for_another_scan_of_the_inbox_then_files_what_is_left(tmp_path):
    """Two scans at once synced the same zips and tripped over each other's filing: the second
    ended in a FileNotFoundError, exit 1, as if a zip had failed."""
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    write_feed(inbox / "nightly.zip", tiny_district())
    other = scanning_elsewhere(inbox, 1.0)
    try:
        started = time.monotonic()
        done = once(inbox, warehouse, "--no-prefect")
        assert time.monotonic() - started >= 0.5  # it waited for the other scan
    finally:
        other.wait(timeout=30)
    assert done.exit_code == 0, done.output
    assert files_under(inbox) == {"processed/nightly.zip", "processed/nightly.issues.csv"}


def test_a_scan_that_waited_too_long_for_another_files_nothing_and_exits_2(tmp_path, monkeypatch):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    write_feed(inbox / "nightly.zip", tiny_district())
    monkeypatch.setenv("ROSTERFLOW_LOCK_WAIT_SECONDS", "0.3")
    other = scanning_elsewhere(inbox, 5.0)
    try:
        done = once(inbox, warehouse, "--no-prefect")
    finally:
        other.kill()
        other.wait(timeout=30)
    assert done.exit_code == 2, done.output
    assert done.output == (
        f"rosterflow: {inbox}: another scan of this inbox has held it for 0.3 s; this scan "
        "filed nothing (it waits up to ROSTERFLOW_LOCK_WAIT_SECONDS)\n"
    )
    assert files_under(inbox) == {"nightly.zip"} and not warehouse.exists()


def test_a_sync_that_fails_leaves_its_traceback_in_the_scan_s_log(tmp_path, caplog):
    """A scan without Prefect kept the error's one line alone, and its report sent the reader
    to a Prefect flow run's logs that did not exist."""
    from rosterflow.flows.inbox import ScanSteps, scan_inbox

    inbox = tmp_path / "inbox"
    aged(write_feed(inbox / "n.zip", tiny_district()), 20)

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    def failing_sync(feed, warehouse, config, tenant=None):
        try:
            disk_full()
        except OSError as error:
            return error

    steps = ScanSteps(sync=failing_sync, look_up_ledger=lambda *_: None)
    with caplog.at_level("ERROR", logger="rosterflow.inbox"):
        [filed] = scan_inbox(steps, str(inbox), str(tmp_path / "w.duckdb"), settle_seconds=0)

    assert (filed.outcome, filed.path) == ("failed", inbox / REJECTED / "n.zip")
    assert filed.message == (
        "the sync failed (OSError: [Errno 28] No space left on device); its traceback is in "
        "the scan's log (stderr, or the sync's flow run in Prefect)"
    )
    [record] = [r for r in caplog.records if r.name == "rosterflow.inbox"]
    assert record.getMessage() == "n.zip: the sync failed"
    assert "in disk_full" in caplog.text and "OSError: [Errno 28]" in caplog.text


def test_a_ctrl_c_during_a_sync_ends_the_scan_with_the_zip_left_in_the_inbox(tmp_path, monkeypatch):
    """DuckDB turns a Ctrl-C during a statement into RuntimeError('Query interrupted'): the
    scan filed Monday's good zip under rejected/ as failed, and went on to sync Tuesday's."""
    import rosterflow.flows.interrupts as interrupts
    import rosterflow.flows.plain as plain
    from rosterflow.flows.inbox import ScanSteps, scan_inbox

    inbox = tmp_path / "inbox"
    aged(write_feed(inbox / "mon.zip", tiny_district()), 20)
    aged(write_feed(inbox / "tue.zip", tiny_district()), 10)
    synced = []

    def interrupted_sync(feed, warehouse, **options):
        synced.append(Path(feed).name)
        monkeypatch.setattr(interrupts, "interrupts", [2])  # (as `interrupts_noted` notes it)
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(plain, "sync", interrupted_sync)
    steps = ScanSteps(sync=plain.sync_outcome, look_up_ledger=lambda *_: None)

    with pytest.raises(KeyboardInterrupt):
        scan_inbox(steps, str(inbox), str(tmp_path / "w.duckdb"), settle_seconds=0)

    assert synced == ["mon.zip"]
    assert files_under(inbox) == {"mon.zip", "tue.zip"}


def test_a_zip_s_line_in_the_log_escapes_control_characters(tmp_path):
    """A line feed in a zip's name made two lines of the scan's log (the second one forged),
    and an ESC reached the terminal of whoever read it."""
    from rosterflow.flows.inbox import Filed

    name = "north\n2026-12-06 INFO fake.zip\x1b[2J.zip"
    filed = Filed(name, "applied", "north", 4, None, tmp_path / PROCESSED / name, None)
    line = filed.describe()
    assert "\n" not in line and "\x1b" not in line
    assert line.startswith(
        "north\\n2026-12-06 INFO fake.zip\\x1b[2J.zip: applied (run 4, tenant north) -> "
    )
    ordinary = Filed("Zoë district.zip", "held", "zoë", 5, None, tmp_path / "z.zip", None)
    assert ordinary.describe().startswith("Zoë district.zip: held (run 5, tenant zoë) -> ")
