"""QA of reading OneRoster 1.2 feeds: a delta that sends one of a user's several primary roles,
and roles whose dates are in reverse order."""

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


def stored_users(tmp_path: Path) -> pl.DataFrame:
    """tiny_district's users as a sync stores them, u-t1 a teacher at s1 and s2."""
    district = with_cell(tiny_district(), "users", 0, "orgSourcedIds", "s1,s2")
    feed = open_feed(write_feed(tmp_path / "stored.zip", district))
    return validate_feed(feed).tables["users"]


def roles(*rows: tuple[str, str, str, str, str]) -> pl.DataFrame:
    """roles.csv delta rows of u-t1: (sourcedId, status, roleType, role, orgSourcedId)."""
    return frame12(
        "roles",
        *(
            {
                "sourcedId": sid,
                "status": status,
                "dateLastModified": "2027-01-10T08:00:00Z",
                "userSourcedId": "u-t1",
                "roleType": kind,
                "role": role,
                "orgSourcedId": org,
            }
            for sid, status, kind, role, org in rows
        ),
    )


def validated_delta(tmp_path: Path, role_rows: pl.DataFrame, primary_org: str | None = None):
    users = (
        as_v12(tiny_district())["users"]
        .filter(pl.col("sourcedId") == "u-t1")
        .with_columns(primaryOrgSourcedId=pl.lit(primary_org, pl.String), **STAMP)
    )
    feed = open_feed(
        write_feed_12(tmp_path / "delta.zip", {"users": users, "roles": role_rows}, DELTA)
    )
    stored = stored_users(tmp_path)
    known = {"users": stored["sourcedId"], "orgs": pl.Series(["st", "d1", "s1", "s2"])}
    return validate_feed(feed, known=known, carried={"users": stored})


def role_warnings(result) -> list[tuple]:
    return (
        result.issues.filter(pl.col("rule") == "role.primary_ambiguous")
        .select("file", "line", "field", "value")
        .rows()
    )


def test_a_delta_sending_a_primary_role_away_from_the_primary_org_keeps_the_stored_role(
    tmp_path,
):
    # u-t1 teaches at s1 (their primaryOrgSourcedId) and is a primary aide at s2; the SIS
    # changes the aide role's beginDate and sends that row alone: the teacher role at s1, which
    # a bulk file reads as the user's role, did not change
    result = validated_delta(
        tmp_path, roles(("r-aide", "active", "primary", "aide", "s2")), primary_org="s1"
    )
    assert result.ok, result.issues
    users = result.tables["users"].select("sourcedId", "role", "orgSourcedIds").rows()
    assert users == [("u-t1", "teacher", "s1,s2")]
    assert role_warnings(result) == [("roles.csv", 2, "role", "aide")]
    message = result.issues.filter(pl.col("rule") == "role.primary_ambiguous")["message"][0]
    assert message.startswith("user u-t1 keeps the role stored, teacher:")
    assert "primaryOrgSourcedId s1" in message


@pytest.mark.parametrize(
    ("role_rows", "primary_org"),
    [
        pytest.param(
            roles(
                ("r-teach", "tobedeleted", "primary", "teacher", "s1"),
                ("r-aide", "active", "primary", "aide", "s2"),
            ),
            "s1",
            id="the primary role at the primary org ended",
        ),
        pytest.param(
            roles(("r-aide", "active", "primary", "aide", "s1")),
            "s1",
            id="the primary role at the primary org sent",
        ),
        pytest.param(
            roles(("r-aide", "active", "primary", "aide", "s2")),
            "s2",
            id="a new primary org",
        ),
    ],
)
def test_a_delta_changes_the_role_when_it_sends_the_role_that_decides(
    tmp_path, role_rows, primary_org
):
    result = validated_delta(tmp_path, role_rows, primary_org)
    assert result.ok, result.issues
    assert result.tables["users"]["role"].to_list() == ["aide"]
    assert role_warnings(result) == []


def test_a_role_that_ends_before_it_begins_is_warned_of_as_an_enrollment_is(tmp_path):
    frames = as_v12(tiny_district())
    dated = frames["roles"].with_columns(
        beginDate=pl.Series(["2027-06-01", "2026-09-01", "2026-09-01", None, "2026-09-01", None]),
        endDate=pl.Series(["2026-09-01", "2027-06-01", "2026-09-01", "2026-01-01", None, None]),
    )
    result = validate_feed(open_feed(write_feed_12(tmp_path / "f.zip", frames | {"roles": dated})))
    assert result.ok, result.issues
    order = result.issues.filter(pl.col("rule") == "date.order")
    assert order.select("file", "line", "field", "value", "severity", "message").rows() == [
        ("roles.csv", 2, "endDate", "2026-09-01", "warning", "ends before it starts (2027-06-01)")
    ]


def test_an_org_a_12_feed_removes_is_kept_by_the_users_its_roles_name_and_says_so(tmp_path):
    """A user's orgs in 1.2 are their primaryOrgSourcedId and their roles' orgs, read as 1.1's
    orgSourcedIds, which the user keeps: the warning said "the reference is dropped"."""
    district = as_v12(tiny_district())
    removed = pl.when(pl.col("sourcedId") == "s2").then(pl.lit("tobedeleted"))
    orgs = district["orgs"].with_columns(removed.otherwise(pl.col("status")).alias("status"))
    feed = open_feed(write_feed_12(tmp_path / "removed.zip", district | {"orgs": orgs}))

    issues = validate_feed(feed).issues.filter(pl.col("rule") == "reference.removed")

    kept = issues.filter(pl.col("file").is_in(["roles.csv", "users.csv"]))
    assert sorted(set(kept.select("file", "field").rows())) == [
        ("roles.csv", "orgSourcedId"),
        ("users.csv", "primaryOrgSourcedId"),
    ]
    assert kept["message"].str.contains("the user keeps it").all(), kept["message"].to_list()
