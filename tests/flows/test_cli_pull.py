"""`rosterflow pull URL OUT`: the feed written whole with its manifest, or nothing written and
one line naming the URL and the status; and the client secret shown nowhere, ever."""

from __future__ import annotations

import base64
import json
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
from rosterflow.schemas.v12 import as_v12
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


def test_a_pull_into_a_feed_folder_leaves_every_other_file_there(tmp_path, district):
    out = tmp_path / "feed"
    api = RosterApi(district)
    with serving(api) as root:
        assert pull(root + api.base_path, out).exit_code == 0
        (out / "archive").mkdir()
        (out / "archive" / "2025.zip").write_bytes(b"PK last year")
        (out / "NOTES.md").write_text("mine")
        (out / "roles.csv").write_text("sourcedId\nr1\n")  # a OneRoster file the feed lacks
        again = pull(root + api.base_path, out)
        assert again.exit_code == 0, again.output
        kept = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        api.fault = lambda method, path, query: (
            (502, {}, b"bad gateway") if path.endswith("/users") else None
        )
        with stamina.set_testing(True, attempts=1):
            failed = pull(root + api.base_path, out)

    assert sorted(str(p.relative_to(out)) for p in kept) == sorted(
        ["NOTES.md", "archive/2025.zip", "manifest.csv", *(f"{n}.csv" for n in ROSTERING)]
    )
    assert kept[out / "archive" / "2025.zip"] == b"PK last year"
    assert kept[out / "NOTES.md"] == b"mine"
    assert open_feed(out).rows("users").height == district["users"].height
    # a pull that fails leaves the folder as it was, file for file
    assert failed.exit_code == 2 and "HTTP 502" in said(failed.output)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed"]


def test_a_next_link_to_another_server_or_a_redirect_writes_nothing(tmp_path, district):
    """Neither is followed (the credentials would go there): one line, exit 2."""
    api, elsewhere = RosterApi(district, client=CLIENT), RosterApi(district)
    with serving(api) as root, serving(elsewhere) as other:
        env = {
            "ROSTERFLOW_TOKEN_URL": root + "/token",
            "ROSTERFLOW_CLIENT_ID": CLIENT[0],
            "ROSTERFLOW_CLIENT_SECRET": SECRET,
        }
        users = f"{root}{api.base_path}/users?limit=1000&offset=0"

        def linked(method, path, query):
            if path.endswith("/users"):
                status, headers, body = api._page("users", path, query)
                return status, headers | {"Link": f'<{other}{path}?offset=5>; rel="next"'}, body
            return None

        api.fault = linked
        linked_away = pull(root + api.base_path, tmp_path / "a.zip", env=env)
        api.fault = lambda method, path, query: (
            (302, {"Location": f"{other}{path}"}, b"") if path.endswith("/users") else None
        )
        redirected = pull(root + api.base_path, tmp_path / "b.zip", env=env)

    assert linked_away.exit_code == 2 and len(linked_away.output.strip().splitlines()) == 1
    assert said(linked_away.output) == (
        f"rosterflow: {users}: the next link leads to another server "
        f"({other}{api.base_path}/users?offset=5); it is not followed, as the credentials would "
        "go there too; nothing was written"
    )
    assert redirected.exit_code == 2 and len(redirected.output.strip().splitlines()) == 1
    assert said(redirected.output) == (
        f"rosterflow: {users}: HTTP 302 Found to {other}{api.base_path}/users: give that URL; "
        "nothing was written"
    )
    assert elsewhere.requests == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["pull", "{url}", "{tmp}/f.zip"],
        ["sync", "{url}", "--tenant", "north", "--warehouse", "{tmp}/w.duckdb", "--no-prefect"],
        ["grades", "push", "{url}", "--tenant", "north", "--warehouse", "{tmp}/w.duckdb"],
    ],
)
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://sis.example/ims/oneroster/v1p1?token=Tk-4711",
            "https://sis.example/ims/oneroster/v1p1?…",
        ),
        (
            "https://sis.example/ims/oneroster/v1p1/#Tk-4711",
            "https://sis.example/ims/oneroster/v1p1/#…",
        ),
    ],
)
def test_a_base_url_with_a_query_or_fragment_is_refused_up_front(tmp_path, command, url, shown):
    result = runner.invoke(app, [a.format(url=url, tmp=tmp_path) for a in command])

    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert said(result.output).startswith(
        f"rosterflow: {shown}: not a OneRoster base URL: a base URL takes no query or fragment"
    )
    assert "Tk-4711" not in result.output  # it may be a credential
    assert list(tmp_path.iterdir()) == []  # no feed, no warehouse


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


def test_a_12_pull_says_how_many_profiles_it_left_out_and_why(tmp_path, district):
    """A 1.2 user profile without a credential has no userProfiles.csv row (the CSV binding's
    row is a profile and one credential): the pull leaves it out, and its line says so."""
    api = RosterApi(as_v12(district), "1.2")
    profile = {"profileId": "p1", "profileType": "lms", "vendorId": "v", "credentials": []}
    user = {
        "sourcedId": "u-lone",
        "status": "active",
        "dateLastModified": "2026-01-05T08:00:00.000Z",
        "username": "lone",
        "enabledUser": True,
        "givenName": "Lone",
        "familyName": "Profile",
        "roles": [{"roleType": "primary", "role": "student", "org": {"sourcedId": "x"}}],
        "userProfiles": [profile],
    }
    body = json.dumps({"users": [user]}).encode()
    api.fault = lambda method, path, query: (
        (200, {"X-Total-Count": "1"}, body) if path.endswith("/users") else None
    )
    with serving(api) as root:
        result = pull(root + api.base_path, tmp_path / "feed.zip")
    assert result.exit_code == 0, result.output
    assert (
        "; 1 userProfiles left out (a profile without a credential, which no CSV row can carry)"
        in said(result.output)
    )
    assert open_feed(tmp_path / "feed.zip").modes["userProfiles"] == "absent"


def test_a_secret_no_basic_header_can_carry_is_one_line_and_exit_2(tmp_path):
    """authlib's encoding of the token request's Basic header raised a UnicodeEncodeError: a
    traceback and exit 1 instead of the line naming where the secret came from."""
    secret = "Zq8-s\u20accret"
    env = {
        "ROSTERFLOW_TOKEN_URL": "http://127.0.0.1:9/token",
        "ROSTERFLOW_CLIENT_ID": CLIENT[0],
        "ROSTERFLOW_CLIENT_SECRET": secret,
    }
    result = pull("http://127.0.0.1:9/ims/oneroster/v1p1", tmp_path / "f.zip", env=env)

    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert said(result.output).startswith(
        "rosterflow: the client secret holds a character outside Latin-1"
    )
    assert secret not in result.output
    assert list(tmp_path.iterdir()) == []
