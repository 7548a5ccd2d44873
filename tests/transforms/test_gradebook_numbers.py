"""The platform's numbers that no OneRoster number says (NaN, infinity, in lms.line_items and
lms.scores' double columns): the record is not sent, and the exclusion names it and its value."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.gradebook import REASONS
from rosterflow.schemas.models import as_number
from rosterflow.transforms.gradebook_push import push_records
from tests.transforms.test_gradebook import book_of, files, item, score

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"points_possible": NAN}, "the range of line item 7 is not finite: points_possible NaN"),
        ({"points_possible": INF}, "the range of line item 7 is not finite: points_possible inf"),
        ({"min_score": -INF}, "the range of line item 7 is not finite: min_score -inf"),
        ({"min_score": NAN}, "the range of line item 7 is not finite: min_score NaN"),
        (
            {"min_score": -INF, "points_possible": INF},
            "the range of line item 7 is not finite: min_score -inf, points_possible inf",
        ),
    ],
)
def test_a_line_item_whose_range_is_not_finite_is_not_sent_nor_its_scores(fields, message):
    book = book_of([item(7, **fields), item(8)], [score(1, 7), score(1, 8)])

    exclusions = book.exclusions.collect()
    assert exclusions.select("sourcedId", "reason", "message").rows() == [
        ("li-7", "line_item.not_a_number", message),
        (
            "res-7-1",
            "result.line_item_not_sent",
            "line item 7 is not sent (line_item.not_a_number)",
        ),
    ]
    assert "line_item.not_a_number" in REASONS
    sent = files(book)
    assert sent["lineItems"]["sourcedId"].to_list() == ["li-8"]
    assert sent["results"]["sourcedId"].to_list() == ["res-8-1"]


def test_a_line_item_whose_range_is_reversed_is_not_sent_nor_its_scores():
    reversed_range = item(7, min_score=20.0, points_possible=10.0)
    book = book_of([reversed_range, item(8, min_score=10.0, points_possible=10.0)], [score(1, 7)])

    exclusions = book.exclusions.collect()
    assert exclusions.select("sourcedId", "reason", "message").rows() == [
        (
            "li-7",
            "line_item.range_order",
            "the range of line item 7 is reversed: min_score 20 is above points_possible 10",
        ),
        (
            "res-7-1",
            "result.line_item_not_sent",
            "line item 7 is not sent (line_item.range_order)",
        ),
    ]
    assert "line_item.range_order" in REASONS
    # a range of one value is in order
    assert files(book)["lineItems"]["sourcedId"].to_list() == ["li-8"]


@pytest.mark.parametrize(("value", "shown"), [(NAN, "NaN"), (INF, "inf"), (-INF, "-inf")])
def test_a_score_that_is_not_finite_is_not_sent_and_says_so(value, shown):
    book = book_of([item(7)], [score(1, 7, score=value), score(2, 7)])

    exclusions = book.exclusions.collect()
    assert exclusions.select("sourcedId", "reason", "message").rows() == [
        ("res-7-1", "result.not_a_number", f"score {shown} is not a finite number")
    ]
    assert "result.not_a_number" in REASONS
    assert files(book)["results"]["sourcedId"].to_list() == ["res-7-2"]


def test_a_push_never_sends_a_range_or_score_json_cannot_hold():
    """JSON has no NaN nor infinity: Polars wrote them as null, and the empty field was left
    out, so the SIS got a line item without its maximum."""
    book = book_of(
        [item(7, points_possible=NAN), item(8, min_score=-INF), item(9)],
        [score(1, 9, score=INF), score(2, 9)],
    )

    for version in ("1.1", "1.2"):
        records = {name: frame.collect() for name, frame in push_records(book, version).items()}
        assert records["lineItems"]["sourcedId"].to_list() == ["li-9"]
        assert json.loads(records["lineItems"]["record"][0])["resultValueMax"] == 10.0
        assert records["results"]["sourcedId"].to_list() == ["res-9-2"]


def test_the_largest_doubles_are_sent_as_numbers_a_feed_reads_back():
    book = book_of(
        [item(7, min_score=-1.7976931348623157e308, points_possible=1.7976931348623157e308)],
        [score(1, 7, score=1e308), score(2, 7, score=5e-324)],
    )

    sent = files(book)
    texts = pl.concat(
        [
            sent["lineItems"].select(pl.col("resultValueMin").alias("number")),
            sent["lineItems"].select(pl.col("resultValueMax").alias("number")),
            sent["results"].select(pl.col("score").alias("number")),
        ]
    )
    assert texts.height == 4
    assert texts.select(as_number(pl.col("number")).is_not_null().all()).item()


def test_a_negative_zero_is_sent_as_zero():
    """A platform's 0 * -1 is -0.0: the export wrote `-0`, and the push `-0.0`."""
    book = book_of([item(7, min_score=-0.0)], [score(1, 7, score=-0.0), score(2, 7, score=0.0)])

    sent = files(book)
    assert_frame_equal(
        sent["results"].select("sourcedId", "score"),
        pl.DataFrame({"sourcedId": ["res-7-1", "res-7-2"], "score": ["0", "0"]}),
    )
    assert sent["lineItems"]["resultValueMin"].to_list() == ["0"]
    results = push_records(book, "1.1")["results"].collect()
    # -0.0 == 0.0 in Python: the text of the body tells them apart
    assert [json.dumps(json.loads(record)["score"]) for record in results["record"]] == [
        "0.0",
        "0.0",
    ]


@pytest.mark.parametrize("title", ["", "   "])
def test_a_line_item_of_no_title_is_not_sent_nor_its_scores(title):
    # lineItems.csv requires a title: sent empty, the export failed its own validation
    book = book_of([item(7, title=title), item(8)], [score(1, 7)])

    exclusions = book.exclusions.collect()
    assert exclusions.select("sourcedId", "reason", "message").rows() == [
        ("li-7", "line_item.no_title", "line item 7 has an empty title, which OneRoster requires"),
        ("res-7-1", "result.line_item_not_sent", "line item 7 is not sent (line_item.no_title)"),
    ]
    assert "line_item.no_title" in REASONS
    assert files(book)["lineItems"]["sourcedId"].to_list() == ["li-8"]
