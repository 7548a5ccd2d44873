"""`validate --warehouse` reports the shared logins a sync rejects: under a login key other than
sourcedId, a users.csv delta (or an absent users.csv) leaves the tenant's other users stored, and
a login one of them shares with a user the feed sends is an error on the sent row naming the
stored user, in the sync's validation as in validate's (`flows.steps.with_stored_logins`); a
feed with a bulk users.csv reads no stored user for it."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from rosterflow.flows.cli import app
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Identity, Settings
from rosterflow.schemas.validate import stored_login_issues
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse import records
from tests.feeds import frame, tiny_district

runner = CliRunner()
TENANT = "north"
STAMP = {"status": "active", "dateLastModified": "2027-01-10T08:00:00Z"}


def student(sourced_id: str, username: str | None, **fields: str) -> dict[str, str | None]:
    return {
        "sourcedId": sourced_id,
        "enabledUser": "true",
        "orgSourcedIds": "s1",
        "role": "student",
        "username": username,
        "givenName": "New",
        "familyName": "Student",
    } | STAMP | fields  # fmt: skip


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> tuple[Path, Path]:
    """A warehouse holding tiny_district synced under `[identity] key = "username"` (its
    student u-s1 signs in as sam.stone), and the settings file saying so."""
    folder = tmp_path_factory.mktemp("logins")
    config = folder / "settings.toml"
    config.write_text('[identity]\nkey = "username"\n')
    warehouse = folder / "w.duckdb"
    feed = write_feed(folder / "bulk.zip", tiny_district())
    result = run_sync(feed, warehouse, Settings(identity=Identity(key="username")), tenant=TENANT)
    assert result.outcome == "applied", result.message
    return warehouse, config


def validate(feed: Path, warehouse: Path, config: Path, report: Path):
    result = runner.invoke(
        app,
        [
            "validate",
            "--warehouse", str(warehouse),
            "--tenant", TENANT,
            "--config", str(config),
            "--report", str(report),
            str(feed),
        ],
    )  # fmt: skip
    return result, pl.read_csv(report, schema_overrides={"line": pl.Int64})


def test_a_delta_user_taking_a_stored_login_is_an_error_and_the_sync_refuses_it(synced, tmp_path):
    warehouse, config = synced
    # u-s9 is new, and signs in as u-s1 (stored, not sent) does, in another letter case
    users = frame("users", student("u-s8", "new.one"), student("u-s9", "Sam.Stone"))
    feed = write_feed(tmp_path / "delta.zip", {"users": users}, modes={"users": "delta"})

    result, issues = validate(feed, warehouse, config, tmp_path / "issues.csv")

    assert result.exit_code == 1, result.output
    assert issues.select("file", "line", "field", "value", "rule", "severity").rows() == [
        ("users.csv", 3, "username", "Sam.Stone", "identity.login_duplicate", "error")
    ]
    assert issues["message"][0] == (
        "[identity] key = 'username': another user signs in with this username too (u-s1: "
        "stored in the warehouse, and kept by a feed that does not send users.csv in bulk); "
        "fix it in the SIS, or send users.csv whole"
    )
    # the sync of the same feed is rejected at validation, with the very same issue
    copy = tmp_path / "w.duckdb"
    shutil.copy(warehouse, copy)
    synced_run = run_sync(feed, copy, Settings(identity=Identity(key="username")), tenant=TENANT)
    assert (synced_run.outcome, synced_run.message) == ("rejected", "1 validation error")
    columns = ["file", "line", "field", "value", "rule", "severity", "message"]
    assert synced_run.issues.select(columns).rows() == issues.select(columns).rows()


def test_a_delta_user_moving_to_a_stored_users_login_is_an_error(synced, tmp_path):
    """An update of a stored user counts too: u-s1 (sent) takes u-t1's login (stored)."""
    warehouse, config = synced
    users = frame("users", student("u-s1", "ada.lovelace"))
    feed = write_feed(tmp_path / "delta.zip", {"users": users}, modes={"users": "delta"})

    result, issues = validate(feed, warehouse, config, tmp_path / "issues.csv")

    assert result.exit_code == 1, result.output
    assert issues.select("line", "value", "rule").rows() == [
        (2, "ada.lovelace", "identity.login_duplicate")
    ]
    assert "(u-t1: stored in the warehouse" in issues["message"][0]


