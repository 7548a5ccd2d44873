"""QA of syncing OneRoster 1.2 feeds night after night: a district that leaves
primaryOrgSourcedId empty sends a new date of a user's second primary role as a delta; the
user stays where the bulk file of the same roster puts them, and the resync equals `--full`."""

import duckdb
import polars as pl

from rosterflow.flows.pipeline import run_sync
from rosterflow.schemas.settings import Settings
from tests.feeds import tiny_district
from tests.feeds12 import as_v12, write_feed_12
from tests.flows.test_pipeline_incremental import TENANT, synced_as_in_full
from tests.flows.test_v12_qa import SECOND_PRIMARY, second_primary_moved

STAMP = "2027-01-10T08:00:00Z"


def lms_user(warehouse, external_id: str) -> list[tuple[str, str]]:
    """The user's role and domain in lms."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select u.role, d.external_id from lms.users u join lms.domains d using (domain_id) "
            "where u.external_id = ?",
            [external_id],
        ).fetchall()


def test_a_delta_of_a_second_primary_role_without_primary_orgs_moves_nobody(tmp_path):
    warehouse, oracle = tmp_path / "wh.duckdb", tmp_path / "full.duckdb"
    frames = as_v12(tiny_district())
    # u-t1 teaches at s1 and is a primary aide at s2, after it in file order; no user has a
    # primaryOrgSourcedId (1.2 does not require it)
    frames |= {
        "users": frames["users"].with_columns(primaryOrgSourcedId=pl.lit(None, pl.String)),
        "roles": pl.concat([frames["roles"], SECOND_PRIMARY]),
    }
    first = run_sync(write_feed_12(tmp_path / "a.zip", frames), warehouse, Settings(), TENANT)
    assert first.outcome == "applied", first.issues
    assert lms_user(warehouse, "or--u-t1") == [("teacher", "or--s1")]

    # the SIS moves the aide role's beginDate: its delta sends that row and its user alone
    delta = second_primary_moved(frames)
    feed = write_feed_12(tmp_path / "b.zip", delta, {"users": "delta", "roles": "delta"})
    ours, _ = synced_as_in_full(warehouse, oracle, feed)
    assert ours.ok, ours.issues
    warned = ours.issues.filter(pl.col("rule") == "role.primary_ambiguous")
    assert warned.select("file", "line", "value").rows() == [("roles.csv", 2, "aide")]
    assert lms_user(warehouse, "or--u-t1") == [("teacher", "or--s1")]

    # the district's bulk file of the same roster: nothing to change
    again = run_sync(write_feed_12(tmp_path / "c.zip", frames), warehouse, Settings(), TENANT)
    assert again.outcome == "applied", again.issues
    assert again.summary.height == 0
    assert lms_user(warehouse, "or--u-t1") == [("teacher", "or--s1")]
