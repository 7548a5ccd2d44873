"""A sync of a feed without a bulk users.csv refuses the logins its users leave empty or shared
with the tenant's stored users at validation (`flows.steps.with_stored_logins`): rejected with
the very issues `rosterflow validate --warehouse` reports, recorded in audit.issues on the sent
rows' lines, for OneRoster 1.1 and 1.2, a users.csv delta or none, a CSV feed or a pull. The
stored users are read once, for validation and the plan alike, and never for a bulk users.csv."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.demo.api import RosterApi, serving
from rosterflow.demo.district import generate_feed
from rosterflow.flows import commands, steps
from rosterflow.flows.cli import app
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.runs import SyncResult
from rosterflow.schemas.settings import Identity, Safety, Settings
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_resources
from tests.feeds12 import as_v12
from tests.spying import answered_by_lines

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

runner = CliRunner()
TENANT = "north"
VERSIONS = ["1.1", "1.2"]
STAMP = {"status": "active", "dateLastModified": "2027-01-10T08:00:00Z"}
ISSUE_COLUMNS = ["file", "line", "field", "value", "rule", "severity", "message"]


def district(
    version: str, resources: bool = False, usernames: dict[str, str] | None = None
) -> dict[str, pl.DataFrame]:
    """tiny_district in `version` (`with_resources`), with the `usernames` given by sourcedId."""
    frames = with_resources(tiny_district()) if resources else tiny_district()
    users = frames["users"]
    for sourced_id, username in (usernames or {}).items():
        users = users.with_columns(
            username=pl.when(pl.col("sourcedId") == sourced_id)
            .then(pl.lit(username))
            .otherwise("username")
        )
    frames |= {"users": users}
    return frames if version == "1.1" else as_v12(frames)


def user_delta(version: str, sourced_id: str, username: str) -> tuple[dict, dict]:
    """The frames and modes of a delta sending one user of tiny_district under `username`
    (in 1.2 beside an empty roles.csv delta: the user keeps its stored role)."""
    frames = district(version)
    sent = (
        frames["users"]
        .filter(pl.col("sourcedId") == sourced_id)
        .with_columns(username=pl.lit(username), **{k: pl.lit(v) for k, v in STAMP.items()})
    )
    if version == "1.1":
        return {"users": sent}, {"users": "delta"}
    return {"users": sent, "roles": frames["roles"].clear()}, {"users": "delta", "roles": "delta"}


def write(tmp_path: Path, name: str, frames: dict, modes: dict | None, version: str) -> Path:
    return write_feed(tmp_path / f"{name}.zip", frames, modes=modes, version=version)


def settings_file(tmp_path: Path, key: str) -> Path:
    config = tmp_path / f"{key}.toml"
    config.write_text(f'[identity]\nkey = "{key}"\n')
    return config


def sync(feed: Path, warehouse: Path, key: str) -> SyncResult:
    return run_sync(feed, warehouse, Settings(identity=Identity(key=key)), tenant=TENANT)


def recorded_issues(warehouse: Path, run_id: int) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(
            f"select {', '.join(ISSUE_COLUMNS)} from audit.issues where run_id = ? order by all",
            params=[run_id],
        ).fetchall()


def validate_reports(feed: Path, warehouse: Path, config: Path) -> list[tuple]:
    """The issues of `rosterflow validate FEED --warehouse W --config C`."""
    _, validated = commands.validate(feed, config, warehouse, TENANT)
    return sorted(validated.issues.select(ISSUE_COLUMNS).rows(), key=repr)


def logins(warehouse: Path) -> dict[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(con.sql("select external_id, login from lms.users").fetchall())


def synced(tmp_path: Path, frames: dict, version: str, key: str) -> Path:
    warehouse = tmp_path / "w.duckdb"
    result = sync(write(tmp_path, "first", frames, None, version), warehouse, key)
    assert result.outcome == "applied", result.issues
    return warehouse


def assert_rejected_as_validate_reports(
    result: SyncResult, warehouse: Path, reported: list[tuple], expected: list[tuple]
) -> None:
    """`result` rejected at validation, its issues in audit.issues those `validate` reported,
    whose errors are `expected` (file, line, field, value, rule)."""
    assert result.outcome == "rejected"
    assert result.message == f"{len(expected)} validation error{'s' if len(expected) > 1 else ''}"
    errors = [row[:5] for row in reported if row[5] == "error"]
    assert errors == expected
    assert sorted(recorded_issues(warehouse, result.run_id), key=repr) == reported


@pytest.mark.parametrize("version", VERSIONS)
def test_a_delta_user_taking_a_stored_login_is_rejected_with_the_issues_validate_reports(
    tmp_path, version
):
    warehouse = synced(tmp_path, district(version), version, "username")
    before = logins(warehouse)
    # Kim (u-s2) sent alone, signing in as Sam (u-s1, stored, not sent) does, in another case
    frames, modes = user_delta(version, "u-s2", "Sam.Stone")
    feed = write(tmp_path, "delta", frames, modes, version)
    reported = validate_reports(feed, warehouse, settings_file(tmp_path, "username"))

    result = sync(feed, warehouse, "username")

    assert_rejected_as_validate_reports(
        result,
        warehouse,
        reported,
        [("users.csv", 2, "username", "Sam.Stone", "identity.login_duplicate")],
    )
    (message,) = [row[6] for row in reported if row[4] == "identity.login_duplicate"]
    assert message == (
        "[identity] key = 'username': another user signs in with this username too (u-s1: "
        "stored in the warehouse, and kept by a feed that does not send users.csv in bulk); "
        "fix it in the SIS, or send users.csv whole"
    )
    assert logins(warehouse) == before


@pytest.mark.parametrize("version", VERSIONS)
def test_stored_users_sharing_a_login_under_a_new_key_reject_a_feed_without_users_csv(
    tmp_path, version
):
    """Synced under sourcedId, Sam and Kim have one username: under `key = "username"` a feed
    without users.csv keeps them both, and they are reported on no line, named."""
    warehouse = synced(
        tmp_path, district(version, usernames={"u-s2": "SAM.STONE"}), version, "sourcedId"
    )
    before = logins(warehouse)
    absent = ("users", "roles")
    frames = {name: rows for name, rows in district(version).items() if name not in absent}
    feed = write(tmp_path, "no-users", frames, dict.fromkeys(absent, "absent"), version)
    reported = validate_reports(feed, warehouse, settings_file(tmp_path, "username"))

    result = sync(feed, warehouse, "username")

    assert_rejected_as_validate_reports(
        result,
        warehouse,
        reported,
        [("users.csv", None, "username", "sam.stone", "identity.login_duplicate")],
    )
    assert "(u-s1, u-s2)" in next(row[6] for row in reported if row[5] == "error")
    assert logins(warehouse) == before


@pytest.mark.parametrize("version", VERSIONS)
def test_a_delta_taking_the_login_of_a_user_it_renames_is_applied(tmp_path, version):
    warehouse = synced(tmp_path, district(version), version, "username")
    kim, _ = user_delta(version, "u-s2", "sam.stone")
    sam, modes = user_delta(version, "u-s1", "samuel.stone")
    frames = {name: pl.concat([sam[name], kim[name]]) for name in kim}
    feed = write(tmp_path, "renames", frames, modes, version)

    result = run_sync(
        feed,
        warehouse,
        Settings(identity=Identity(key="username"), safety=Safety(login_changes="warn")),
        tenant=TENANT,
    )

    assert result.outcome == "applied", result.issues
    assert {k: v for k, v in logins(warehouse).items() if k in ("or--u-s1", "or--u-s2")} == {
        "or--u-s1": "samuel.stone",
        "or--u-s2": "sam.stone",
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_stored_users_are_read_once_for_a_delta_and_never_for_a_bulk_users_csv(
    tmp_path, reads, version
):
    # every synced file in bulk: the sync reads no stored record at all
    whole = district(version, resources=True)
    warehouse = synced(tmp_path, whole, version, "username")
    renamed = dict(whole)
    renamed["users"] = whole["users"].with_columns(
        username=pl.when(pl.col("sourcedId") == "u-s2").then(pl.lit("kim.li")).otherwise("username")
    )
    backup = tmp_path / "before.duckdb"
    shutil.copy(warehouse, backup)
    reads.clear()

    bulk = sync(write(tmp_path, "bulk", renamed, None, version), warehouse, "username")

    assert bulk.outcome == "held", bulk.message  # (a login change: held for a person's say)
    assert reads == []

    frames, modes = user_delta(version, "u-s2", "kim.li")
    delta = sync(write(tmp_path, "delta", frames, modes, version), backup, "username")

    assert delta.outcome == "held", delta.message
    files_read = [name for names in reads for name in names]
    assert files_read.count("users") == 1  # for validation, and the plan from it


def test_a_feed_read_by_its_lines_without_users_csv_checks_the_stored_users_read_once(
    tmp_path, reads, monkeypatch
):
    """A 1.1 feed of bulk and absent files, under the settings of the last run, is validated
    by its changed lines (`schemas.validate.validate_by_lines`): users.csv absent, the stored
    users are checked there too, read once for the check and the plan."""
    by_lines = answered_by_lines(monkeypatch, steps)
    monkeypatch.setattr(steps, "stored_login_issues", spied := _Spy(steps.stored_login_issues))
    frames = district("1.1", resources=True)
    warehouse = synced(tmp_path, frames, "1.1", "username")
    reads.clear()
    by_lines.clear()
    # Sam's enrollment in Biology moves to Kim; users.csv is not sent
    enrollments = frames["enrollments"].with_columns(
        userSourcedId=pl.when(pl.col("sourcedId") == "e6")
        .then(pl.lit("u-s1"))
        .otherwise("userSourcedId")
    )
    without_users = {name: rows for name, rows in frames.items() if name != "users"}
    feed = write(
        tmp_path,
        "no-users",
        without_users | {"enrollments": enrollments},
        {"users": "absent"},
        "1.1",
    )

    result = sync(feed, warehouse, "username")

    assert result.outcome == "applied", result.issues
    assert by_lines == [True]
    assert spied.calls == 1
    files_read = [name for names in reads for name in names]
    assert files_read.count("users") == 1


class _Spy:
    """A function, and how many times it was called."""

    def __init__(self, function) -> None:
        self.function, self.calls = function, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.function(*args, **kwargs)


def test_a_pulled_delta_user_taking_a_stored_login_is_rejected_on_its_line(tmp_path):
    """`rosterflow sync URL` with `[source] delta`: the pulled users.csv holds the changed user
    alone, whose username another (stored) student has."""
    frames = {
        name: rows
        for name, rows in generate_feed(60, seed=3).items()
        if name in ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
    }
    config = tmp_path / "rosterflow.toml"
    config.write_text('[source]\ndelta = true\n\n[identity]\nkey = "username"\n')
    warehouse = tmp_path / "w.duckdb"
    users = frames["users"]
    (login, owner), (_, taker) = (
        users.filter(pl.col("role") == "student").select("username", "sourcedId").rows()[:2]
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    arguments = ["--warehouse", str(warehouse), "--tenant", TENANT, "--config", str(config)]
    api = RosterApi(frames)
    with serving(api) as root:
        url = root + api.base_path
        first = runner.invoke(app, ["sync", url, *arguments, "--no-prefect"])
        assert first.exit_code == 0, first.output
        changed = users.with_columns(
            pl.when(pl.col("sourcedId") == taker)
            .then(pl.lit(value))
            .otherwise(pl.col(column))
            .alias(column)
            for column, value in {"username": login, "dateLastModified": now}.items()
        )
        api.load(frames | {"users": changed})
        second = runner.invoke(app, ["sync", url, *arguments, "--no-prefect"])

    assert second.exit_code == 1, second.output
    with duckdb.connect(str(warehouse), read_only=True) as con:
        run_id, feed_name, outcome, message = con.sql(
            "select run_id, feed_name, outcome, message from audit.sync_runs order by run_id"
        ).fetchall()[-1]
    assert feed_name.startswith(f"{url}?filter=")
    assert (outcome, message) == ("rejected", "1 validation error")
    errors = [row for row in recorded_issues(warehouse, run_id) if row[5] == "error"]
    assert [row[:5] for row in errors] == [
        ("users.csv", 2, "username", login, "identity.login_duplicate")
    ]
    assert f"({owner}: stored in the warehouse" in errors[0][6]
