"""`rosterflow sync`: exit codes 0/1/2 and what the user reads, through real flow runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pytest
from polars.exceptions import PanicException
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from rosterflow.flows.cli import EXIT_REJECTED, EXIT_UNREADABLE, app, failure_exit
from rosterflow.schemas.feed import FeedError
from rosterflow.warehouse.schema import WarehouseError
from tests.feeds import (
    feed_files,
    tiny_district,
    with_cell,
    without_students,
    write_feed,
    write_zip,
)
from tests.flows.cli_without_prefect import rosterflow

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def sync(*arguments: str):
    return runner.invoke(app, ["sync", *map(str, arguments)])


def lms_users(warehouse: Path) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql("select * from lms.users order by all").pl()


def outcomes(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            r[0] for r in con.sql("select outcome from audit.sync_runs order by run_id").fetchall()
        ]


@pytest.mark.flow
def test_sync_applies_then_a_dry_run_plans_both_exit_0(tmp_path):
    feed, warehouse = write_feed(tmp_path / "north.zip", tiny_district()), tmp_path / "w.duckdb"

    applied = sync(feed, "--warehouse", warehouse)

    assert applied.exit_code == 0, applied.output
    assert re.search(r"^ user\s+create\s+5 $", applied.output, re.MULTILINE)
    assert "north.zip: applied — run 1, tenant north" in applied.output
    assert lms_users(warehouse).height == 5

    changed = with_cell(tiny_district(), "users", 0, "familyName", "Byron")
    dry = sync(
        write_feed(tmp_path / "north-2.zip", changed),
        "--warehouse",
        warehouse,
        "--tenant",
        "north",
        "--dry-run",
    )

    assert dry.exit_code == 0, dry.output
    assert "north-2.zip: planned — run 2, tenant north, 1 change planned (dry run" in dry.output
    assert "Lovelace" in lms_users(warehouse)["family_name"].to_list()


@pytest.mark.flow
def test_with_a_prefect_api_the_sync_is_a_flow_run_with_its_artifacts(tmp_path):
    """The harness configures an API: the CLI runs the flow there, not the steps in-process."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterName,
    )

    name = f"{tmp_path.name}.zip"  # unique within the session's runs
    feed = write_feed(tmp_path / name, tiny_district(), properties={"source.systemCode": "cli"})

    applied = sync(feed, "--warehouse", tmp_path / "w.duckdb")

    assert applied.exit_code == 0, applied.output
    with get_client(sync_client=True) as client:
        (flow_run,) = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
        flow = client.read_flow(flow_run.flow_id)
    assert flow.name == "rosterflow-sync" and flow_run.state.is_completed()
    assert {a.key for a in artifacts} == {"sync-cli-summary", "sync-cli-issues"}


@pytest.mark.slow
@pytest.mark.flow
def test_sync_rejects_errors_and_holds_over_the_guard_with_exit_1_and_leaves_lms_unchanged(
    tmp_path,
):
    warehouse = tmp_path / "w.duckdb"
    assert (
        sync(write_feed(tmp_path / "d.zip", tiny_district()), "--warehouse", warehouse).exit_code
        == 0
    )
    before = lms_users(warehouse)

    invalid = sync(
        write_feed(tmp_path / "d.zip", with_cell(tiny_district(), "users", 2, "role", "pupil")),
        "--warehouse",
        warehouse,
    )
    assert invalid.exit_code == 1, invalid.output
    assert "rejected" in invalid.output and "users.csv:4" in invalid.output
    assert "The warehouse is unchanged" in invalid.output

    emptied = write_feed(tmp_path / "d.zip", without_students(tiny_district()))
    guarded = sync(emptied, "--warehouse", warehouse)
    assert guarded.exit_code == 1, guarded.output
    assert "--max-removal-share" in guarded.output
    assert_frame_equal(lms_users(warehouse), before)

    overridden = sync(emptied, "--warehouse", warehouse, "--max-removal-share", "1")
    assert overridden.exit_code == 0, overridden.output
    assert outcomes(warehouse) == ["applied", "rejected", "held", "applied"]


