"""A delta's removal that records stored in the warehouse, and not sent, still name, through the
pipeline: `flows.steps.validate` reads those stored records (for a delta that removes alone),
the warning is on the removal's line, and the plan reuses what was read."""

from __future__ import annotations

import polars as pl

from rosterflow.flows.commands import validate
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_resources
from tests.syncing import Warehouse


def _removal(name: str, sourced_id: str) -> pl.DataFrame:
    return (
        tiny_district()[name]
        .filter(pl.col("sourcedId") == sourced_id)
        .with_columns(
            status=pl.lit("tobedeleted"), dateLastModified=pl.lit("2027-01-10T08:00:00.000Z")
        )
    )


def _removed(issues: pl.DataFrame) -> list[tuple]:
    return (
        issues.filter(pl.col("rule") == "reference.removed")
        .select("file", "line", "field", "value", "severity")
        .sort(pl.all())
        .rows()
    )


def test_a_users_delta_removing_a_student_a_stored_parent_names_is_warned(tmp_path, reads):
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(with_resources(tiny_district())).outcome == "applied"
    assert reads == []  # a feed of bulk files reads no stored records

    result = warehouse.sync({"users": _removal("users", "u-s1")}, modes={"users": "delta"})

    # applied as before: Sam leaves, with his enrollment and his parent's link to him
    assert result.outcome == "applied", result.issues
    assert warehouse.actions(result.run_id) == {
        ("user", "or--u-s1", "inactivate"),
        ("enrollment", "or--e2", "inactivate"),
        ("observer", "or--obs--u-p1--u-s1", "delete"),
    }
    # and said, on the removal's line: Pat (u-p1) names Sam, and so does e2
    assert _removed(result.issues) == [
        ("users.csv", 2, "sourcedId", "u-s1", "warning"),
        ("users.csv", 2, "sourcedId", "u-s1", "warning"),
    ]
    messages = " | ".join(result.issues.filter(pl.col("rule") == "reference.removed")["message"])
    assert "still name in agentSourcedIds (users.csv), and does not send them: u-p1;" in messages
    assert "still name in userSourcedId (enrollments.csv), and does not send them: e2;" in messages
    # the stored records the check read are the plan's: each file read once
    files_read = [name for names in reads for name in names]
    assert sorted(files_read) == sorted(set(files_read))
    assert reads[0] == ("users", "enrollments")


def test_a_term_removed_while_stored_classes_name_it_is_warned_and_changes_nothing(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    courses_before = warehouse.table("courses")

    result = warehouse.sync(
        {"academicSessions": _removal("academicSessions", "t1")},
        modes={"academicSessions": "delta"},
    )

    assert result.outcome == "applied", result.issues
    assert _removed(result.issues) == [("academicSessions.csv", 2, "sourcedId", "t1", "warning")]
    assert (
        "does not send them: k1, k2;"
        in result.issues.filter(pl.col("rule") == "reference.removed")["message"].item()
    )
    # the classes are kept as stored, still naming t1: their session base courses stay
    assert (
        warehouse.table("courses")
        .drop("updated_at", strict=False)
        .equals(courses_before.drop("updated_at", strict=False))
    )


def test_validate_against_the_warehouse_warns_as_the_sync_does(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    delta = write_feed(
        tmp_path / "delta.zip",
        {"courses": _removal("courses", "c-alg")},
        modes={"courses": "delta"},
    )

    _, validated = validate(delta, None, warehouse.path, warehouse.tenant)
    synced = warehouse.sync({"courses": _removal("courses", "c-alg")}, modes={"courses": "delta"})

    assert _removed(validated.issues) == [("courses.csv", 2, "sourcedId", "c-alg", "warning")]
    assert _removed(synced.issues) == _removed(validated.issues)
    assert (
        "2 stored class(es) still name in courseSourcedId"
        in validated.issues.filter(pl.col("rule") == "reference.removed")["message"].item()
    )
