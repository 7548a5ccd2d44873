"""A OneRoster 1.2 users.csv delta whose roles.csv delta sends a user's secondary roles alone: a
role is a record of its own, and a delta sends the records that changed, so the user keeps the
primary role stored, and the secondary roles sent add (or, marked tobedeleted, take away) their
orgs."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_cell
from tests.feeds12 import as_v12, frame12, write_feed_12

DELTA = {"users": "delta", "roles": "delta"}
STAMP = {"status": pl.lit("active"), "dateLastModified": pl.lit("2027-01-10T08:00:00Z")}


def stored_users(tmp_path: Path, district) -> pl.DataFrame:
    """The district's users as a sync stores them (1.1-shaped records)."""
    return validate_feed(open_feed(write_feed(tmp_path / "stored.zip", district))).tables["users"]


def users_sent(district, *sourced_ids: str) -> pl.DataFrame:
    """The 1.2 users.csv delta rows of these users, as stored (status active)."""
    users = as_v12(district)["users"]
    return users.filter(pl.col("sourcedId").is_in(sourced_ids)).with_columns(**STAMP)


def roles(*rows: tuple[str, str, str, str, str, str]) -> pl.DataFrame:
    """roles.csv delta rows: (sourcedId, status, userSourcedId, roleType, role, orgSourcedId)."""
    return frame12(
        "roles",
        *(
            {
                "sourcedId": sid,
                "status": status,
                "dateLastModified": "2027-01-10T08:00:00Z",
                "userSourcedId": user,
                "roleType": kind,
                "role": role,
                "orgSourcedId": org,
            }
            for sid, status, user, kind, role, org in rows
        ),
    )


def validated(tmp_path: Path, frames, stored: pl.DataFrame | None):
    feed = open_feed(write_feed_12(tmp_path / "delta.zip", frames, DELTA))
    if stored is None:  # checked without a warehouse
        return validate_feed(feed)
    known = {"users": stored["sourcedId"], "orgs": pl.Series(["st", "d1", "s1", "s2"])}
    return validate_feed(feed, known=known, carried={"users": stored})


def read_users(result) -> list[tuple]:
    return result.tables["users"].select("sourcedId", "role", "orgSourcedIds").rows()


def errors(result) -> list[tuple]:
    return (
        result.issues.filter(pl.col("severity") == "error")
        .select("file", "line", "field", "value", "rule")
        .rows()
    )


def test_a_secondary_role_added_keeps_the_stored_primary_role_and_adds_its_org(tmp_path):
    district = tiny_district()
    frames = {
        "users": users_sent(district, "u-t1"),
        "roles": roles(("r-t1-s2", "active", "u-t1", "secondary", "teacher", "s2")),
    }
    result = validated(tmp_path, frames, stored_users(tmp_path, district))
    assert errors(result) == []
    assert read_users(result) == [("u-t1", "teacher", "s1,s2")]


def test_a_secondary_role_ended_takes_its_org_from_the_stored_ones(tmp_path):
    district = tiny_district()
    district["users"] = with_cell(district, "users", 0, "orgSourcedIds", "s1,s2,d1")["users"]
    frames = {
        "users": users_sent(district, "u-t1"),
        "roles": roles(("r-t1-1", "tobedeleted", "u-t1", "secondary", "teacher", "s2")),
    }
    result = validated(tmp_path, frames, stored_users(tmp_path, district))
    assert errors(result) == []
    assert read_users(result) == [("u-t1", "teacher", "s1,d1")]


def test_a_secondary_role_ended_at_the_user_s_domain_leaves_the_domain(tmp_path):
    # a teacher at s1 who was also an aide at s1: the aide role ends, the teacher stays at s1
    district = tiny_district()
    district["users"] = with_cell(district, "users", 0, "orgSourcedIds", "s1,s2")["users"]
    users = users_sent(district, "u-t1").with_columns(primaryOrgSourcedId=pl.lit(None))
    frames = {
        "users": users,
        "roles": roles(("r-t1-aide", "tobedeleted", "u-t1", "secondary", "aide", "s1")),
    }
    result = validated(tmp_path, frames, stored_users(tmp_path, district))
    assert errors(result) == []
    assert read_users(result) == [("u-t1", "teacher", "s1,s2")]


@pytest.mark.parametrize(
    "sent",
    [
        # a user the warehouse does not hold has no primary role to keep
        {"sourcedId": "u-new", "primaryOrgSourcedId": "s1"},
        # a primary role ended and none given: the user has no role left
        {"sourcedId": "u-t1", "primaryOrgSourcedId": "s1"},
    ],
    ids=["new user", "primary ended"],
)
def test_a_user_left_without_any_primary_role_is_still_an_error(tmp_path, sent):
    district = tiny_district()
    user = frame12(
        "users",
        {"enabledUser": "true", "username": "x", "givenName": "X", "familyName": "Y"} | sent,
    ).with_columns(**STAMP)
    frames = {
        "users": user,
        "roles": roles(
            ("r-old", "tobedeleted", sent["sourcedId"], "primary", "teacher", "s1"),
            ("r-new", "active", sent["sourcedId"], "secondary", "teacher", "s2"),
        ),
    }
    result = validated(tmp_path, frames, stored_users(tmp_path, district))
    assert errors(result) == [
        ("users.csv", 2, "sourcedId", sent["sourcedId"], "user.no_primary_role")
    ]


def test_without_a_warehouse_a_user_sent_with_secondary_roles_alone_is_warned_of(tmp_path):
    frames = {
        "users": users_sent(tiny_district(), "u-t1"),
        "roles": roles(("r-t1-s2", "active", "u-t1", "secondary", "teacher", "s2")),
    }
    result = validated(tmp_path, frames, None)
    assert result.ok, result.issues
    unverified = result.issues.filter(
        (pl.col("rule") == "reference.unverified") & (pl.col("field") == "sourcedId")
    )
    assert unverified.select("line", "value", "severity").rows() == [(2, "u-t1", "warning")]
    assert unverified["message"][0].startswith("no primary roles.csv row names this user")