@pytest.mark.slow  # (flow runs; the same failure in-process stays in the fast tests)
@pytest.mark.flow
def test_a_run_that_fails_while_applying_exits_1_and_says_it_was_rolled_back(tmp_path, monkeypatch):
    from rosterflow.warehouse import apply

    def disk_full():
        raise OSError(28, "No space left on device")

    warehouse_path = tmp_path / "w.duckdb"
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    monkeypatch.setattr(apply, "_pause_for_kill_test", disk_full)

    failed = sync(feed, "--warehouse", warehouse_path)

    assert failed.exit_code == 1, failed.output
    assert "failed while applying and was rolled back" in failed.output
    assert "No space left on device" in failed.output and "Traceback" not in failed.output
    assert lms_users(warehouse_path).height == 0
    assert outcomes(warehouse_path) == ["failed"]


@pytest.mark.slow  # (a flow run per input error: 5 s)
@pytest.mark.flow
def test_input_errors_raised_inside_the_flow_exit_2_with_one_sentence(tmp_path):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(feed.read_bytes()[:-30])  # no end of central directory
    not_duckdb = tmp_path / "notes.duckdb"
    not_duckdb.write_text("these are my notes")

    for arguments, expected in [
        ((damaged, "--warehouse", tmp_path / "w.duckdb"), "not a zip archive"),
        ((feed, "--warehouse", not_duckdb), "cannot open the warehouse"),
        ((feed, "--warehouse", tmp_path), "cannot open the warehouse"),
    ]:
        outcome = sync(*arguments)
        assert outcome.exit_code == 2, outcome.output
        assert expected in outcome.output
        assert "Traceback" not in outcome.output and outcome.output.count("\n") <= 3


def unreadable_feeds(tmp_path: Path) -> list[Path]:
    """A folder whose users.csv is not UTF-8, and a zip whose users.csv does not inflate: both
    fail only once the files are read, after the manifest was."""
    files = feed_files(tiny_district())
    folder = tmp_path / "north"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data.replace(b",Ada,", b",\xc0da,"))
    corrupt = bytearray(write_zip(tmp_path / "north.zip", files).read_bytes())
    with zipfile.ZipFile(tmp_path / "north.zip") as archive:
        info = archive.getinfo("users.csv")
    start = info.header_offset + 30 + len(info.filename) + 5
    corrupt[start : start + 20] = b"\x00" * 20  # the compressed bytes of users.csv
    (tmp_path / "north.zip").write_bytes(bytes(corrupt))
    return [folder, tmp_path / "north.zip"]


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "engine",
    [  # (seven flow runs: 16 s under Prefect, with the slow tests)
        pytest.param("--prefect", marks=[pytest.mark.flow, pytest.mark.slow]),
        "--no-prefect",
    ],
)
def test_a_feed_that_cannot_be_read_exits_2_and_writes_no_warehouse_file(tmp_path, engine):
    feeds = unreadable_feeds(tmp_path / "feeds")
    new, layout = tmp_path / "new" / "w.duckdb", tmp_path / "wh" / "{tenant}.duckdb"
    existing = tmp_path / "existing"
    existing.mkdir()
    applied = sync(
        write_feed(tmp_path / "good.zip", tiny_district()),
        "--warehouse",
        existing / "w.duckdb",
        "--tenant",
        "north",
        engine,
    )
    assert applied.exit_code == 0, applied.output
    assert (existing / "w.duckdb.seal").exists()
    before = files_under(existing)

    for feed in feeds:
        for warehouse in (new, layout, existing / "w.duckdb"):
            refused = sync(feed, "--warehouse", warehouse, "--tenant", "north", engine)

            assert refused.exit_code == EXIT_UNREADABLE, refused.output
            assert "users.csv" in refused.output and "Traceback" not in refused.output

    assert not (tmp_path / "new").exists() and not (tmp_path / "wh").exists()
    assert files_under(existing) == before  # the seal too: the next sync still trusts it


