"""`rosterflow sync`, `demo` and `serve --once` without a Prefect API: the same steps run in the
CLI's process, with the same exit codes and messages, each run recorded in the warehouse's audit
tables, and Prefect never imported. Every test runs the CLI in a process of its own, through
tests/flows/cli_without_prefect.py, with no Prefect setting in its environment and PREFECT_HOME
in a temporary folder."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.warehouse.apply import PAUSE_MARKER_ENV
from tests.feeds import tiny_district, with_cell, without_students, write_feed
from tests.flows.cli_without_prefect import rosterflow
from tests.syncing import query


def runs(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(
            "select run_id, tenant, feed_name, outcome from audit.sync_runs order by run_id"
        ).fetchall()


def test_sync_without_prefect_applies_then_plans_with_exit_0_and_records_both_runs(tmp_path):
    feed, warehouse = write_feed(tmp_path / "north.zip", tiny_district()), tmp_path / "w.duckdb"

    applied = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse)

    assert applied.code == 0, applied.output
    assert re.search(r"^ user\s+create\s+5 $", applied.stdout, re.MULTILINE)
    assert "north.zip: applied — run 1, tenant north" in applied.stdout
    assert "Prefect" not in applied.output
    assert applied.prefect_modules == []

    changed = with_cell(tiny_district(), "users", 0, "familyName", "Byron")
    feed_2 = write_feed(tmp_path / "north-2.zip", changed)
    dry = rosterflow(
        tmp_path, "sync", feed_2, "--warehouse", warehouse, "--tenant", "north", "--dry-run"
    )

    assert dry.code == 0, dry.output
    assert "north-2.zip: planned — run 2, tenant north, 1 change planned (dry run" in dry.stdout
    assert dry.prefect_modules == []
    assert runs(warehouse) == [
        (1, "north", "north.zip", "applied"),
        (2, "north", "north-2.zip", "planned"),
    ]
    assert query(warehouse, "select count(*) from audit.changes where run_id = 1")[0][0] > 5
    assert query(warehouse, "select entity, action from audit.changes where run_id = 2") == [
        ("user", "update")
    ]


@pytest.mark.slow
def test_sync_without_prefect_rejects_errors_and_holds_over_the_guard_with_exit_1(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    assert rosterflow(tmp_path, "sync", write_feed(tmp_path / "d.zip", tiny_district()), "--warehouse", warehouse).code == 0  # fmt: skip

    invalid = write_feed(
        tmp_path / "d.zip", with_cell(tiny_district(), "users", 2, "role", "pupil")
    )
    rejected = rosterflow(tmp_path, "sync", invalid, "--warehouse", warehouse)

    assert rejected.code == 1, rejected.output
    assert "rejected" in rejected.stdout and "users.csv:4" in rejected.stdout
    assert "The warehouse is unchanged" in rejected.stdout
    assert query(warehouse, "select file, line, rule from audit.issues where run_id = 2") == [
        ("users.csv", 4, "enum")
    ]

    emptied = write_feed(tmp_path / "d.zip", without_students(tiny_district()))
    guarded = rosterflow(tmp_path, "sync", emptied, "--warehouse", warehouse)

    assert guarded.code == 1, guarded.output
    assert "--max-removal-share" in guarded.stdout
    assert "held" in guarded.stdout and "rosterflow approve 3" in guarded.stdout
    assert [r[3] for r in runs(warehouse)] == ["applied", "rejected", "held"]
    assert rejected.prefect_modules == guarded.prefect_modules == []


def test_a_run_without_prefect_that_fails_while_applying_exits_1_rolled_back(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    feed = write_feed(tmp_path / "d.zip", tiny_district())

    failed = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse, fail_apply=True)

    assert failed.code == 1, failed.output
    assert "failed while applying and was rolled back" in failed.stderr
    assert "No space left on device" in failed.stderr and "Traceback" not in failed.output
    assert query(warehouse, "select count(*) from lms.users") == [(0,)]
    assert [r[3] for r in runs(warehouse)] == ["failed"]
    assert failed.prefect_modules == []


@pytest.mark.slow
def test_input_errors_without_prefect_exit_2_with_one_line(tmp_path):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(feed.read_bytes()[:-30])  # no end of central directory
    not_duckdb = tmp_path / "notes.duckdb"
    not_duckdb.write_text("these are my notes")

    for arguments, expected in [
        ((damaged, "--warehouse", tmp_path / "w.duckdb"), "not a zip archive"),
        ((feed, "--warehouse", not_duckdb), "cannot open the warehouse"),
        ((tmp_path / "missing.zip",), "no such file"),
    ]:
        outcome = rosterflow(tmp_path, "sync", *arguments)
        assert outcome.code == 2, outcome.output
        (line,) = outcome.stderr.strip().splitlines()
        assert line.startswith("rosterflow: ") and expected in line
        assert "Traceback" not in outcome.output
        assert outcome.prefect_modules == []


@pytest.mark.slow
def test_no_prefect_wins_over_a_configured_api(tmp_path):
    """ROSTERFLOW_PREFECT=0 or --no-prefect: no flow run, even with PREFECT_API_URL set (here to
    a port nothing listens on)."""
    feed, warehouse = write_feed(tmp_path / "north.zip", tiny_district()), tmp_path / "w.duckdb"
    unreachable = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}

    by_environment = rosterflow(
        tmp_path, "sync", feed, "--warehouse", warehouse, ROSTERFLOW_PREFECT="0", **unreachable
    )
    by_option = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse, "--no-prefect", **unreachable)  # fmt: skip

    assert (by_environment.code, by_option.code) == (0, 0), by_environment.output + by_option.output
    assert by_environment.prefect_modules == by_option.prefect_modules == []
    assert [r[3] for r in runs(warehouse)] == ["applied", "applied"]


@pytest.mark.slow
def test_serve_once_without_prefect_files_each_zip_and_a_second_scan_does_nothing(tmp_path):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    district = tiny_district()
    write_feed(inbox / "good.zip", district, properties={"source.systemCode": "north"})
    write_feed(inbox / "broken.zip", with_cell(district, "users", 2, "role", "pupil"))
    old = inbox.stat().st_mtime - 60
    os.utime(inbox / "good.zip", (old, old))  # synced oldest first: good before broken
    scan = ("serve", "--inbox", inbox, "--warehouse", warehouse, "--once", "--settle", "0")

    first = rosterflow(tmp_path, *scan)

    assert first.code == 1, first.output
    assert sorted(p.relative_to(inbox).as_posix() for p in inbox.rglob("*.zip")) == [
        "processed/good.zip",
        "rejected/broken.zip",
    ]
    assert (inbox / "rejected" / "broken.issues.csv").exists()
    assert [r[1:] for r in runs(warehouse)] == [
        ("north", "good.zip", "applied"),
        ("broken", "broken.zip", "rejected"),
    ]
    for shown in ("good.zip", "applied", "broken.zip", "rejected"):
        assert shown in first.stdout

    second = rosterflow(tmp_path, *scan)

    assert second.code == 0, second.output
    assert "no new complete zip" in second.stdout
    assert first.prefect_modules == second.prefect_modules == []


def test_serve_once_without_prefect_and_an_unusable_warehouse_exits_2(tmp_path):
    inbox, warehouse = tmp_path / "inbox", tmp_path / "w.duckdb"
    write_feed(inbox / "good.zip", tiny_district())
    warehouse.write_text("not a DuckDB file")

    outcome = rosterflow(
        tmp_path, "serve", "--inbox", inbox, "--warehouse", warehouse, "--once", "--settle", "0"
    )

    assert outcome.code == 2, outcome.output
    assert "cannot open the warehouse" in outcome.stderr and "Traceback" not in outcome.output
    assert [p.name for p in inbox.iterdir()] == ["good.zip"]
    assert outcome.prefect_modules == []


@pytest.mark.slow  # (every writing command in a process of its own, as an unprivileged user: 9 s)
def test_a_warehouse_whose_folder_cannot_be_written_stops_every_writing_command_with_exit_2(
    tmp_path,
):
    """DuckDB cannot make the .wal of a warehouse in a read-only folder, and would fail at the
    first commit, after planning, unable to record the run: every command that writes stops
    before, exit 2 with one line, nothing claimed recorded, the inbox's zip left where it is;
    the commands that only read still read it."""
    folder, inbox = tmp_path / "ro", tmp_path / "inbox"
    warehouse = folder / "w.duckdb"
    district = tiny_district()
    first = rosterflow(tmp_path, "sync", write_feed(tmp_path / "d.zip", district), "--warehouse", warehouse)  # fmt: skip
    assert first.code == 0, first.output
    changed = write_feed(tmp_path / "d2.zip", with_cell(district, "users", 0, "familyName", "B"))
    write_feed(inbox / "next.zip", with_cell(district, "users", 1, "familyName", "C"))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}  # the file and its seal
    folder.chmod(0o555)
    try:
        stopped = {
            " ".join(map(str, arguments[:2])): rosterflow(
                tmp_path, *arguments, "--warehouse", warehouse, unprivileged=True
            )
            for arguments in [
                ("sync", changed),
                ("sync", tmp_path / "d.zip"),
                ("undo", 1),
                ("approve", 1),
                ("discard", 1),
                ("grades", "export", tmp_path / "grades", "--tenant", "d"),
                ("serve", "--inbox", inbox, "--once", "--settle", "0"),
            ]
        }
        listed = rosterflow(tmp_path, "runs", "--warehouse", warehouse, unprivileged=True)
        read = rosterflow(
            tmp_path, "query", "select count(*) from audit.sync_runs", "--warehouse", warehouse,
            "--csv", unprivileged=True,
        )  # fmt: skip
    finally:
        folder.chmod(0o755)
    expected = (
        f"rosterflow: {warehouse}: cannot write the warehouse: its folder {folder} is not "
        "writable, and DuckDB writes its log w.duckdb.wal beside it (make the folder "
        "writable, or move the warehouse to one that is)"
    )
    for command, done in stopped.items():
        assert done.code == 2, (command, done.output)
        assert done.stderr.strip() == expected, (command, done.stderr)
        assert "recorded" not in done.output and "Traceback" not in done.output
    assert listed.code == 0 and "applied" in listed.stdout, listed.output
    assert read.code == 0 and read.stdout == "count_star()\n1\n", read.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # (no .wal either)
    assert [p.name for p in inbox.iterdir()] == ["next.zip"]
    assert not (tmp_path / "grades").exists()


@pytest.mark.slow
def test_listing_runs_reads_a_warehouse_file_it_cannot_write(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    assert rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse).code == 0
    warehouse.chmod(0o444)

    listed = rosterflow(tmp_path, "runs", "--warehouse", warehouse, unprivileged=True)
    synced = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse, unprivileged=True)

    assert listed.code == 0, listed.output
    assert re.search(r"^\s+1\s+d\s+\S+ \S+\s+applied", listed.stdout, re.MULTILINE)
    assert synced.code == 2 and "Permission denied" in synced.stderr, synced.output


def test_ctrl_c_exits_130_saying_so_and_the_run_is_rolled_back(tmp_path):
    """The installed `rosterflow`, interrupted while it applies a run (held there by the test
    seam of `warehouse.apply`), says why it stopped on stderr; the transaction is rolled
    back."""
    program = Path(sys.executable).parent / "rosterflow"
    marker, warehouse = tmp_path / "applying", tmp_path / "w.duckdb"
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")
    } | {"PREFECT_HOME": str(tmp_path / ".prefect-home"), PAUSE_MARKER_ENV: str(marker)}
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    running = subprocess.Popen(
        [str(program), "sync", str(feed), "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=tmp_path,
        # Ctrl-C raises KeyboardInterrupt, also under a shell that started the tests with
        # SIGINT ignored (a background job), which Python would leave ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and running.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), running.communicate(timeout=10)
        running.send_signal(signal.SIGINT)
        stdout, stderr = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 130, stdout + stderr
    assert stderr.strip().splitlines()[-1] == "rosterflow: interrupted"
    assert "Traceback" not in stdout + stderr
    assert runs(warehouse) == []
    assert query(warehouse, "select count(*) from lms.users") == [(0,)]


def test_demo_without_prefect_syncs_twice(tmp_path):
    done = rosterflow(tmp_path, "demo")

    assert done.code == 0, done.output
    assert done.stdout.count(": applied — run ") == 2
    assert [r[3] for r in runs(tmp_path / "rosterflow-demo" / "rosterflow.duckdb")] == [
        "applied",
        "applied",
    ]
    assert done.prefect_modules == []


def test_serving_on_a_schedule_cannot_do_without_prefect(tmp_path):
    served = CliRunner().invoke(app, ["serve", "--inbox", str(tmp_path), "--no-prefect"])
    assert served.exit_code == 2
    assert "--once" in served.output


@pytest.mark.slow
def test_runs_approve_discard_and_undo_from_the_command_line(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    emptied = write_feed(tmp_path / "e.zip", without_students(tiny_district()))
    for zip_file, code in ((feed, 0), (emptied, 1), (emptied, 1)):
        done = rosterflow(tmp_path, "sync", zip_file, "--warehouse", warehouse, "--tenant", "d")
        assert done.code == code, done.output

    listed = rosterflow(tmp_path, "runs", "--warehouse", warehouse, COLUMNS="200")
    assert listed.code == 0, listed.output
    assert re.search(r"3 .*held", listed.stdout) and re.search(r"1 .*applied", listed.stdout)

    discarded = rosterflow(tmp_path, "discard", "2", "--warehouse", warehouse)
    assert discarded.code == 0 and "discarded held run 2" in discarded.stdout
    approved = rosterflow(tmp_path, "approve", "3", "--warehouse", warehouse)
    assert approved.code == 0, approved.output
    assert "applied" in approved.stdout and "approved held run 3" in approved.stdout
    again = rosterflow(tmp_path, "approve", "3", "--warehouse", warehouse)
    assert again.code == 1 and "refused: run 3 was already approved (run 4)" in again.stderr
    stale = rosterflow(tmp_path, "approve", "2", "--warehouse", warehouse)
    assert stale.code == 1 and "already discarded" in stale.stderr
    assert query(warehouse, "select count(*) from lms.users where status = 'inactive'") == [(2,)]

    undone = rosterflow(tmp_path, "undo", "4", "--warehouse", warehouse)
    assert undone.code == 0, undone.output
    assert "undid run 4" in undone.stdout and "reactivate" in undone.stdout
    assert query(warehouse, "select count(*) from lms.users where status = 'inactive'") == [(0,)]
    assert rosterflow(tmp_path, "undo", "4", "--warehouse", warehouse).code == 1
    assert rosterflow(tmp_path, "undo", "99", "--warehouse", warehouse).code == 1

    decisions = rosterflow(
        tmp_path, "runs", "--warehouse", warehouse, "--tenant", "d", COLUMNS="200"
    )
    assert "approved by run 4" in decisions.stdout and "undone by run 5" in decisions.stdout
    missing = rosterflow(tmp_path, "runs", "--warehouse", tmp_path / "none.duckdb")
    assert missing.code == 2 and "no such warehouse" in missing.stderr
    assert listed.prefect_modules == approved.prefect_modules == undone.prefect_modules == []


@pytest.mark.slow
def test_a_per_tenant_layout_from_the_command_line(tmp_path):
    template = "wh/{tenant}.duckdb"
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    for tenant in ("north", "south"):
        done = rosterflow(tmp_path, "sync", feed, "--warehouse", template, "--tenant", tenant)
        assert done.code == 0, done.output
    assert sorted(p.name for p in (tmp_path / "wh").glob("*.duckdb")) == [
        "north.duckdb",
        "south.duckdb",
    ]
    south_run = query(tmp_path / "wh" / "south.duckdb", "select run_id from audit.sync_runs")[0][0]

    listed = rosterflow(tmp_path, "runs", "--warehouse", template, COLUMNS="200")
    assert listed.code == 0, listed.output
    assert "north" in listed.stdout and "south" in listed.stdout

    # the catalog's SQL gives one session both tenants' tables
    printed = rosterflow(tmp_path, "catalog", "--warehouse", template)
    assert printed.code == 0, printed.output
    session = duckdb.connect()
    with contextlib.chdir(tmp_path):  # the template is relative, as the user typed it
        session.execute(printed.stdout)
        by_tenant = session.sql(
            "select tenant, count(*) > 0 from lms.users group by tenant order by tenant"
        ).fetchall()
    session.close()
    assert by_tenant == [("north", True), ("south", True)]
    one_file = rosterflow(tmp_path, "catalog", "--warehouse", "rosterflow.duckdb")
    assert one_file.code == 2 and "{tenant}" in one_file.stderr

    undone = rosterflow(tmp_path, "undo", str(south_run), "--warehouse", template)
    assert undone.code == 0, undone.output
    assert query(tmp_path / "wh" / "south.duckdb", "select count(*) from lms.users") == [(0,)]
    assert query(tmp_path / "wh" / "north.duckdb", "select count(*) from lms.users")[0][0] > 0
    unknown = rosterflow(tmp_path, "undo", "7", "--warehouse", template)
    assert unknown.code == 1 and "no run 7" in unknown.stderr

    # validate resolves references against the tenant's own file (or none, for a new tenant)
    for tenant in ("north", "east"):
        checked = rosterflow(
            tmp_path, "validate", feed, "--warehouse", template, "--tenant", tenant
        )
        assert checked.code == 0, checked.output
    assert not (tmp_path / "wh" / "east.duckdb").exists()


def test_dispatching_to_a_work_pool_needs_a_prefect_server(tmp_path):
    (tmp_path / "inbox").mkdir()
    done = rosterflow(tmp_path, "serve", "--inbox", "inbox", "--pool", "districts", "--once")
    assert done.code == 2
    assert "--pool" in done.stderr and "PREFECT_API_URL" in done.stderr


@pytest.mark.slow
def test_the_console_script_ends_without_teardown_having_written_and_said_everything(tmp_path):
    """The installed `rosterflow` ends a process that never imported Prefect with `os._exit`
    (`flows.cli.main`): its output is whole, its exit code the command's, and the warehouse it
    wrote complete and readable by the next process."""
    program = Path(sys.executable).parent / "rosterflow"
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")
    } | {"PREFECT_HOME": str(tmp_path / ".prefect-home")}
    good = write_feed(tmp_path / "good.zip", tiny_district())
    bad = write_feed(tmp_path / "bad.zip", with_cell(tiny_district(), "users", 0, "role", "wizard"))
    codes = {}
    for feed in (good, bad):
        done = subprocess.run(
            [str(program), "sync", str(feed), "--warehouse", str(tmp_path / "w.duckdb")],
            capture_output=True,
            text=True,
            env=environment,
            cwd=tmp_path,
            timeout=120,
        )
        codes[feed.name] = done.returncode
        assert "Traceback" not in done.stdout + done.stderr
        last = (done.stdout + done.stderr).strip().splitlines()[-1]  # the verdict, last
        assert last.startswith(f"{feed.name}: "), done.stdout + done.stderr
    assert codes == {"good.zip": 0, "bad.zip": 1}
    outcomes = [outcome for *_, outcome in runs(tmp_path / "w.duckdb")]
    assert outcomes == ["applied", "rejected"]


@pytest.mark.slow
def test_a_dry_run_over_the_guard_says_in_one_line_it_would_be_held_and_exits_0(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    assert rosterflow(tmp_path, "sync", write_feed(tmp_path / "d.zip", tiny_district()), "--warehouse", warehouse).code == 0  # fmt: skip
    emptied = write_feed(tmp_path / "d.zip", without_students(tiny_district()))

    dry = rosterflow(tmp_path, "sync", emptied, "--warehouse", warehouse, "--dry-run")

    assert dry.code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert lines[-1].startswith("d.zip: planned — run 2, tenant d, 6 changes planned (dry run")
    assert "; would be held: this feed would remove 2 of the tenant's 5 active managed users" in lines[-1]  # fmt: skip
    # removed records are counted apart from those the feed has: 5 of them, 18 left
    assert lines[-2] == "planned incrementally: 1 of 18 records changed and 5 removed since run 1"
    held = rosterflow(tmp_path, "sync", emptied, "--warehouse", warehouse)
    assert held.code == 1, held.output
    reason = lines[-1].partition("; would be held: ")[2]
    assert f"nothing applied: {reason}. The run is held" in held.stdout  # the same words
    assert [r[3] for r in runs(warehouse)] == ["applied", "planned", "held"]


@pytest.mark.slow
def test_the_share_a_held_run_suggests_lets_it_through_every_removal_guard(tmp_path):
    """A student leaves with their enrollments, and another leaves a class: both shares are over
    the limit, both are named, and the share the message suggests (the larger, the
    enrollments') lets the run through on the first try."""
    warehouse = tmp_path / "w.duckdb"
    settings = tmp_path / "settings.toml"
    settings.write_text("[safety]\nmax_removal_share = 0.05\n")
    assert rosterflow(tmp_path, "sync", write_feed(tmp_path / "d.zip", tiny_district()), "--warehouse", warehouse).code == 0  # fmt: skip
    frames = tiny_district()
    gone = frames | {
        "users": frames["users"].filter(pl.col("sourcedId") != "u-s2"),
        "enrollments": frames["enrollments"].filter(
            pl.col("userSourcedId") != "u-s2", pl.col("sourcedId") != "e2"
        ),
    }
    feed = write_feed(tmp_path / "d.zip", gone)

    held = rosterflow(tmp_path, "sync", feed, "--warehouse", warehouse, "--config", settings)

    assert held.code == 1, held.output
    found = re.search(
        r"remove 1 of the tenant's 5 active managed users \(20%\) and (\d+) of its (\d+) active "
        r"managed enrollments \(\d+%\), above \[safety\] max_removal_share = 0.05\. .* "
        r"--max-removal-share ([0-9.]+) ",
        held.stdout,
    )
    assert found, held.stdout
    removed, active, suggested = int(found[1]), int(found[2]), found[3]
    assert removed / active > 0.2  # the enrollments' share is the larger: it sets the override
    assert removed / active <= float(suggested) < removed / active + 0.01  # rounded up, no more
    applied = rosterflow(
        tmp_path, "sync", feed, "--warehouse", warehouse, "--max-removal-share", suggested
    )
    assert applied.code == 0, applied.output
    assert [r[3] for r in runs(warehouse)] == ["applied", "held", "applied"]


@pytest.mark.slow
def test_a_webhook_that_cannot_be_reached_is_reported_once_on_stderr(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    settings = tmp_path / "settings.toml"
    settings.write_text('[notify]\nwebhook = "http://127.0.0.1:9/hook"\n')
    assert rosterflow(tmp_path, "sync", write_feed(tmp_path / "d.zip", tiny_district()), "--warehouse", warehouse).code == 0  # fmt: skip
    emptied = write_feed(tmp_path / "d.zip", without_students(tiny_district()))

    held = rosterflow(tmp_path, "sync", emptied, "--warehouse", warehouse, "--config", settings)

    assert held.code == 1, held.output
    failed = (
        "rosterflow: the webhook notification of rosterflow: d.zip held (run 2, tenant d) failed"
    )
    assert held.stderr.count(failed) == 1, held.stderr
    assert failed not in held.stdout
