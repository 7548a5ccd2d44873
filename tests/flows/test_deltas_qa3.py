"""QA of delta feeds as a district reads their result: a delta of one changed user changes that
user alone, a record marked tobedeleted leaves as [policy] says, a record the warehouse never had
changes nothing (marked tobedeleted) or is created (with a primary role, in 1.2), and a
secondary role a 1.2 delta ends takes its org away and nothing else."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings, parse_settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.records import stored_records
from rosterflow.warehouse.schema import connect
from tests.feeds import tiny_district
from tests.feeds12 import as_v12, frame12
from tests.flows.test_v12_sequences_qa import STAMP, sent
from tests.syncing import Warehouse, counts

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow


def synced(w: Warehouse, frames, modes, version: str, settings: Settings | None = None):
    """`frames` as a feed of `version` synced through the pipeline into `w`."""
    feed = write_feed(
        w.dir / f"{len(list(w.dir.glob('*.zip')))}.zip", frames, modes=modes, version=version
    )
    return run_sync(feed, w.path, settings or Settings(), w.tenant)


def stored_users(w: Warehouse) -> pl.DataFrame:
    with connect(w.path, read_only=True) as con:
        return stored_records(con, w.tenant)["users"].drop("run_id", "line").sort("sourcedId")


@pytest.fixture
def twin(tmp_path):
    """A warehouse synced from tiny_district's 1.2 twin, and the twin."""
    w = Warehouse(tmp_path)
    frames = as_v12(tiny_district())
    assert synced(w, frames, None, "1.2").outcome == "applied"
    return w, frames


def test_a_1_2_delta_of_one_renamed_user_changes_that_user_alone(twin):
    w, frames = twin
    users_before, stored_before = w.table("users"), stored_users(w)

    result = synced(
        w,
        {"users": sent(frames["users"], "u-s1", givenName="Samuel"), "roles": frame12("roles")},
        {"users": "delta", "roles": "delta"},
        "1.2",
    )

    assert result.outcome == "applied" and result.issues.is_empty(), result.issues
    assert w.actions(result.run_id) == {("user", "or--u-s1", "update")}
    others = pl.col("external_id") != "or--u-s1"
    assert w.table("users").filter(others).equals(users_before.filter(others))
    assert w.row("users", "or--u-s1")["given_name"] == "Samuel"
    # the other users' records as stored; Sam's keeps his role and orgs
    unchanged = pl.col("sourcedId") != "u-s1"
    stored = stored_users(w)
    assert stored.filter(unchanged).equals(stored_before.filter(unchanged))
    assert stored.filter(~unchanged).select("role", "orgSourcedIds").row(0) == ("student", "s1")


@pytest.mark.parametrize(
    ("policy", "left"),
    [("inactivate", [("inactive",)]), ("delete", []), ("keep", [("active",)])],
)
def test_a_1_2_user_marked_tobedeleted_leaves_as_the_users_policy_says(tmp_path, policy, left):
    w = Warehouse(tmp_path)
    settings = parse_settings({"policy": {"users": policy}, "safety": {"max_removal_share": 1}})
    frames = as_v12(tiny_district())
    assert synced(w, frames, None, "1.2", settings).outcome == "applied"

    result = synced(
        w,
        {"users": sent(frames["users"], "u-t2", status="tobedeleted"), "roles": frame12("roles")},
        {"users": "delta", "roles": "delta"},
        "1.2",
        settings,
    )

    assert result.outcome == "applied", result.issues
    status = w.query("select status from lms.users where external_id = 'or--u-t2'")
    assert status.rows() == left
    assert "u-t2" not in stored_users(w)["sourcedId"].to_list()
    # no other user changes
    assert {x for e, x, _ in w.actions(result.run_id) if e == "user"} <= {"or--u-t2"}


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_record_the_warehouse_never_had_marked_tobedeleted_changes_nothing(tmp_path, version):
    w = Warehouse(tmp_path)
    district = tiny_district()
    frames = as_v12(district) if version == "1.2" else district
    assert synced(w, frames, None, version).outcome == "applied"
    ghost = sent(frames["users"], "u-s1", status="tobedeleted", sourcedId="u-ghost")
    delta = {"users": ghost} | ({"roles": frame12("roles")} if version == "1.2" else {})

    result = synced(w, delta, dict.fromkeys(delta, "delta"), version)

    assert result.outcome == "applied", result.issues
    assert counts(result) == {}
    assert result.issues.is_empty(), result.issues.to_dicts()


