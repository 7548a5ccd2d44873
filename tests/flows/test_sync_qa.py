"""QA of a sync's guarantees where the external IDs it derives meet the feed's: an enrollment
record reading as a base course's teacher enrollment, and two observer links reading as one,
are refused, whole runs and incremental deltas alike, and the warehouse is left as it was."""

import polars as pl
import pytest

from tests.feeds import _enrollment, _user, frame, tiny_district
from tests.syncing import Warehouse, every_row

# (end-to-end QA regressions: CI runs them, the README's command does not; tests/conftest.py)
pytestmark = pytest.mark.slow

TAKEN = "tbc--s1--u-t1--Algebra I--teacher"  # teacher u-t1's enrollment in its teacher base


@pytest.fixture
def warehouse(tmp_path):
    return Warehouse(tmp_path)


def colliding_enrollment(**fields: str) -> pl.DataFrame:
    return frame("enrollments", _enrollment(TAKEN, "k1", "s1", "u-s2", "student") | fields)


def test_a_first_load_with_an_enrollment_named_as_a_base_teacher_enrollment_is_refused(
    warehouse,
):
    district = tiny_district()
    feed = district | {"enrollments": pl.concat([district["enrollments"], colliding_enrollment()])}
    result = warehouse.sync(feed)
    assert result.outcome == "rejected"
    assert f"the enrollment of sourcedId {TAKEN!r} has the external ID" in result.message
    assert warehouse.table("enrollments").height == 0


def test_a_delta_bringing_such_an_enrollment_is_refused_and_changes_nothing(warehouse):
    district = tiny_district()
    warehouse.sync(district)
    before = every_row(warehouse.path)
    # a student enrollment alone: the run is planned incrementally, the hierarchy kept
    delta = colliding_enrollment(status="active", dateLastModified="2026-09-01T00:00:00Z")
    modes = {name: "absent" for name in district} | {"enrollments": "delta"}
    result = warehouse.sync({"enrollments": delta}, modes=modes)
    assert result.outcome == "rejected"
    assert f"'or--{TAKEN}'" in result.message
    after = every_row(warehouse.path)
    assert {name: rows for name, rows in after.items() if not name.startswith("audit.")} == {
        name: rows for name, rows in before.items() if not name.startswith("audit.")
    }
    assert (
        warehouse.query(
            "select count(*) from lms.enrollments where external_id = ?", [f"or--{TAKEN}"]
        ).item()
        == 1
    )


def with_users(*users) -> dict[str, pl.DataFrame]:
    district = tiny_district()
    return district | {"users": pl.concat([district["users"], frame("users", *users)])}


# parent p--x of student y, and parent p of student x--y: both links `or--obs--p--x--y`
FIRST_PAIR = (
    _user("p--x", "parent", "s1", given="A", family="B", agents="y"),
    _user("y", "student", "s1", given="C", family="D", agents="p--x"),
)
SECOND_PAIR = (
    _user("p", "parent", "s1", given="E", family="F", agents="x--y"),
    _user("x--y", "student", "s1", given="G", family="H", agents="p"),
)
ONE_LINK_ID = (
    "users.csv: the link of parent p to student x--y and the link of parent p--x to student y "
    "have one external ID, 'or--obs--p--x--y': a sourcedId holding '--' reads as two parts of "
    "it. Change one of those sourcedIds in the SIS, then sync again"
)


def test_a_first_load_with_two_links_of_one_external_id_is_refused(warehouse):
    result = warehouse.sync(with_users(*FIRST_PAIR, *SECOND_PAIR))
    assert (result.outcome, result.message) == ("rejected", ONE_LINK_ID)
    assert warehouse.table("observers").height == 0


def test_an_incremental_run_adding_a_link_of_a_stored_links_external_id_is_refused(warehouse):
    first = warehouse.sync(with_users(*FIRST_PAIR, SECOND_PAIR[1] | {"agentSourcedIds": None}))
    assert first.outcome == "applied"
    result = warehouse.sync(with_users(*FIRST_PAIR, *SECOND_PAIR))
    assert (result.outcome, result.message) == ("rejected", ONE_LINK_ID)
    assert (
        warehouse.query(
            "select count(*) from lms.observers where external_id = 'or--obs--p--x--y'"
        ).item()
        == 1
    )


def test_links_of_sourced_ids_holding_dashes_that_share_nothing_are_synced(warehouse):
    result = warehouse.sync(with_users(*FIRST_PAIR))
    assert result.outcome == "applied"
    assert warehouse.row("observers", "or--obs--p--x--y")["relationship"] == "parent"