def test_usage_mistakes_exit_2_before_prefect_starts(tmp_path):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    (tmp_path / "s.toml").write_text("[policy]\nusers = 'vanish'\n")
    for arguments, expected in [
        ((tmp_path / "missing.zip",), "no such file"),
        ((feed, "--config", tmp_path / "s.toml"), "vanish"),
        ((feed, "--config", tmp_path / "none.toml"), "no such settings file"),
        ((feed, "--max-removal-share", "1.5"), "max-removal-share"),
    ]:
        outcome = sync(*arguments)
        assert outcome.exit_code == 2, outcome.output
        assert expected in outcome.output and "Traceback" not in outcome.output


@pytest.mark.slow  # (a process and a flow run, 4 s; in-process: test_cli_plain's input errors)
@pytest.mark.flow
def test_the_terminal_shows_one_line_and_no_prefect_traceback_for_an_unreadable_feed(
    tmp_path, prefect_harness
):
    """In a real process: Prefect logs a failed task with its traceback to the console unless
    the CLI silences it."""
    from prefect.settings import PREFECT_API_URL

    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    environment = os.environ | {
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_HOME": str(prefect_harness),
        "PYTHONPATH": str(ROOT),
    }
    command = ["sync", str(junk), "--warehouse", str(tmp_path / "w.duckdb")]
    done = subprocess.run(
        [sys.executable, "-m", "rosterflow.flows.cli", *command],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"rosterflow: {junk}: ") and "zip" in line


@pytest.mark.parametrize(
    ("error", "step", "code", "says"),
    [
        (FeedError("d.zip: damaged zip archive"), "load-feed", EXIT_UNREADABLE, "damaged zip"),
        (WarehouseError("w.duckdb: locked"), None, EXIT_UNREADABLE, "locked"),
        (OSError("disk full"), "apply", EXIT_REJECTED, "rolled back"),
        (ValueError("a bug"), "plan", EXIT_REJECTED, "recorded in audit.sync_runs"),
        (KeyError("artifact"), "publish", EXIT_REJECTED, "the run was recorded"),
    ],
)
def test_failures_map_to_exit_codes_even_when_wrapped(error, step, code, says, capsys):
    try:
        raise RuntimeError("Flow run encountered an exception") from error
    except RuntimeError as wrapped:
        exit_ = failure_exit(wrapped, step, verbose=False)
    assert exit_.exit_code == code
    assert says in capsys.readouterr().err


def test_an_unreachable_prefect_api_is_a_usage_error_with_the_fix(capsys):
    try:
        raise RuntimeError(
            "Failed to reach API at http://127.0.0.1:9/api/"
        ) from httpx.ConnectError("refused")
    except RuntimeError as wrapped:
        exit_ = failure_exit(wrapped, None, verbose=False)
    assert exit_.exit_code == EXIT_UNREADABLE
    assert "prefect server start" in capsys.readouterr().err


def test_an_error_after_the_run_was_recorded_never_says_it_was_rolled_back(tmp_path, monkeypatch):
    from rosterflow.flows import plain

    def sync_then_break(**parameters):
        plain_sync(**parameters)
        raise OSError("No space left on device")

    plain_sync = plain.sync
    monkeypatch.setattr(plain, "sync", sync_then_break)
    warehouse = tmp_path / "w.duckdb"

    broken = sync(
        write_feed(tmp_path / "d.zip", tiny_district()), "--warehouse", warehouse, "--no-prefect"
    )

    assert broken.exit_code == EXIT_REJECTED, broken.output
    said = " ".join(broken.output.split())
    assert "run 1 is recorded in the warehouse (applied" in said and "No space left" in said
    assert "rolled back" not in said
    assert outcomes(warehouse) == ["applied"]


@pytest.mark.parametrize(
    ("frames", "outcome"),
    [
        (tiny_district(), "applied"),
        (with_cell(tiny_district(), "users", 2, "role", "pupil"), "rejected"),
    ],
    ids=["applied", "rejected"],
)
def test_a_prefect_api_lost_after_the_run_was_recorded_says_so_and_exits_1(
    tmp_path, monkeypatch, frames, outcome
):
    """The Prefect engine records a task's end after the task committed: an API gone then must
    not send the user to run a sync again that the warehouse already holds."""
    from rosterflow.flows import plain

    def sync_then_lose_prefect(**parameters):
        plain_sync(**parameters)
        raise RuntimeError("Failed to reach API") from httpx.ConnectError("connection refused")

    plain_sync = plain.sync
    monkeypatch.setattr(plain, "sync", sync_then_lose_prefect)
    warehouse = tmp_path / "w.duckdb"

    lost = sync(write_feed(tmp_path / "d.zip", frames), "--warehouse", warehouse, "--no-prefect")

    assert lost.exit_code == EXIT_REJECTED, lost.output
    said = " ".join(lost.output.split())
    assert f"run 1 is recorded in the warehouse ({outcome}" in said
    assert "prefect server start" not in said and "Traceback" not in said
    assert outcomes(warehouse) == [outcome]
    assert lms_users(warehouse).height == (frames["users"].height if outcome == "applied" else 0)


