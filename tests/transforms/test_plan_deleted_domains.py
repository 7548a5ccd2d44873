"""The warning of a domain a plan deletes while rows stay in it (`left_in_deleted_domains`):
a teacher of South High (s2) whose school leaves the SIS under `[policy] domains = "delete"`."""

from __future__ import annotations

import polars as pl

from rosterflow.schemas.settings import Policy
from rosterflow.transforms.plan import left_in_deleted_domains
from tests.transforms.test_plan import IDS, drop, edit, plan_of, synced

# t1 is moved to South High in both the feed and lms before each case
SOUTH = IDS["or--s2"]
TEACHER = IDS["or--t1"]


def south_high_leaves(policy: Policy, teacher_stays_at: str | None = None):
    """The plan of a run in which South High leaves, and with it its teacher unless
    `teacher_stays_at` names the school the feed now puts them in."""
    desired, current = synced()
    edit(desired["user"], "or--t1", domain_external_id="or--s2")
    edit(current["user"], "or--t1", domain_id=SOUTH)
    drop(desired["domain"], "or--s2")
    if teacher_stays_at is None:
        drop(desired["user"], "or--t1")
        drop(desired["enrollment"], "or--e2")
    else:
        edit(desired["user"], "or--t1", domain_external_id=teacher_stays_at)
    return plan_of(desired, current, policy)


def in_south_high(*rows: tuple[str, int]) -> pl.DataFrame:
    """`rows_in_domains` as the warehouse reads it before the run: (entity, id) in s2."""
    return pl.DataFrame(
        {
            "entity": [entity for entity, _ in rows],
            "id": [row_id for _, row_id in rows],
            "domain_id": [SOUTH] * len(rows),
        },
        schema={"entity": pl.String, "id": pl.Int64, "domain_id": pl.Int64},
    )


def test_a_user_inactivated_in_a_deleted_domain_is_warned_of_on_the_orgs_record():
    plan = south_high_leaves(Policy(domains="delete"))
    issues = left_in_deleted_domains(plan, in_south_high(("user", TEACHER)))
    assert issues.select("file", "field", "value", "rule", "severity").rows() == [
        ("orgs.csv", "sourcedId", "s2", "domain.delete_leaves_rows", "warning")
    ]
    assert issues["message"][0].startswith(
        f"domain {SOUTH} (s2) is deleted with rows still in it: 1 user (left in lms"
    )


def test_a_user_the_same_run_deletes_or_moves_leaves_nothing_in_the_domain():
    deleted = south_high_leaves(Policy(domains="delete", users="delete"))
    assert left_in_deleted_domains(deleted, in_south_high(("user", TEACHER))).height == 0
    moved = south_high_leaves(Policy(domains="delete"), teacher_stays_at="or--s1")
    assert left_in_deleted_domains(moved, in_south_high(("user", TEACHER))).height == 0


def test_rows_made_by_hand_in_the_domain_are_counted_with_the_rows_left_in_it():
    plan = south_high_leaves(Policy(domains="delete"))
    rows = in_south_high(("user", TEACHER), ("course", 901), ("course", 902), ("domain", 903))
    (message,) = left_in_deleted_domains(plan, rows)["message"]
    assert "still in it: 1 user, 2 courses, 1 domain under it (" in message


def test_no_row_in_a_deleted_domain_no_warning():
    plan = south_high_leaves(Policy(domains="delete"))
    assert left_in_deleted_domains(plan, in_south_high()).height == 0
