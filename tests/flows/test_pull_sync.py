"""`rosterflow sync URL`: a district pulled from its OneRoster API syncs to the very lms rows
its CSV export gives (1.1 and 1.2), is audited by its URL, and later pulls ask only for what
changed, a removal included, when `[source] delta` is on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows.cli import app
from rosterflow.schemas.v12 import as_v12
from rosterflow.schemas.writer import write_feed

runner = CliRunner()
ROSTERING = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")


def district() -> dict[str, pl.DataFrame]:
    return {name: frame for name, frame in generate_feed(60, seed=3).items() if name in ROSTERING}


def sync(*arguments: object) -> str:
    """What the command printed, its lines as wrapped for the terminal joined again."""
    result = runner.invoke(app, ["sync", *map(str, arguments), "--no-prefect"])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def lms_tables(warehouse: Path) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [
            row[0]
            for row in con.sql(
                "select table_name from information_schema.tables "
                "where table_schema = 'lms' and table_type = 'BASE TABLE' order by all"
            ).fetchall()
        ]
        return {name: con.sql(f"select * from lms.{name} order by all").pl() for name in names}


def runs(warehouse: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql("select feed_name, outcome from audit.sync_runs order by run_id").fetchall()


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_same_district_by_rest_and_by_csv_gives_identical_lms_tables(tmp_path, version):
    frames = district() if version == "1.1" else as_v12(district())
    feed = write_feed(tmp_path / "export.zip", frames, version=version)
    by_csv, by_rest = tmp_path / "csv.duckdb", tmp_path / "rest.duckdb"
    sync(feed, "--warehouse", by_csv, "--tenant", "north")
    api = RosterApi(frames, version)
    with serving(api) as root:
        url = root + api.base_path
        pulled = sync(url, "--warehouse", by_rest, "--tenant", "north")
    assert f"{url}: applied — run 1, tenant north" in pulled
    expected, found = lms_tables(by_csv), lms_tables(by_rest)
    assert expected["users"].height > 60 and expected["enrollments"].height > 60
    assert list(found) == list(expected)
    for name, table in expected.items():
        assert_frame_equal(found[name], table)
    assert runs(by_rest) == [(url, "applied")]


def now_text(later: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + later).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_a_delta_asks_for_what_changed_and_removes_a_record(tmp_path):
    frames = district()
    config = tmp_path / "rosterflow.toml"
    config.write_text("[source]\ndelta = true\nfull_pull_days = 7\n")
    warehouse = tmp_path / "w.duckdb"
    api = RosterApi(frames)
    with serving(api) as root:
        url = root + api.base_path
        first = sync(url, "--warehouse", warehouse, "--tenant", "north", "--config", config)
        assert "a full pull: the tenant's last applied run was no pull of it" in first

        # a week later at the SIS: one enrollment withdrawn, one user renamed
        enrollments, users = frames["enrollments"], frames["users"]
        gone = enrollments.filter(pl.col("role") == "student")["sourcedId"][0]
        renamed = users.filter(pl.col("role") == "student")["sourcedId"][-1]
        changed = frames | {
            "enrollments": enrollments.with_columns(
                pl.when(pl.col("sourcedId") == gone).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
                for c, v in {"status": "tobedeleted", "dateLastModified": now_text()}.items()
            ),
            "users": users.with_columns(
                pl.when(pl.col("sourcedId") == renamed)
                .then(pl.lit(v))
                .otherwise(pl.col(c))
                .alias(c)
                for c, v in {"familyName": "Okafor", "dateLastModified": now_text()}.items()
            ),
        }
        api.load(changed)
        api.requests.clear()
        second = sync(url, "--warehouse", warehouse, "--tenant", "north", "--config", config)

    # (each collection's next page is asked for too, with the same filter)
    filters = {r.split("filter=")[1].split("&")[0] for r in api.requests if "filter=" in r}
    assert len(filters) == 1 and all(r.startswith("GET") and "filter=" in r for r in api.requests)
    assert "1 users, 1 enrollments in" in second and "what changed since" in second
    (first_run, _), (second_run, outcome) = runs(warehouse)
    assert first_run == url and outcome == "applied"
    assert second_run.startswith(f"{url}?filter=dateLastModified>'")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        actions = con.sql(
            "select entity, external_id, action from audit.changes where run_id = 2 order by all"
        ).fetchall()
    # the enrollment is inactivated ([policy] enrollments), the user renamed, nothing else
    assert actions == [
        ("enrollment", f"or--{gone}", "inactivate"),
        ("user", f"or--{renamed}", "update"),
    ]


@pytest.mark.slow
@pytest.mark.flow
def test_a_url_synced_as_a_prefect_flow_run_is_named_and_audited_by_the_url(tmp_path):
    from prefect.client.orchestration import get_client

    warehouse = tmp_path / "w.duckdb"
    api = RosterApi(district())
    with serving(api) as root:
        url = root + api.base_path
        result = runner.invoke(
            app, ["sync", url, "--tenant", "north", "--warehouse", str(warehouse), "--prefect"]
        )
    assert result.exit_code == 0, result.output
    assert runs(warehouse) == [(url, "applied")]

    async def flow_run_names() -> list[str]:
        async with get_client() as client:
            return [run.name for run in await client.read_flow_runs()]

    import asyncio

    assert url in asyncio.run(flow_run_names())


@pytest.mark.slow
def test_a_12_delta_that_only_removes_users_is_applied(tmp_path):
    """A 1.2 delta whose changed users are all removals (a sourcedId, a status and a time, no
    roles, as SISs send them) made no roles rows, and roles.csv was marked absent beside a
    delta users.csv: the run was rejected (manifest.roles_mode) and the users stayed."""
    frames = as_v12(district())
    config = tmp_path / "rosterflow.toml"
    config.write_text("[source]\ndelta = true\n")
    warehouse = tmp_path / "w.duckdb"
    api = RosterApi(frames, "1.2")
    student = frames["users"].filter(pl.col("sourcedId").str.starts_with("usr-stu"))
    gone = student["sourcedId"][0]
    removal = {"sourcedId": gone, "status": "tobedeleted", "dateLastModified": now_text()}

    def delta(method: str, path: str, query: dict[str, str]):
        if "filter" not in query:
            return None
        name = path.rsplit("/", 1)[1]
        records = [removal] if name == "users" else []
        return 200, {"X-Total-Count": str(len(records))}, json.dumps({name: records}).encode()

    with serving(api) as root:
        url = root + api.base_path
        sync(url, "--warehouse", warehouse, "--tenant", "north", "--config", config)
        api.fault = delta
        second = sync(url, "--warehouse", warehouse, "--tenant", "north", "--config", config)

    assert "1 users, 0 roles in" in second and "what changed since" in second
    (_, first), (_, outcome) = runs(warehouse)
    assert (first, outcome) == ("applied", "applied")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        actions = con.sql(
            "select entity, external_id, action from audit.changes "
            "where run_id = 2 and entity = 'user' order by all"
        ).fetchall()
    assert actions == [("user", f"or--{gone}", "inactivate")]