@pytest.mark.parametrize(
    # (the Prefect variant, a flow run of 6 s, runs with the slow tests)
    "engine",
    [pytest.param("--prefect", marks=[pytest.mark.flow, pytest.mark.slow]), "--no-prefect"],
)
def test_a_feed_in_the_configured_encoding_syncs_its_names_as_written(tmp_path, engine):
    frames = with_cell(tiny_district(), "users", 0, "givenName", "Zoë")
    utf8 = write_feed(tmp_path / "utf8", frames)
    feed = tmp_path / "north"  # as a Windows SIS saves it
    feed.mkdir()
    for path in utf8.iterdir():
        (feed / path.name).write_bytes(path.read_text().encode("cp1252"))
    warehouse, config = tmp_path / "w.duckdb", tmp_path / "s.toml"

    refused = sync(feed, "--warehouse", warehouse, engine)

    assert refused.exit_code == EXIT_UNREADABLE, refused.output
    assert "north: users.csv line 2: not UTF-8" in refused.output

    config.write_text('[feed]\nencoding = "cp1252"\n')
    applied = sync(feed, "--warehouse", warehouse, "--config", config, engine)

    assert applied.exit_code == 0, applied.output
    assert "Zoë" in lms_users(warehouse)["given_name"].to_list()
    assert outcomes(warehouse) == ["applied"]


def test_a_webhook_holding_credentials_is_refused_before_any_run_without_showing_them(tmp_path):
    feed = write_feed(tmp_path / "d.zip", with_cell(tiny_district(), "users", 2, "role", "pupil"))
    config, warehouse = tmp_path / "s.toml", tmp_path / "w.duckdb"
    for webhook in (
        "https://alice:PaSsW0rd@hooks.example.org/rosterflow",
        "https://alice:PaSsW0rd@hooks.example.org:8443/rosterflow",
        "ftp://alice:PaSsW0rd@example.org/x",  # a wrong scheme too
    ):
        config.write_text(f'[notify]\nwebhook = "{webhook}"\n')

        refused = sync(feed, "--warehouse", warehouse, "--config", config, "--no-prefect")

        assert refused.exit_code == EXIT_UNREADABLE, refused.output
        (line,) = refused.output.strip().splitlines()
        assert "[notify] webhook: the URL holds credentials (user:password@host)" in line
        assert "PaSsW0rd" not in refused.output and "alice" not in refused.output
        assert not warehouse.exists()  # no run was recorded, nothing was sent


def test_a_prefect_api_url_is_never_shown_with_its_credentials(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    feed = write_feed(tmp_path / "d.zip", tiny_district())
    with temporary_settings({PREFECT_API_URL: "http://bob:Hunter2@127.0.0.1:9/api"}):
        refused = sync(feed, "--warehouse", tmp_path / "w.duckdb", "--verbose")

    assert refused.exit_code == EXIT_UNREADABLE, refused.output
    assert "cannot reach the Prefect API at http://127.0.0.1:9/api" in refused.output
    assert "Hunter2" not in refused.output and "bob:" not in refused.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "value", "command", "takes"),
    [
        ("ROSTERFLOW_MAX_FEED_BYTES", "abc", "validate", "a positive whole number of bytes"),
        ("ROSTERFLOW_MAX_FEED_BYTES", "-5", "sync", "a positive whole number of bytes"),
        ("ROSTERFLOW_MAX_COMPRESSION_RATIO", "x", "validate", "a positive number"),
        ("ROSTERFLOW_LOCK_WAIT_SECONDS", "abc", "runs", "a number of seconds, 0 or more"),
    ],
)
def test_an_environment_limit_that_is_no_number_exits_2_in_one_line(
    tmp_path, monkeypatch, variable, value, command, takes
):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    warehouse = tmp_path / "w.duckdb"
    assert sync(feed, "--warehouse", warehouse, "--no-prefect").exit_code == 0
    monkeypatch.setenv(variable, value)
    arguments = {
        "validate": ["validate", str(feed)],
        "sync": ["sync", str(feed), "--warehouse", str(warehouse), "--no-prefect"],
        "runs": ["runs", "--warehouse", str(warehouse)],
    }[command]

    refused = runner.invoke(app, arguments)

    assert refused.exit_code == EXIT_UNREADABLE, refused.output
    (line,) = refused.output.strip().splitlines()
    assert line.startswith(f"rosterflow: {variable}={value!r}: give {takes} (unset: ")
    assert outcomes(warehouse) == ["applied"]  # nothing more was run


