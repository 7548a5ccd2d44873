"""A sync reads a feed of changed lines by those lines (`flows.steps.read_feed`,
`schemas.by_lines`): the stored records stand in for the unchanged ones, on the lines they stand
on now. Each scenario is held to the same feed synced with `--full` on a copy of the warehouse;
the equivalence property (`test_pipeline_incremental.py`) does so under random changes."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.flows import steps
from rosterflow.schemas.settings import Settings
from tests.feeds import frame, tiny_district, with_cell
from tests.flows.test_pipeline_incremental import Scenario, actions
from tests.spying import answered_by_lines
from tests.syncing import Warehouse


@pytest.fixture
def by_lines(monkeypatch) -> list[bool]:
    """Whether each run's validation was answered by its changed lines."""
    return answered_by_lines(monkeypatch, steps)


def with_second_teacher(district: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """k2 with two teacher enrollments, neither marked primary: the first in file order is its
    primary teacher."""
    enrollments = district["enrollments"].with_columns(
        pl.when(pl.col("sourcedId") == "e3")
        .then(pl.lit("false"))
        .otherwise("primary")
        .alias("primary")
    )
    second = frame(
        "enrollments",
        {
            "sourcedId": "e7",
            "classSourcedId": "k2",
            "schoolSourcedId": "s1",
            "userSourcedId": "u-t2",
            "role": "teacher",
            "primary": "false",
        },
    )
    return district | {"enrollments": pl.concat([enrollments, second])}


def test_unchanged_teacher_lines_in_another_order_move_a_section_as_in_full(tmp_path, by_lines):
    """Only the order of k2's two teacher lines changes (a student's name too, so that the
    run is not recalled): the stored enrollments stand on their new lines, and k2's section
    moves to its new first teacher's base course as a full run moves it."""
    scenario = Scenario(tmp_path, Settings())
    district = with_second_teacher(tiny_district())
    scenario.first(district)
    enrollments = district["enrollments"]
    swapped = pl.concat(
        [
            enrollments.filter(pl.col("sourcedId") == "e7"),
            enrollments.filter(pl.col("sourcedId") != "e7"),
        ]
    )
    renamed = with_cell(district | {"enrollments": swapped}, "users", 2, "givenName", "Samuel")
    planned = scenario.step(renamed)  # (held to --full)
    assert by_lines == [True]
    assert ("or--u-s1", "update") in actions(planned, "user")
    # the section's base course is now u-t2's, made for it
    assert {("or--k2", "update"), ("or--tbc--s1--u-t2--Algebra I", "create")} <= actions(
        planned, "course"
    )


def test_an_issue_on_an_unchanged_line_is_reported_on_it_as_in_full(tmp_path, by_lines):
    """A changed user takes an unchanged user's login (`[identity] key = "username"`): both
    lines are named, the unchanged one on the line it stands on now (the file reordered), as
    a full run names them."""
    by_username = {"identity": {"key": "username"}}
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district(), settings=by_username)
    users = tiny_district()["users"].reverse()
    taken = users.with_columns(
        pl.when(pl.col("sourcedId") == "u-s1")
        .then(pl.lit("kim.lee"))
        .otherwise(pl.col("username"))
        .alias("username")
    )
    feed = tiny_district() | {"users": taken}
    oracle = Warehouse(tmp_path / "oracle")
    (tmp_path / "oracle").mkdir()
    shutil.copyfile(warehouse.path, oracle.path)

    ours = warehouse.sync(feed, settings=by_username)
    full = oracle.sync(feed, settings=by_username, full=True)
    assert by_lines[-1] is True
    assert ours.outcome == full.outcome == "rejected"
    assert_frame_equal(ours.issues, full.issues)
    login = ours.issues.filter(pl.col("value") == "kim.lee")
    assert sorted(login["line"].to_list()) == [3, 4]  # Kim unchanged on line 3, Sam on 4
