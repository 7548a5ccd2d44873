"""Logins, identity and OneRoster 1.2 roles end to end, as a district meets them: a login the
SIS rewrites in another letter case, a student who comes back under another login, sourcedIds
that differ only in letter case under the default key, and a 1.2 delta that adds a secondary
role. Each run is also planned in full in a second warehouse: the two must agree."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from rosterflow.flows.operations import approve_run
from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Identity, Safety, Settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.records import stored_records
from tests.feeds import tiny_district, with_cell
from tests.feeds12 import as_v12, frame12

TENANT = "north"
STAMP = {"status": pl.lit("active"), "dateLastModified": pl.lit("2027-01-10T08:00:00Z")}


def settings(key: str = "username", login_changes: str = "hold") -> Settings:
    return Settings(
        identity=Identity(key=key),
        # the feeds below remove a user on purpose: only the login guard is under test
        safety=Safety(
            login_changes=login_changes, max_removal_share=1.0, max_school_removal_share=1.0
        ),
    )


class Twins:
    """Two warehouses synced feed by feed, the second planning every run in full."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.incremental, self.full = tmp_path / "incremental.duckdb", tmp_path / "full.duckdb"
        self.feeds = 0

    def sync(self, frames, config: Settings, modes=None, version="1.1"):
        self.feeds += 1
        path = self.dir / f"feed-{self.feeds}.zip"
        feed = write_feed(path, frames, modes=modes, version=version)
        incremental = run_sync(feed, self.incremental, config, tenant=TENANT)
        full = run_sync(feed, self.full, config, tenant=TENANT, full=True)
        # (a held run's message names its own warehouse)
        said = (incremental.message or "").replace(str(self.incremental), str(self.full))
        assert (incremental.outcome, said) == (full.outcome, full.message or "")
        assert self.users(self.incremental) == self.users(self.full)
        return incremental

    @staticmethod
    def users(warehouse: Path) -> list[tuple]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.sql(
                "select external_id, login, role, domain_id, status from lms.users order by all"
            ).fetchall()

    def user(self, external_id: str) -> tuple:
        return next(row for row in self.users(self.incremental) if row[0] == external_id)


def user_cell(district, sourced_id: str, column: str, value: str | None):
    index = district["users"]["sourcedId"].to_list().index(sourced_id)
    return with_cell(district, "users", index, column, value)


def issue_rules(warehouse: Path, run_id: int) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            rule
            for (rule,) in con.sql(
                "select rule from audit.issues where run_id = ? order by all", params=[run_id]
            ).fetchall()
        ]


@pytest.mark.slow
@pytest.mark.parametrize("login_changes", ["hold", "warn"])
def test_a_login_the_sis_rewrites_in_another_letter_case_is_applied_as_sent(
    tmp_path, login_changes
):
    twins = Twins(tmp_path)
    district = tiny_district()
    assert twins.sync(district, settings()).outcome == "applied"

    recased = user_cell(district, "u-s1", "username", "Sam.Stone")
    result = twins.sync(recased, settings(login_changes=login_changes))

    # the same login to sign-in: neither held nor warned of, and stored as the SIS sends it
    assert result.outcome == "applied", result.message
    assert twins.user("or--u-s1")[1] == "Sam.Stone"
    assert "identity.login_changed" not in issue_rules(twins.incremental, result.run_id)


@pytest.mark.slow
def test_a_student_who_comes_back_under_another_login_is_held_until_approved(tmp_path):
    twins = Twins(tmp_path)
    district = tiny_district()
    assert twins.sync(district, settings()).outcome == "applied"
    # Kim leaves the SIS (inactivated), then comes back as kim.lee2
    gone = district | {
        "users": district["users"].filter(pl.col("sourcedId") != "u-s2"),
        "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != "u-s2"),
    }
    assert twins.sync(gone, settings()).outcome == "applied"
    assert twins.user("or--u-s2")[1:] == ("kim.lee", "student", 2, "inactive")

    back = user_cell(district, "u-s2", "username", "kim.lee2")
    held = twins.sync(back, settings())

    assert held.outcome == "held", held.message
    assert "or--u-s2: 'kim.lee' -> 'kim.lee2'" in held.message
    assert twins.user("or--u-s2")[1:] == ("kim.lee", "student", 2, "inactive")  # nothing applied
    assert approve_run(twins.incremental, held.run_id).outcome == "applied"
    assert twins.user("or--u-s2")[1:] == ("kim.lee2", "student", 2, "active")


@pytest.mark.slow
def test_a_1_2_delta_adding_a_secondary_role_keeps_the_user_s_primary_role(tmp_path):
    twins = Twins(tmp_path)
    district = as_v12(tiny_district())
    assert twins.sync(district, Settings(), version="1.2").outcome == "applied"

    # Ada also teaches at South High now: the SIS sends her row and the new role alone
    users = district["users"].filter(pl.col("sourcedId") == "u-t1").with_columns(**STAMP)
    roles = frame12(
        "roles",
        {
            "sourcedId": "r-t1-s2",
            "userSourcedId": "u-t1",
            "roleType": "secondary",
            "role": "teacher",
            "orgSourcedId": "s2",
        },
    ).with_columns(**STAMP)
    result = twins.sync(
        {"users": users, "roles": roles},
        Settings(),
        modes={"users": "delta", "roles": "delta"},
        version="1.2",
    )

    assert result.outcome == "applied", result.message
    assert twins.user("or--u-t1")[2:] == ("teacher", 2, "active")
    for warehouse in (twins.incremental, twins.full):
        with duckdb.connect(str(warehouse), read_only=True) as con:
            stored = stored_records(con, TENANT, ("users",))["users"]
        assert stored.filter(pl.col("sourcedId") == "u-t1").select(
            "role", "orgSourcedIds"
        ).rows() == [("teacher", "s1,s2")]