@pytest.mark.slow
@pytest.mark.parametrize("tenant", ["", "   "])
@pytest.mark.parametrize(
    "command",
    [
        ["sync", "{feed}"],
        ["sync", "https://sis.example/ims/oneroster/v1p1"],
        ["validate", "{feed}"],
        ["runs"],
        ["grades", "export", "{out}"],
        ["grades", "push", "https://sis.example/ims/oneroster/v1p1"],
    ],
)
def test_an_empty_or_blank_tenant_is_a_usage_error_of_every_command_taking_one(
    tmp_path, command, tenant
):
    """As a script passing an unset $TENANT gives: it would sync into the feed's default
    tenant, or into a tenant "   " of its own, beside the real one."""
    warehouse = tmp_path / "w.duckdb"
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    assert sync(feed, "--warehouse", warehouse, "--no-prefect").exit_code == 0
    before = warehouse.read_bytes()
    arguments = [a.format(feed=feed, out=tmp_path / "g.zip") for a in command]

    done = runner.invoke(app, [*arguments, "--warehouse", str(warehouse), "--tenant", tenant])

    assert done.exit_code == 2, done.output
    assert done.output.strip() == (
        f"rosterflow: --tenant {tenant!r}: a tenant's name cannot be empty or blank (an unset "
        "variable?)"
    )
    assert warehouse.read_bytes() == before
    assert not (tmp_path / "g.zip").exists()


@pytest.mark.parametrize("tenant", [" north", "north ", "north\t"])
def test_a_tenant_with_spaces_around_it_is_a_usage_error(tmp_path, tenant):
    """`north ` would be a tenant beside `north`, every record made again under new ids (a
    manifest's systemCode is read without its spaces)."""
    warehouse = tmp_path / "w.duckdb"
    feed = write_feed(tmp_path / "d.zip", tiny_district())

    done = sync(feed, "--warehouse", warehouse, "--no-prefect", "--tenant", tenant)

    assert done.exit_code == 2, done.output
    assert done.output.strip() == (
        f"rosterflow: --tenant {tenant!r}: a tenant's name cannot start or end with spaces; "
        "give --tenant 'north'"
    )
    assert not warehouse.exists()


@pytest.mark.parametrize("command", ["validate", "sync"])
@pytest.mark.parametrize("feed", ["", "  "])
def test_an_empty_feed_argument_is_a_usage_error_not_the_current_folder(
    tmp_path, monkeypatch, command, feed
):
    """As a script passing an unset $FEED gives: as a path it would be the current folder."""
    write_feed(tmp_path, tiny_district())  # a feed there, which it must not read
    monkeypatch.chdir(tmp_path)

    done = runner.invoke(app, [command, feed, "--warehouse", str(tmp_path / "w.duckdb")])

    assert done.exit_code == EXIT_UNREADABLE, done.output
    assert done.output == (
        f"rosterflow: feed {feed!r}: empty; name a OneRoster .zip or folder (a script's unset "
        "variable?)\n"
    )
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize("given", [".", "..", "north/.", "north/sub/.."])
def test_a_feed_folder_named_dot_or_dot_dot_is_recorded_and_tenanted_by_its_own_name(
    tmp_path, monkeypatch, given
):
    """`rosterflow sync .` in a feed folder whose manifest has no source.systemCode: the
    default tenant is the folder's name, never '' (which --tenant refuses) nor '..'."""
    folder = write_feed(tmp_path / "north", tiny_district())
    (folder / "sub").mkdir()
    monkeypatch.chdir(folder / "sub" if given == ".." else folder if given == "." else tmp_path)
    warehouse = tmp_path / "w.duckdb"

    done = sync(given, "--warehouse", warehouse, "--no-prefect")

    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1] == "north: applied — run 1, tenant north, 33 changes"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.sql("select tenant, feed_name from audit.sync_runs").fetchall() == [
            ("north", "north")
        ]
        assert con.sql("select distinct tenant from lms.users").fetchall() == [("north",)]


