"""A record a bulk file drops that stored records of a file absent from the feed still name,
through a sync: warned of (`flows.steps.validate`), whichever way the feed is validated, and
the stored records read for it are the plan's; a feed of bulk files reads none."""

from __future__ import annotations

import polars as pl
import pytest

from tests.feeds import tiny_district, with_resources
from tests.syncing import Warehouse


def _without_sam() -> pl.DataFrame:
    """tiny_district's users without Sam (u-s1), whose parent no longer names him."""
    return (
        tiny_district()["users"]
        .filter(pl.col("sourcedId") != "u-s1")
        .with_columns(
            agentSourcedIds=pl.when(pl.col("sourcedId") != "u-p1").then("agentSourcedIds")
        )
    )


def _warned(issues: pl.DataFrame) -> list[tuple]:
    return (
        issues.filter(pl.col("rule") == "reference.removed")
        .select("file", "line", "field", "value", "severity")
        .rows()
    )


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_user_gone_from_a_bulk_users_file_is_warned_of_with_the_stored_enrollments(
    tmp_path, reads, by_lines, full
):
    warehouse = Warehouse(tmp_path)
    assert warehouse.sync(tiny_district()).outcome == "applied"
    reads.clear()
    by_lines.clear()
    # users.csv in bulk without Sam; enrollments.csv absent: the stored ones stand
    frames = {name: rows for name, rows in tiny_district().items() if name != "enrollments"}

    result = warehouse.sync(
        frames | {"users": _without_sam()}, modes={"enrollments": "absent"}, full=full
    )

    # applied as before: Sam leaves, with his stored enrollment and his parent's link to him
    assert result.outcome == "applied", result.issues
    assert warehouse.actions(result.run_id) == {
        ("user", "or--u-s1", "inactivate"),
        ("enrollment", "or--e2", "inactivate"),
        ("observer", "or--obs--u-p1--u-s1", "delete"),
    }
    # and said, on users.csv: Sam has no line in it any more
    assert _warned(result.issues) == [("users.csv", None, "sourcedId", "u-s1", "warning")]
    (message,) = result.issues.filter(pl.col("rule") == "reference.removed")["message"]
    assert "1 stored enrollment(s) still name in userSourcedId (enrollments.csv, absent" in message
    assert ": e2; once it is removed they leave the platform with it" in message
    # recorded with the run
    assert warehouse.query(
        "select file, line, value from audit.issues where run_id = ? and rule = ?",
        [result.run_id, "reference.removed"],
    ).rows() == [("users.csv", None, "u-s1")]
    # the stored enrollments were read once, first, for the check and the plan alike (which
    # reads those of the absent files it needs besides: resources...)
    assert reads[0] == ("enrollments",)
    files_read = [name for names in reads for name in names]
    assert sorted(files_read) == sorted(set(files_read))
    assert by_lines == ([] if full else [True])


def test_a_feed_of_bulk_files_reads_no_stored_records_for_it(tmp_path, reads):
    warehouse = Warehouse(tmp_path)
    district = with_resources(tiny_district())  # every synced file, in bulk
    warehouse.sync(district)
    reads.clear()

    # Sam leaves with his enrollment, every file in bulk
    result = warehouse.sync(
        district
        | {
            "users": _without_sam(),
            "enrollments": district["enrollments"].filter(pl.col("userSourcedId") != "u-s1"),
        }
    )

    assert result.outcome == "applied", result.issues
    assert ("user", "or--u-s1", "inactivate") in warehouse.actions(result.run_id)
    assert _warned(result.issues) == []
    assert reads == []


def test_a_class_gone_from_a_bulk_classes_file_is_warned_of_with_its_enrollments(tmp_path):
    settings = {"policy": {"enrollments": "delete"}, "safety": {"max_removal_share": 1}}
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district(), settings=settings)
    district = tiny_district()

    result = warehouse.sync(
        {
            "classes": district["classes"].filter(pl.col("sourcedId") != "k3"),
            "users": district["users"],
        },
        settings=settings,
    )

    assert result.outcome == "applied", result.issues
    actions = warehouse.actions(result.run_id)
    assert {("enrollment", "or--e5", "delete"), ("enrollment", "or--e6", "delete")} <= actions
    assert _warned(result.issues) == [("classes.csv", None, "sourcedId", "k3", "warning")]
    (message,) = result.issues.filter(pl.col("rule") == "reference.removed")["message"]
    assert "2 stored enrollment(s) still name in classSourcedId" in message
    assert ": e5, e6; once it is removed they leave the platform with it" in message


def test_validate_with_the_warehouse_warns_as_the_sync_does(tmp_path):
    """`rosterflow validate FEED --warehouse W` of the feed that drops Sam, enrollments.csv
    absent: the warning the sync gives, whether the feed is read by its lines or whole."""
    from rosterflow.flows.commands import validate
    from rosterflow.schemas.writer import write_feed

    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    frames = {name: rows for name, rows in tiny_district().items() if name != "enrollments"}
    feed = write_feed(
        tmp_path / "dropped.zip",
        frames | {"users": _without_sam()},
        modes={"enrollments": "absent"},
    )

    _, validated = validate(feed, None, warehouse.path, warehouse.tenant)

    assert _warned(validated.issues) == [("users.csv", None, "sourcedId", "u-s1", "warning")]
    synced = warehouse.sync(frames | {"users": _without_sam()}, modes={"enrollments": "absent"})
    assert _warned(synced.issues) == _warned(validated.issues)
