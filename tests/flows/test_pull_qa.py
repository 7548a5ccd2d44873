"""`rosterflow pull` where an API keeps its demographics to itself: a 401, a 403 or a 404 on
the optional `/demographics` leaves them out with a warning and writes the roster; the same
answer on a required collection still ends the pull, writing nothing. A SIS writing its times
as PostgreSQL does is synced, and so is a delta that a SIS answers as 1EdTech has it (200 with
no content where nothing changed); a record the pull refuses is named in its one line; and a
district's edge values (records to delete in a full roster, text with quotes and commas,
lists written with spaces) give the same lms rows by REST as by CSV."""

from __future__ import annotations

import json
import zipfile

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import app
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.spec import FILE_SPECS
from rosterflow.schemas.v12 import as_v12
from rosterflow.schemas.writer import write_feed
from tests.flows.test_pull_sync import lms_tables, now_text, runs, sync

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

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


def test_a_sync_s_line_says_why_the_pull_was_full_before_the_warning(tmp_path, district):
    """The reason came after the warning, read as if the missing demographics were why the
    pull was full."""
    api = RosterApi(district, client=CLIENT)
    api.fault = refusing("/demographics", 404)
    with serving(api) as root:
        env = {
            "ROSTERFLOW_TOKEN_URL": root + "/token",
            "ROSTERFLOW_CLIENT_ID": CLIENT[0],
            "ROSTERFLOW_CLIENT_SECRET": CLIENT[1],
        }
        warehouse = ("--warehouse", str(tmp_path / "w.duckdb"), "--tenant", "north")
        synced = runner.invoke(
            app, ["sync", root + api.base_path, *warehouse, "--no-prefect"], env=env
        )

    assert synced.exit_code == 0, synced.output
    line = said(synced.output)
    assert "records/s): a full pull ([source] delta is off); warning: demographics not" in line


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


def test_a_sis_writing_its_times_as_postgresql_does_is_synced(tmp_path, district):
    """dateLastModified `2026-01-05 08:00:00.123+00` (a timestamptz as PostgreSQL writes it,
    ISO 8601 with a zone of hours) was kept as sent, which validation refuses: every record
    an error, the run rejected, each sync of the district after it too."""
    stamped = {
        name: frame.with_columns(pl.lit("2026-01-05 08:00:00.123+00").alias("dateLastModified"))
        for name, frame in district.items()
    }
    api = RosterApi(stamped)
    warehouse = tmp_path / "w.duckdb"
    with serving(api) as root:
        url = root + api.base_path
        done = runner.invoke(
            app, ["sync", url, "--tenant", "north", "--warehouse", str(warehouse), "--no-prefect"]
        )

    assert done.exit_code == 0, done.output
    assert f"{url}: applied — run 1, tenant north" in said(done.output)


def test_a_pull_refusing_a_record_names_it_in_one_line_and_writes_nothing(tmp_path, district):
    api = RosterApi(district)
    at_fault = district["enrollments"]["sourcedId"][2]

    def user_as_text(method, path, query):
        if not path.endswith("/enrollments"):
            return None
        status, headers, body = api._page("enrollments", path, query)
        records = json.loads(body)["enrollments"]
        records[2]["user"] = 17
        return status, headers, json.dumps({"enrollments": records}).encode()

    api.fault = user_as_text
    with serving(api) as root:
        done = runner.invoke(app, ["pull", root + api.base_path, str(tmp_path / "feed.zip")])

    assert done.exit_code == 2, done.output
    assert said(done.output) == (
        f"rosterflow: {root}{api.base_path}/enrollments?limit=1000&offset=0: a record's user "
        'holds a number, where the OneRoster JSON binding has {"sourcedId": …} (record 3 of '
        f"the page, sourcedId '{at_fault}'); nothing was written"
    )
    assert list(tmp_path.iterdir()) == []