def test_a_tenant_not_in_utf8_is_a_usage_error(tmp_path):
    feed = write_feed(tmp_path / "d.zip", tiny_district())
    tenant = b"north\xff".decode("utf-8", "surrogateescape")  # as Python reads such an argv

    done = sync(feed, "--warehouse", tmp_path / "w.duckdb", "--tenant", tenant)

    assert done.exit_code == EXIT_UNREADABLE, done.output
    assert "not UTF-8 text" in done.output and done.output.count("\n") == 1
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize("given", ["manifest", "--tenant"])
def test_a_tenant_too_long_for_a_file_name_of_the_layout_exits_2_naming_it(tmp_path, given):
    tenant = "x" * 300
    properties = {"source.systemCode": tenant} if given == "manifest" else {}
    feed = write_feed(tmp_path / "d.zip", tiny_district(), properties=properties)
    layout = tmp_path / "wh" / "{tenant}.duckdb"
    named = ["--tenant", tenant] if given == "--tenant" else []

    for command in (["sync", "--no-prefect"], ["validate"]):
        done = runner.invoke(app, [*command, str(feed), "--warehouse", str(layout), *named])

        assert done.exit_code == EXIT_UNREADABLE, done.output
        (line,) = done.output.splitlines()
        assert line.startswith(
            f"rosterflow: tenant {'x' * 40!r}… (300 characters): its warehouse file "
            f"{tmp_path / 'wh' / tenant}.duckdb cannot be made: a name of 307 bytes"
        ), line
    assert not (tmp_path / "wh").exists()  # no file, no registry


@pytest.mark.parametrize(
    "error",
    [RuntimeError("a bug"), PanicException("assertion failed: i < self.len()")],
    ids=["error", "polars-panic"],
)
def test_a_run_that_breaks_while_validating_is_recorded_failed_and_said_in_one_line(
    tmp_path, monkeypatch, error
):
    """Not the feed's fault, a bug (Polars' panic is a BaseException, which no `except
    Exception` would catch): exit 1 in one line, no traceback, the run recorded as failed and
    lms unchanged."""
    from rosterflow.flows import steps

    def broken(*args, **kwargs):
        raise error

    warehouse_path = tmp_path / "w.duckdb"
    monkeypatch.setattr(steps, "validate_feed", broken)

    failed = sync(write_feed(tmp_path / "d.zip", tiny_district()), "--warehouse", warehouse_path)

    assert failed.exit_code == 1, failed.output
    assert "failed while validating" in failed.output and "Traceback" not in failed.output
    assert "recorded in audit.sync_runs with outcome 'failed'" in failed.output
    assert outcomes(warehouse_path) == ["failed"]
    assert lms_users(warehouse_path).height == 0


def test_a_sync_of_a_zip_never_imports_the_pull_and_its_http_clients(tmp_path):
    """Only a URL is pulled: the API client (authlib, httpx) is 0.24 s of imports that a sync
    of a file would pay on every run."""
    feed = write_feed(tmp_path / "north.zip", tiny_district())

    done = rosterflow(tmp_path, "sync", feed, "--warehouse", tmp_path / "w.duckdb", "--dry-run")

    assert done.code == 0, done.output
    pulling = [
        name
        for name in done.modules
        if name.split(".")[0] in ("authlib", "httpx")
        or name.startswith(("rosterflow.sis", "rosterflow.flows.pulling"))
    ]
    assert pulling == []