@pytest.mark.parametrize(
    "sent",
    [
        [student("u-s9", "sue.stone")],  # a login nobody has
        # the login of a user the same delta removes, or moves to another login
        [student("u-s9", "sam.stone"), {"sourcedId": "u-s1", **STAMP, "status": "tobedeleted"}],
        [student("u-s9", "sam.stone"), student("u-s1", "sam.stone2")],
    ],
    ids=["new-login", "owner-removed", "owner-renamed"],
)
def test_a_delta_taking_no_stored_login_is_valid(synced, tmp_path, sent):
    warehouse, config = synced
    feed = write_feed(
        tmp_path / "delta.zip", {"users": frame("users", *sent)}, modes={"users": "delta"}
    )

    result, issues = validate(feed, warehouse, config, tmp_path / "issues.csv")

    assert result.exit_code == 0, result.output
    assert issues.filter(pl.col("rule").str.starts_with("identity.")).height == 0


def test_stored_users_left_without_a_login_by_a_new_key_are_an_error(synced, tmp_path):
    """users.csv absent under a key the stored users have no value for (identifier): the
    sync refuses them all, and validation says so on no line, naming them."""
    warehouse, _ = synced
    config = tmp_path / "identifier.toml"
    config.write_text('[identity]\nkey = "identifier"\n')
    enrollment = {
        "sourcedId": "e7",
        "classSourcedId": "k3",
        "schoolSourcedId": "s2",
        "userSourcedId": "u-s1",
        "role": "student",
        "primary": "false",
    } | STAMP
    feed = write_feed(
        tmp_path / "enrollments.zip",
        {"enrollments": frame("enrollments", enrollment)},
        modes={"enrollments": "delta"},
    )

    result, issues = validate(feed, warehouse, config, tmp_path / "issues.csv")

    assert result.exit_code == 1, result.output
    assert issues.select("file", "line", "field", "value", "rule").rows() == [
        ("users.csv", None, "identifier", None, "identity.login_missing")
    ]
    assert "(u-p1, u-s1, u-s2 and 2 more)" in issues["message"][0]
    copy = tmp_path / "w.duckdb"
    shutil.copy(warehouse, copy)
    refused = run_sync(feed, copy, Settings(identity=Identity(key="identifier")), tenant=TENANT)
    assert refused.outcome == "rejected"


def test_a_bulk_users_file_reads_no_stored_user(synced, tmp_path, monkeypatch):
    warehouse, config = synced
    read: list[tuple[str, ...]] = []
    stored_records = records.stored_records

    def spied(con, tenant, names=()):
        read.append(tuple(names))
        return stored_records(con, tenant, names)

    monkeypatch.setattr(records, "stored_records", spied)
    district = tiny_district()
    bulk = write_feed(tmp_path / "bulk.zip", district)
    delta = write_feed(
        tmp_path / "delta.zip",
        {"users": frame("users", student("u-s9", "sue.stone"))},
        modes={"users": "delta"},
    )

    result, _ = validate(bulk, warehouse, config, tmp_path / "bulk.csv")
    assert result.exit_code == 0, result.output
    assert not [names for names in read if "users" in names]
    # (the spy sees the read of a delta's stored users)
    result, _ = validate(delta, warehouse, config, tmp_path / "delta.csv")
    assert result.exit_code == 0, result.output
    assert [names for names in read if "users" in names] == [("users",)]


@pytest.mark.parametrize(
    ("stored", "rule", "named"),
    [
        # two stored users share a login that prints alike: é composed, and e + a combining mark
        (["jos\u00e9", "Jose\u0301"], "identity.login_duplicate", "(a, b)"),
        ([None, None], "identity.login_missing", "(a, b)"),
    ],
)
def test_stored_users_alone_are_reported_on_no_line(stored, rule, named):
    users = pl.DataFrame({"sourcedId": ["a", "b"], "username": stored}, schema_overrides={
        "username": pl.String})  # fmt: skip

    found = stored_login_issues(users, None, "username").collect()

    assert found.select("line", "rule").rows() == [(None, rule)]
    assert named in found["message"][0]
    if rule == "identity.login_duplicate":
        assert "Unicode NFD" in found["message"][0]
