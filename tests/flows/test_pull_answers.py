"""`rosterflow pull` against a SIS that answers as real ones do when they fail: a token
renewal refused mid-pull, a maintenance page with status 200. Each ends in exit 2, one line
naming the URL, no secret, nothing written; never a traceback."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import app

runner = CliRunner()
ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
SECRET = "Zq8-another-secret-Value"


@pytest.fixture(scope="module")
def district():
    return {n: f for n, f in generate_feed(30, seed=7).items() if n in ROSTERING}


def renewal_refused(api: RosterApi):
    """Tokens that live a second; the token endpoint refuses every one after the first, and
    each API request takes a twentieth of a second, so the pull needs a second token."""

    def fault(method, path, query):
        if path == "/token":
            if api._tokens:
                return 401, {}, b'{"error": "invalid_client"}'
            token = secrets.token_urlsafe(8)
            api._tokens.add(token)
            answer = {"access_token": token, "token_type": "Bearer", "expires_in": 1}
            return 200, {}, json.dumps(answer).encode()
        time.sleep(0.05)
        return None

    return fault


def maintenance_page(api: RosterApi):
    return lambda method, path, query: (
        (200, {}, b"<html><h1>Down for maintenance</h1></html>")
        if path.endswith("/users")
        else None
    )


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (
            renewal_refused,
            "/token: the token endpoint refused the credentials of client 'district-7' (invalid_client)",
        ),
        (
            maintenance_page,
            "/ims/oneroster/v1p1/users?limit=10&offset=0: HTTP 200 OK (application/json) answered an HTML page, not a OneRoster JSON object",
        ),
    ],
)
def test_a_failing_answer_is_exit_2_and_one_line_and_nothing_written(
    tmp_path, district, fault, said
):
    api = RosterApi(district, client=("district-7", SECRET))
    api.fault = fault(api)
    (tmp_path / "pull.toml").write_text("[source]\npage_size = 10\nconcurrency = 1\n")
    with serving(api) as root:
        env = {
            "ROSTERFLOW_TOKEN_URL": root + "/token",
            "ROSTERFLOW_CLIENT_ID": "district-7",
            "ROSTERFLOW_CLIENT_SECRET": SECRET,
        }
        result = runner.invoke(
            app,
            [
                "pull",
                root + api.base_path,
                str(tmp_path / "feed.zip"),
                "--config",
                str(tmp_path / "pull.toml"),
            ],
            env=env,
        )
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()) == f"rosterflow: {root}{said}; nothing was written"
    assert SECRET not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pull.toml"]