def test_a_user_new_to_the_warehouse_in_a_1_2_delta_needs_a_primary_role(twin):
    w, frames = twin
    newcomer = sent(frames["users"], "u-s1", sourcedId="u-nia", username="nia", email=None)
    newcomer = newcomer.with_columns(
        primaryOrgSourcedId=pl.lit("s2"), agentSourcedIds=pl.lit(None, pl.String)
    )
    modes = {"users": "delta", "roles": "delta"}

    refused = synced(w, {"users": newcomer, "roles": frame12("roles")}, modes, "1.2")

    assert refused.outcome == "rejected"
    errors = refused.issues.filter(pl.col("severity") == "error")
    assert errors.select("file", "line", "field", "value", "rule").rows() == [
        ("users.csv", 2, "sourcedId", "u-nia", "user.no_primary_role")
    ]

    role = frame12(
        "roles",
        {
            "sourcedId": "r-nia",
            "status": "active",
            "dateLastModified": STAMP,
            "userSourcedId": "u-nia",
            "roleType": "primary",
            "role": "student",
            "orgSourcedId": "s2",
        },
    )
    created = synced(w, {"users": newcomer, "roles": role}, modes, "1.2")

    assert created.outcome == "applied", created.issues
    assert w.actions(created.run_id) == {("user", "or--u-nia", "create")}
    domain = w.query(
        "select d.external_id from lms.users u join lms.domains d using (domain_id) "
        "where u.external_id = 'or--u-nia'"
    )
    assert domain.item() == "or--s2"


def test_a_secondary_role_ended_by_a_1_2_delta_takes_its_org_away_alone(twin):
    w, frames = twin
    # Kim (u-s2) is a student at s1 (primary) and s2 (secondary); the s2 role ends
    assert stored_users(w).filter(sourcedId="u-s2")["orgSourcedIds"].item() == "s1,s2"
    ended = sent(frames["roles"], "r-u-s2-1", status="tobedeleted")

    result = synced(
        w,
        {"users": sent(frames["users"], "u-s2"), "roles": ended},
        {"users": "delta", "roles": "delta"},
        "1.2",
    )

    assert result.outcome == "applied" and result.issues.is_empty(), result.issues
    assert counts(result) == {}  # her domain is s1's still: lms has nothing to change
    assert stored_users(w).filter(sourcedId="u-s2")["orgSourcedIds"].item() == "s1"


def test_a_role_a_1_2_delta_ends_for_a_user_it_does_not_send_is_warned(twin):
    """A SIS whose delta sends what changed may end Kim's secondary role at s2 without her
    users.csv row: the role is read with her row, so nothing changes, and the district is told
    on the role's line, as for a role added so (it was silent)."""
    w, frames = twin
    ended = sent(frames["roles"], "r-u-s2-1", status="tobedeleted")

    result = synced(
        w,
        {"users": frames["users"].head(0), "roles": ended},
        {"users": "delta", "roles": "delta"},
        "1.2",
    )

    assert result.outcome == "applied" and counts(result) == {}
    warned = result.issues.select("file", "line", "field", "value", "rule", "severity")
    assert warned.rows() == [
        ("roles.csv", 2, "userSourcedId", "u-s2", "role.user_not_sent", "warning")
    ]
    assert "ending the role changes nothing" in result.issues["message"].item()
    assert stored_users(w).filter(sourcedId="u-s2")["orgSourcedIds"].item() == "s1,s2"
