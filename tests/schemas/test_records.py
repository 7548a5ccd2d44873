"""`schemas.records`: where a record stands in file order."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from rosterflow.schemas.records import in_places


def test_a_record_keeps_the_place_it_was_first_sent_in_and_a_new_one_its_own():
    rows = pl.LazyFrame(
        {
            "sourcedId": ["e3", "e1", "e9"],
            "run_id": [4, 4, 4],
            "line": [2, 3, 4],
            "role": ["teacher", "teacher", "student"],
        }
    )
    places = pl.LazyFrame({"sourcedId": ["e1", "e3", "e7"], "run_id": [1, 2, 1], "line": [5, 9, 6]})

    placed = in_places(rows, places).collect()

    expected = pl.DataFrame(
        {
            "sourcedId": ["e3", "e1", "e9"],  # in the order of the rows
            "run_id": [2, 1, 4],
            "line": [9, 5, 4],
            "role": ["teacher", "teacher", "student"],
        }
    )
    assert_frame_equal(placed, expected)
