"""QA of syncing OneRoster 1.2 feeds: a delta that resends one of a user's several primary
roles leaves the user's role on the platform as it was."""

import duckdb
import polars as pl
import pytest

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from tests.feeds import tiny_district
from tests.feeds12 import as_v12, frame12, write_feed_12

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

STAMP = "2027-01-10T08:00:00Z"
# u-t1's second primary role: an aide at s2, after their teacher role at s1 in file order
SECOND_PRIMARY = frame12(
    "roles",
    {
        "sourcedId": "r-t1-aide",
        "userSourcedId": "u-t1",
        "roleType": "primary",
        "role": "aide",
        "orgSourcedId": "s2",
    },
)


def second_primary_moved(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The delta of a SIS that moves u-t1's second primary role's beginDate: that roles.csv
    row and its user alone."""
    return {
        "users": frames["users"]
        .filter(pl.col("sourcedId") == "u-t1")
        .with_columns(status=pl.lit("active"), dateLastModified=pl.lit(STAMP)),
        "roles": SECOND_PRIMARY.with_columns(
            status=pl.lit("active"), dateLastModified=pl.lit(STAMP), beginDate=pl.lit("2027-01-04")
        ),
    }


def lms_role(warehouse, external_id: str) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            role
            for (role,) in con.execute(
                "select role from lms.users where external_id = ?", [external_id]
            ).fetchall()
        ]


def test_a_delta_resending_a_second_primary_role_keeps_the_user_s_platform_role(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    frames = as_v12(tiny_district())
    # u-t1 teaches at s1, their primaryOrgSourcedId, and is a primary aide at s2 as well
    frames["roles"] = pl.concat([frames["roles"], SECOND_PRIMARY])
    first = run_sync(write_feed_12(tmp_path / "a.zip", frames), warehouse, Settings(), "d")
    assert first.outcome == "applied", first.issues
    assert lms_role(warehouse, "or--u-t1") == ["teacher"]

    # the SIS moves the aide role's beginDate: its delta sends that row and its user alone
    delta = second_primary_moved(frames)
    second = run_sync(
        write_feed_12(tmp_path / "b.zip", delta, {"users": "delta", "roles": "delta"}),
        warehouse,
        Settings(),
        "d",
    )
    assert second.outcome == "applied", second.issues
    assert second.summary.height == 0
    assert lms_role(warehouse, "or--u-t1") == ["teacher"]
    warned = second.issues.filter(pl.col("rule") == "role.primary_ambiguous")
    assert warned.select("file", "line", "value").rows() == [("roles.csv", 2, "aide")]

    # the district as a whole again: nothing to change
    again = run_sync(write_feed_12(tmp_path / "c.zip", frames), warehouse, Settings(), "d")
    assert again.outcome == "applied", again.issues
    assert again.summary.height == 0
