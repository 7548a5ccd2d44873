"""`[identity] key` end to end: the login field of lms.users, refused when empty or shared, and
never changed for existing users without a person's say (held) or a warning (warn)."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.flows.operations import approve_run
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Identity, Safety, Settings
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district, with_cell, write_feed

TENANT = "north"


def settings(key: str = "sourcedId", login_changes: str = "hold") -> Settings:
    return Settings(identity=Identity(key=key), safety=Safety(login_changes=login_changes))


def logins(warehouse) -> dict[str, str | None]:
    with connect(warehouse, read_only=True) as con:
        return dict(con.sql("select external_id, login from lms.users order by all").fetchall())


def user_cell(district, sourced_id: str, column: str, value: str | None):
    index = district["users"]["sourcedId"].to_list().index(sourced_id)
    return with_cell(district, "users", index, column, value)


def sync(tmp_path, district, warehouse, config: Settings, name: str, **modes):
    feed = write_feed(tmp_path / f"{name}.zip", district, modes=modes or None)
    return run_sync(feed, warehouse, config, tenant=TENANT)


def test_the_login_is_the_sourced_id_by_default_or_the_chosen_field(tmp_path):
    district = tiny_district()
    by_default = tmp_path / "default.duckdb"
    assert sync(tmp_path, district, by_default, Settings(), "1").outcome == "applied"
    assert logins(by_default)["or--u-s1"] == "u-s1"
    by_email = tmp_path / "email.duckdb"
    assert sync(tmp_path, district, by_email, settings("email"), "2").outcome == "applied"
    assert logins(by_email)["or--u-s1"] == "sam.stone@example.org"


def test_an_empty_or_shared_login_rejects_the_run_naming_each_row(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    district = user_cell(tiny_district(), "u-s1", "email", None)
    district = user_cell(district, "u-s2", "email", "ADA.lovelace@example.org")  # u-t1's
    result = sync(tmp_path, district, warehouse, settings("email"), "1")
    assert result.outcome == "rejected"
    errors = result.issues.filter(pl.col("severity") == "error")
    assert sorted(errors.select("line", "field", "rule").rows()) == [
        (2, "email", "identity.login_duplicate"),  # u-t1
        (4, "email", "identity.login_missing"),  # u-s1
        (5, "email", "identity.login_duplicate"),  # u-s2
    ]
    with connect(warehouse, read_only=True) as con:
        assert con.sql("select count(*) from lms.users").fetchall() == [(0,)]


def test_a_delta_user_taking_a_stored_users_login_is_refused(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    district = tiny_district()
    assert sync(tmp_path, district, warehouse, settings("username"), "1").outcome == "applied"
    # a delta file sends one user, whose username another (stored) user has
    delta = dict(district)
    delta["users"] = (
        user_cell(district, "u-s2", "username", "sam.stone")["users"]
        .filter(pl.col("sourcedId") == "u-s2")
        .with_columns(status=pl.lit("active"), dateLastModified=pl.lit("2026-12-01T00:00:00.000Z"))
    )
    result = sync(tmp_path, delta, warehouse, settings("username"), "2", users="delta")
    assert (result.outcome, result.message) == ("rejected", "1 validation error")
    errors = result.issues.filter(pl.col("severity") == "error")
    assert errors.select("line", "value", "rule").rows() == [
        (2, "sam.stone", "identity.login_duplicate")  # u-s2's line, naming u-s1 (stored)
    ]
    assert "(u-s1: stored in the warehouse" in errors["message"][0]
    assert logins(warehouse)["or--u-s2"] == "kim.lee"


def test_a_new_key_is_held_until_approved(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    district = tiny_district()
    sync(tmp_path, district, warehouse, Settings(), "1")
    held = sync(tmp_path, district, warehouse, settings("username"), "2")
    assert held.outcome == "held"
    assert "change the login of 5 existing users" in held.message
    assert logins(warehouse)["or--u-s1"] == "u-s1"  # nothing applied
    approved = approve_run(warehouse, held.run_id)
    assert approved.outcome == "applied"
    assert logins(warehouse)["or--u-s1"] == "sam.stone"


@pytest.mark.slow
def test_a_login_changed_in_the_sis_is_held_or_applied_with_a_warning(tmp_path):
    district = tiny_district()
    renamed = user_cell(district, "u-s1", "username", "samuel.stone")
    held_here, warned_here = tmp_path / "held.duckdb", tmp_path / "warned.duckdb"
    for warehouse in (held_here, warned_here):
        sync(tmp_path, district, warehouse, settings("username"), "1")

    held = sync(tmp_path, renamed, held_here, settings("username"), "2")
    assert held.outcome == "held"
    assert "or--u-s1: 'sam.stone' -> 'samuel.stone'" in held.message

    warned = sync(tmp_path, renamed, warned_here, settings("username", "warn"), "3")
    assert warned.outcome == "applied"
    assert logins(warned_here)["or--u-s1"] == "samuel.stone"
    with connect(warned_here, read_only=True) as con:
        recorded = con.sql(
            "select line, field, value, severity, message from audit.issues "
            "where run_id = ? and rule = 'identity.login_changed'",
            params=[warned.run_id],
        ).fetchall()
    line = renamed["users"]["sourcedId"].to_list().index("u-s1") + 2  # (the header: line 1)
    assert recorded == [
        (
            line,
            "username",
            "samuel.stone",
            "warning",
            "or--u-s1 signs in as samuel.stone now, no longer as sam.stone",
        )
    ]

    # a change of another field of the same user is no login change
    other = user_cell(renamed, "u-s1", "givenName", "Samuel")
    assert sync(tmp_path, other, held_here, settings("username"), "4").outcome == "held"
    assert sync(tmp_path, other, warned_here, settings("username"), "5").outcome == "applied"


def test_the_same_feed_again_is_recalled_without_the_login_changes_its_first_run_made(tmp_path):
    """A recalled run raises the issues of its bytes, not those of what the run it recalls
    changed in lms: as a run planned in full, it changes no login and warns of none."""
    district = tiny_district()
    renamed = user_cell(district, "u-s1", "username", "samuel.stone")
    feed = write_feed(tmp_path / "renamed.zip", renamed)
    recalled_here, full_here = tmp_path / "recalled.duckdb", tmp_path / "full.duckdb"
    for warehouse in (recalled_here, full_here):
        sync(tmp_path, district, warehouse, settings("username"), "1")
        assert run_sync(feed, warehouse, settings("username", "warn"), tenant=TENANT).outcome == (
            "applied"
        )

    recalled = run_sync(feed, recalled_here, settings("username", "warn"), tenant=TENANT)
    full = run_sync(feed, full_here, settings("username", "warn"), tenant=TENANT, full=True)

    assert recalled.planning == "recalled"
    rules = []
    for warehouse, run in ((recalled_here, recalled), (full_here, full)):
        with connect(warehouse, read_only=True) as con:
            rules.append(
                con.sql(
                    "select rule, line, message from audit.issues where run_id = ? order by all",
                    params=[run.run_id],
                ).fetchall()
            )
    assert rules[0] == rules[1]
    assert not any(rule == "identity.login_changed" for rule, _, _ in rules[0])
