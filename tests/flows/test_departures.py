"""What leaves the SIS, through the pipeline into a real warehouse file: a school's students who
leave at once, a student who leaves, the account the district takes over by hand afterwards,
and the undo of the run he left in.

A run held for what it removes says how to let it through at the next try; a row is managed if
and only if its external ID starts with `or-`, and the sync and the undo alike never touch a
row made by hand.
"""

from __future__ import annotations

import re

import polars as pl

from rosterflow.demo.district import generate_feed
from rosterflow.flows.operations import undo_run
from tests.feeds import tiny_district
from tests.syncing import Warehouse

GUARD_OFF = {"safety": {"max_removal_share": 1.0, "max_school_removal_share": 1.0}}


def without_sam(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`frames` once Sam (u-s1) left the SIS: his record, his enrollment and his parent's
    naming of him gone."""
    return frames | {
        "users": frames["users"]
        .filter(pl.col("sourcedId") != "u-s1")
        .with_columns(pl.lit(None, pl.String).alias("agentSourcedIds")),
        "enrollments": frames["enrollments"].filter(pl.col("userSourcedId") != "u-s1"),
    }


def test_an_undo_leaves_the_account_a_district_took_over_by_hand_alone(tmp_path):
    w = Warehouse(tmp_path)
    assert w.sync(tiny_district(), settings=GUARD_OFF).outcome == "applied"
    sam = w.row("users", "or--u-s1")["user_id"]
    left = w.sync(without_sam(tiny_district()), settings=GUARD_OFF)
    assert ("user", "or--u-s1", "inactivate") in w.actions(left.run_id)
    # the district keeps Sam's account by hand: an external ID of its own makes it hand-made
    w.execute(
        "update lms.users set external_id = 'hand-sam', status = 'active' where user_id = ?",
        [sam],
    )
    hand_made = w.query("select * from lms.users where user_id = ?", [sam])

    undone = undo_run(w.path, left.run_id)

    assert undone.outcome == "applied"
    # the account stays the district's, as it left it; what the run changed of the sync's own
    # rows comes back (Sam's enrollment, his parent's link to him)
    assert w.query("select * from lms.users where user_id = ?", [sam]).equals(hand_made)
    assert w.actions(undone.run_id) == {
        ("enrollment", "or--e2", "reactivate"),
        ("observer", "or--obs--u-p1--u-s1", "create"),
    }
    assert w.row("enrollments", "or--e2")["user_id"] == sam
    # the SIS states Sam again: the next sync gives him a managed account of his own, and
    # moves the sync's rows to it; the account made by hand stays as it is
    back = w.sync(tiny_district(), settings=GUARD_OFF)
    assert back.planning == "full"
    new_sam = w.row("users", "or--u-s1")["user_id"]
    assert new_sam != sam
    assert w.row("enrollments", "or--e2")["user_id"] == new_sam
    assert w.query("select * from lms.users where user_id = ?", [sam]).equals(hand_made)


def without_users(frames: dict[str, pl.DataFrame], gone: list[str]) -> dict[str, pl.DataFrame]:
    """`frames` once the users `gone` left the SIS: their records, their enrollments and the
    links their parents name them by."""
    leaving = pl.Series(gone).implode()
    named = pl.col("agentSourcedIds").str.split(",").list.set_difference(leaving).list.join(",")
    return frames | {
        "users": frames["users"]
        .filter(~pl.col("sourcedId").is_in(leaving))
        .with_columns(pl.when(named != "").then(named).alias("agentSourcedIds")),
        "enrollments": frames["enrollments"].filter(~pl.col("userSourcedId").is_in(leaving)),
    }


def test_a_run_held_for_the_tenant_and_a_school_passes_with_the_settings_it_suggests(tmp_path):
    district = generate_feed(40, seed=1)
    w = Warehouse(tmp_path)
    assert w.sync(district).outcome == "applied"
    # a school's students all leave, and a few of another's: over both the tenant's share and
    # the school's
    students = district["users"].filter(pl.col("role") == "student")
    first_org = pl.col("orgSourcedIds").str.split(",").list.first()
    gone = [
        *students.filter(first_org == "org-s-2")["sourcedId"],
        *students.filter(first_org == "org-s-1")["sourcedId"].head(3),
    ]

    held = w.sync(without_users(district, gone))

    assert held.outcome == "held"
    assert "max_removal_share = 0.2" in held.message
    suggested = {
        "max_removal_share": float(re.search(r"--max-removal-share ([0-9.]+)", held.message)[1]),
        "max_school_removal_share": float(
            re.search(r"max_school_removal_share = ([0-9.]+) in --config", held.message)[1]
        ),
    }
    again = w.sync(without_users(district, gone), settings={"safety": suggested})
    assert again.outcome == "applied", again.message
    assert {"user", "enrollment"} <= set(
        w.changes(again.run_id).filter(pl.col("action") == "inactivate")["entity"]
    )
