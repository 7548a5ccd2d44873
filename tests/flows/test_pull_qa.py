"""`rosterflow pull` where an API keeps its demographics to itself: a 401, a 403 or a 404 on
the optional `/demographics` leaves them out with a warning and writes the roster; the same
answer on a required collection still ends the pull, writing nothing."""

from __future__ import annotations

import json
import zipfile

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import app
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.spec import FILE_SPECS

runner = CliRunner()
ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
CLIENT = ("district-7", "Dm9-demographics-Secret")
NOT_GRANTED = "scope roster-demographics.readonly not granted"


@pytest.fixture(scope="module")
def district() -> dict[str, pl.DataFrame]:
    """A small district that offers demographics of its first three users."""
    feed = {n: f for n, f in generate_feed(12, seed=3).items() if n in ROSTERING}
    users = feed["users"]["sourcedId"].head(3)
    demographics = pl.DataFrame({"sourcedId": users, "birthDate": ["2012-03-04"] * 3})
    return feed | {
        "demographics": demographics.select(
            pl.col(c) if c in demographics.columns else pl.lit(None, pl.String).alias(c)
            for c in FILE_SPECS["demographics"].header
        )
    }


def said(output: str) -> str:
    return " ".join(output.split())


def refusing(path_end: str, status: int):
    """A fault hook answering the collection at `path_end` with `status` and the SIS's words."""
    body = json.dumps({"imsx_codeMajor": "failure", "imsx_description": NOT_GRANTED}).encode()
    return lambda method, path, query: (status, {}, body) if path.endswith(path_end) else None


def pull_with_token(api: RosterApi, root: str, out) -> object:
    env = {
        "ROSTERFLOW_TOKEN_URL": root + "/token",
        "ROSTERFLOW_CLIENT_ID": CLIENT[0],
        "ROSTERFLOW_CLIENT_SECRET": CLIENT[1],
    }
    return runner.invoke(app, ["pull", root + api.base_path, str(out)], env=env)


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (401, "HTTP 401: the credentials of client 'district-7' were refused"),
        (403, "HTTP 403 Forbidden"),
        (404, "HTTP 404 Not Found"),
    ],
)
def test_demographics_kept_from_the_client_leave_them_out_with_a_warning(
    tmp_path, district, status, answer
):
    """A 401 on /demographics ended the whole pull (exit 2, nothing written), and a 403 or a
    404 left the file out without a word."""
    api = RosterApi(district, client=CLIENT)
    api.fault = refusing("/demographics", status)
    out = tmp_path / "feed.zip"
    with serving(api) as root:
        done = pull_with_token(api, root, out)

    assert done.exit_code == 0, done.output
    demographics_url = f"{root}{api.base_path}/demographics?limit=1000&offset=0"
    assert (
        f"; warning: demographics not read ({demographics_url}: {answer} (the server said: "
        f"{NOT_GRANTED})): the feed has no demographics.csv"
    ) in said(done.output)
    with zipfile.ZipFile(out) as written:
        assert "demographics.csv" not in written.namelist()
    feed = open_feed(out)
    assert feed.modes["demographics"] == "absent"
    assert feed.rows("users").height == district["users"].height


def test_demographics_the_api_gives_are_written_and_warn_of_nothing(tmp_path, district):
    api = RosterApi(district, client=CLIENT)
    out = tmp_path / "feed.zip"
    with serving(api) as root:
        done = pull_with_token(api, root, out)

    assert done.exit_code == 0, done.output
    assert "warning" not in done.output
    assert open_feed(out).rows("demographics").height == 3


@pytest.mark.parametrize("status", [401, 403])
def test_the_same_answer_on_a_required_collection_still_ends_the_pull(tmp_path, district, status):
    api = RosterApi(district, client=CLIENT)
    api.fault = refusing("/users", status)
    with serving(api) as root:
        done = pull_with_token(api, root, tmp_path / "feed.zip")

    assert done.exit_code == 2, done.output
    assert len(done.output.strip().splitlines()) == 1, done.output
    assert said(done.output).startswith(
        f"rosterflow: {root}{api.base_path}/users?limit=1000&offset=0: HTTP {status}"
    )
    assert said(done.output).endswith("; nothing was written")
    assert list(tmp_path.iterdir()) == []
