"""`rosterflow pull URL OUT`: the feed written whole with its manifest, or nothing written and
one line naming the URL and the status; and the client secret shown nowhere, ever."""

from __future__ import annotations

import base64
import logging
import zipfile
from pathlib import Path

import pytest
import stamina
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import app
from rosterflow.schemas.feed import open_feed
from tests.syncing import assert_stored_nowhere

runner = CliRunner()
ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
SECRET = "Zq8-very-secret-Value"
CLIENT = ("district-7", SECRET)


@pytest.fixture(scope="module")
def district():
    return {n: f for n, f in generate_feed(30, seed=5).items() if n in ROSTERING}


def pull(*arguments: object, env: dict | None = None):
    return runner.invoke(app, ["pull", *map(str, arguments)], env=env)


def said(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize("name", ["feed.zip", "feed"])
def test_pull_writes_a_feed_that_reads_back_with_its_manifest(tmp_path, district, name):
    api = RosterApi(district)
    with serving(api) as root:
        result = pull(root + api.base_path, tmp_path / name)
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / name}" in said(result.output)
    feed = open_feed(tmp_path / name)
    assert feed.read_issues.filter(severity="error").height == 0
    assert {n: m for n, m in feed.modes.items() if m != "absent"} == dict.fromkeys(
        ROSTERING, "bulk"
    )
    assert feed.rows("users").height == district["users"].height
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing left beside it


def test_a_pull_that_fails_writes_nothing_and_says_one_line(tmp_path, district):
    api = RosterApi(district)
    api.fault = lambda method, path, query: (
        (502, {}, b"bad gateway") if path.endswith("/enrollments") else None
    )
    with stamina.set_testing(True, attempts=2), serving(api) as root:
        result = pull(root + api.base_path, tmp_path / "feed.zip")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert said(result.output) == (
        f"rosterflow: {root}{api.base_path}/enrollments?limit=1000&offset=0: HTTP 502 Bad "
        "Gateway after 2 tries; nothing was written"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_inconsistent_pull_leaves_the_earlier_feed_as_it_was(tmp_path, district):
    out = tmp_path / "feed.zip"
    api = RosterApi(district)
    with serving(api) as root:
        assert pull(root + api.base_path, out).exit_code == 0
        before = out.read_bytes()
        api.fault = lambda method, path, query: (
            (200, {"X-Total-Count": "1"}, b'{"orgs":[{"sourcedId":"a"},{"sourcedId":"a"}]}')
            if path.endswith("/orgs")
            else None
        )
        result = pull(root + api.base_path, out)
    assert result.exit_code == 2 and "sourcedId 'a' comes twice" in said(result.output)
    assert out.read_bytes() == before


def test_the_secret_is_never_printed_logged_or_stored(tmp_path, district, caplog):
    """A refused pull, a verbose pull that retries, and a verbose sync into a warehouse:
    neither the secret nor its Basic form shows in the output, the log or any file written."""
    basic = base64.b64encode(f"{CLIENT[0]}:{SECRET}".encode()).decode()
    caplog.set_level(logging.DEBUG)  # every library's debug lines too
    api = RosterApi(district, client=CLIENT)
    outputs = []
    with serving(api) as root:
        url = root + api.base_path
        env = {
            "ROSTERFLOW_TOKEN_URL": root + "/token",
            "ROSTERFLOW_CLIENT_ID": CLIENT[0],
            "ROSTERFLOW_CLIENT_SECRET": SECRET,
        }
        refused = pull(
            url,
            tmp_path / "a.zip",
            "--verbose",
            env=env | {"ROSTERFLOW_CLIENT_SECRET": SECRET + "x"},
        )
        assert refused.exit_code == 2 and "refused the credentials of client 'district-7'" in said(
            refused.output
        )
        outputs.append(refused.output)
        failures = iter([True])
        api.fault = lambda method, path, query: (
            (503, {"Retry-After": "0"}, b"{}")
            if path.endswith("/users") and next(failures, False)
            else None
        )
        verbose = pull(url, tmp_path / "b.zip", "--verbose", env=env)
        assert verbose.exit_code == 0, verbose.output
        assert "HTTP 503" in said(verbose.output)  # the retry was logged, and shown
        outputs.append(verbose.output)
        config = tmp_path / "rosterflow.toml"
        config.write_text('[source]\nclient_secret_env = "DISTRICT_SECRET"\n')
        synced = runner.invoke(
            app,
            [
                "sync",
                url,
                "--tenant",
                "north",
                "--warehouse",
                str(tmp_path / "w.duckdb"),
                "--config",
                str(config),
                "--verbose",
                "--no-prefect",
            ],
            env={k: v for k, v in env.items() if k != "ROSTERFLOW_CLIENT_SECRET"}
            | {"DISTRICT_SECRET": SECRET},
        )
        assert synced.exit_code == 0, synced.output
        outputs.append(synced.output)
    for text in [*outputs, caplog.text]:
        assert SECRET not in text and basic not in text
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(SECRET.encode() not in p.read_bytes() for p in written)
    for path in written:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                assert all(SECRET.encode() not in archive.read(n) for n in archive.namelist())
    assert_stored_nowhere(tmp_path / "w.duckdb", SECRET)


def test_sync_of_a_url_asks_for_the_tenant(tmp_path):
    result = runner.invoke(app, ["sync", "https://sis.example/ims/oneroster/v1p1", "--no-prefect"])
    assert result.exit_code == 2
    assert (
        said(result.output)
        == "rosterflow: an API has no manifest to name the tenant by: give --tenant"
    )


def test_a_url_that_is_no_oneroster_base_exits_2(tmp_path):
    result = pull("https://sis.example/api/v3", tmp_path / "f.zip")
    assert result.exit_code == 2 and "not a OneRoster base URL" in said(result.output)
    assert not (tmp_path / "f.zip").exists()


def test_a_folder_that_is_not_a_feed_is_not_replaced(tmp_path, district):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    api = RosterApi(district)
    with serving(api) as root:
        result = pull(root + api.base_path, out)
    assert result.exit_code == 2 and "a folder that is not a feed" in said(result.output)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert Path(out / "notes.txt").read_text() == "mine"


def test_a_verbose_command_leaves_the_logger_as_it_found_it(tmp_path, district):
    """--verbose shows rosterflow's log lines for that command only: a later command in the
    same process (a notebook, a test session) shows none of them."""
    logger = logging.getLogger("rosterflow")
    before = (list(logger.handlers), logger.level)
    api = RosterApi(district)
    failures = iter([True, True])
    api.fault = lambda method, path, query: (
        (503, {"Retry-After": "0"}, b"{}")
        if path.endswith("/users") and next(failures, False)
        else None
    )
    with serving(api) as root:
        verbose = pull(root + api.base_path, tmp_path / "a.zip", "--verbose")
        quiet = pull(root + api.base_path, tmp_path / "b.zip")

    assert verbose.exit_code == 0 and "HTTP 503" in said(verbose.output)
    assert quiet.exit_code == 0 and "HTTP 503" not in said(quiet.output), quiet.output
    assert (list(logger.handlers), logger.level) == before