def with_values(frame: pl.DataFrame, row: int, **values: str) -> pl.DataFrame:
    """`frame` with the columns `values` names set in its row `row`."""
    at = pl.int_range(pl.len()) == row
    return frame.with_columns(
        pl.when(at).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
        for column, value in values.items()
    )


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_districts_edge_values_give_the_same_lms_rows_by_rest_as_by_csv(tmp_path, version):
    """The comparison of test_pull_sync on a district of plain values, here with what a CSV
    and its JSON carry differently: a record to delete in a full roster, text with quotes,
    commas and characters outside the BMP, and lists written with a space after each comma
    (`09, 10`), which the JSON binding sends as arrays."""
    feed = {n: f for n, f in generate_feed(30, seed=3).items() if n in ROSTERING}
    users = feed["users"].with_row_index("row")
    students = users.filter(pl.col("role") == "student")["row"]
    parent = users.filter(pl.col("agentSourcedIds").str.contains(",")).row(0, named=True)
    edited = with_values(
        feed["users"],
        students[0],
        givenName="Zoë 🎓",
        familyName='O\'Brien, "Jr"',
        grades="09, 10",
        userIds="{LDAP:1}, {SIS:2}",
    )
    edited = with_values(edited, students[1], status="tobedeleted")
    edited = with_values(
        edited, parent["row"], agentSourcedIds=parent["agentSourcedIds"].replace(",", ", ")
    )
    feed |= {
        "users": edited,
        "classes": with_values(
            feed["classes"], 0, title='Algebra, "Honors"', termSourcedIds="as-2027-s1, as-2027-s2"
        ),
        "courses": with_values(feed["courses"], 0, grades="09, 10", subjects="Math, Science"),
        "enrollments": with_values(feed["enrollments"], 3, status="tobedeleted"),
    }
    frames = feed if version == "1.1" else as_v12(feed)
    by_csv, by_rest = tmp_path / "csv.duckdb", tmp_path / "rest.duckdb"
    export = write_feed(tmp_path / "export.zip", frames, version=version)
    sync(export, "--warehouse", by_csv, "--tenant", "north")
    api = RosterApi(frames, version)
    with serving(api) as root:
        sync(root + api.base_path, "--warehouse", by_rest, "--tenant", "north")

    expected, found = lms_tables(by_csv), lms_tables(by_rest)
    assert list(found) == list(expected)
    for name, table in expected.items():
        assert_frame_equal(found[name], table)
    assert expected["users"].filter(pl.col("given_name") == "Zoë 🎓").height == 1


def test_a_delta_answered_with_no_content_where_nothing_changed_is_applied(tmp_path, district):
    """1EdTech has a filter no record matches answered 200 with no content: a conformant SIS
    answered most nights' delta so for orgs, and the sync exited 2, 'answered an empty body'."""
    config = tmp_path / "rosterflow.toml"
    config.write_text("[source]\ndelta = true\n")
    warehouse = tmp_path / "w.duckdb"
    api = RosterApi(district)

    def no_content_where_none_matches(method, path, query):
        name = path.rsplit("/", 1)[-1]
        if "filter" not in query or name not in api.collections:
            return None
        body = api._page(name, path, query)[2]
        return (200, {}, b"") if json.loads(body) == {name: []} else None

    api.fault = no_content_where_none_matches
    renamed = district["users"]["sourcedId"][5]
    with serving(api) as root:
        url = root + api.base_path
        sync(url, "--warehouse", warehouse, "--tenant", "north", "--config", config)
        users = district["users"].with_columns(
            pl.when(pl.col("sourcedId") == renamed)
            .then(pl.lit(value))
            .otherwise(pl.col(column))
            .alias(column)
            for column, value in {"familyName": "Okafor", "dateLastModified": now_text()}.items()
        )
        api.load(district | {"users": users})
        second = sync(url, "--warehouse", warehouse, "--tenant", "north", "--config", config)

    assert "1 users in" in second and "what changed since" in second
    assert [outcome for _, outcome in runs(warehouse)] == ["applied", "applied"]
    assert runs(warehouse)[1][0].startswith(f"{url}?filter=dateLastModified>'")
