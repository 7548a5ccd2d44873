"""The gradebook's records as the REST binding's JSON (literal gradebooks in, JSON out), and the
records a push holds back."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.gradebook import PUSH_OUTCOME_SCHEMA, PUSH_RECORD_SCHEMA, REFUSED_RETRY
from rosterflow.transforms.gradebook_push import (
    changed,
    json_records,
    not_accepted,
    push_records,
    request_bodies,
    split_held,
)
from tests.transforms.test_gradebook import book_of, item, score

MODIFIED = "2026-10-02T08:00:00.000Z"


def records(book, version: str) -> dict[str, list[dict]]:
    """Per file, each record's JSON as a dict."""
    return {
        name: [json.loads(text) for text in frame.collect()["record"]]
        for name, frame in push_records(book, version).items()
    }


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_each_record_is_its_json_with_references_as_objects_and_numbers_as_numbers(version):
    book = book_of(
        [item(7, category="Homework", description='a "quoted", text', min_score=1.0)],
        [score(1, comment="très bien", late=True), score(2, score=9.5)],
    )

    found = records(book, version)

    assert found["categories"] == [
        {"sourcedId": "cat-486f6d65776f726b", "status": "active", "title": "Homework"}
    ]
    session = {"sourcedId": "fall", "type": "academicSession"}
    assert found["lineItems"] == [
        {
            "sourcedId": "li-7",
            "status": "active",
            "title": "Homework 1",
            "description": 'a "quoted", text',
            "assignDate": "2026-09-30T00:00:00.000Z",
            "dueDate": "2026-09-30T00:00:00.000Z",
            "class": {"sourcedId": "k1", "type": "class"},
            "category": {"sourcedId": "cat-486f6d65776f726b", "type": "category"},
            "resultValueMin": 1.0,
            "resultValueMax": 10.0,
        }
        | (
            {"gradingPeriod": session}
            if version == "1.1"
            else {"academicSession": session, "school": {"sourcedId": "s1", "type": "org"}}
        )
    ]
    result = {
        "sourcedId": "res-7-1",
        "status": "active",
        "lineItem": {"sourcedId": "li-7", "type": "lineItem"},
        "student": {"sourcedId": "u-s1", "type": "user"},
        "scoreStatus": "fully graded",
        "score": 8.0,
        "scoreDate": "2026-10-01",
        "comment": "très bien",
    }
    if version == "1.2":  # the class, and the flags the platform set (late), not those it left
        result |= {"class": {"sourcedId": "k1", "type": "class"}, "late": True}
    assert found["results"][0] == result
    assert found["results"][1]["score"] == 9.5


def test_an_empty_field_is_left_out_and_never_sent_as_null():
    book = book_of(
        [item(7, description=None)],
        [score(1, score=None, status="exempt")],
    )

    found = records(book, "1.2")

    assert "description" not in found["lineItems"][0]
    assert found["results"][0]["scoreStatus"] == "exempt"
    assert not {"score", "comment", "textScore", "late", "missing"} & set(found["results"][0])
    assert all(
        "null" not in text for text in push_records(book, "1.2")["results"].collect()["record"]
    )


def test_the_record_leaves_out_date_last_modified_so_the_same_record_gives_the_same_text():
    book = book_of([item(7)], [score(1)])
    first, second = (
        {name: frame.collect() for name, frame in push_records(book, "1.1").items()}
        for _ in range(2)
    )
    for name in first:
        assert_frame_equal(first[name], second[name])
        assert not first[name]["record"].str.contains("dateLastModified").any()
        assert first[name].schema == pl.Schema(PUSH_RECORD_SCHEMA)
    # a line item names its category, a result its line item: sent after them
    assert first["lineItems"]["parent"].to_list() == ["cat-default"]
    assert first["results"]["parent"].to_list() == ["li-7"]
    assert first["categories"]["parent"].to_list() == [None]


def test_a_body_is_the_record_under_its_key_with_the_push_time():
    book = book_of([item(7)])
    bodies = request_bodies(push_records(book, "1.1")["categories"], MODIFIED).collect()

    assert bodies.columns == ["sourcedId", "body"]
    assert json.loads(bodies["body"][0]) == {
        "category": {
            "sourcedId": "cat-default",
            "status": "active",
            "title": "General",
            "dateLastModified": MODIFIED,
        }
    }


def test_json_records_of_no_records_is_empty():
    empty = pl.LazyFrame(schema=dict.fromkeys(("sourcedId", "status", "title"), pl.String))
    found = json_records(
        "categories", empty.with_columns(pl.lit(None, pl.String).alias("dateLastModified")), "1.1"
    )
    assert found.collect().height == 0


def planned(*rows: tuple[str, str, str | None, bool]) -> pl.LazyFrame:
    """Records as the warehouse gives them back: entity, sourcedId, parent, acknowledged."""
    return pl.LazyFrame(
        [(entity, sid, parent, "{}", f"h-{sid}", seen) for entity, sid, parent, seen in rows],
        schema=PUSH_RECORD_SCHEMA | {"body_hash": pl.String, "acknowledged": pl.Boolean},
        orient="row",
    )


def answered(*rows: tuple[str, str, int | None, str]) -> pl.LazyFrame:
    return pl.LazyFrame(
        [(entity, sid, status, outcome, None, f"h-{sid}") for entity, sid, status, outcome in rows],
        schema=PUSH_OUTCOME_SCHEMA | {"body_hash": pl.String},
        orient="row",
    )


def test_only_records_the_sis_did_not_acknowledge_are_sent_unless_full():
    items = planned(("lineItem", "li-1", "cat-a", True), ("lineItem", "li-2", "cat-a", False))

    assert changed(items).collect()["sourcedId"].to_list() == ["li-2"]
    assert changed(items, full=True).collect()["sourcedId"].to_list() == ["li-1", "li-2"]


def test_a_record_whose_parent_was_refused_or_held_is_held_back():
    results = planned(
        ("result", "res-1-1", "li-1", False),
        ("result", "res-2-1", "li-2", False),
        ("result", "res-3-1", "li-3", False),
        ("result", "res-4-1", "li-4", False),  # its line item unchanged: not sent, not refused
    )
    so_far = answered(
        ("lineItem", "li-1", 201, "sent"),
        ("lineItem", "li-2", 409, "refused"),
        ("lineItem", "li-3", None, "held"),
    )

    ready, held = (frame.collect() for frame in split_held(results, so_far, "results"))

    assert ready["sourcedId"].to_list() == ["res-1-1", "res-4-1"]
    assert held.select("sourcedId", "status", "outcome", "reason", "body_hash").rows() == [
        (
            "res-2-1",
            None,
            "held",
            "not sent: its line item li-2 was refused by the SIS",
            "h-res-2-1",
        ),
        ("res-3-1", None, "held", "not sent: its line item li-3 was held back", "h-res-3-1"),
    ]


def test_the_records_not_accepted_list_the_refusals_before_those_held_back():
    """A refused line item holds back every result of its column: the refusals someone must
    mend in the SIS come first, so that a report of the first rows shows them all."""
    so_far = answered(
        ("lineItem", "li-1", 409, "refused"),
        ("lineItem", "li-2", 201, "sent"),
        ("result", "res-1-1", None, "held"),
        ("result", "res-1-2", None, "held"),
        ("result", "res-2-1", 403, "refused"),
        ("category", "cat-a", 403, "refused"),
    )

    listed = not_accepted(so_far).collect()

    assert listed.select("sourcedId", "outcome").rows() == [
        ("cat-a", "refused"),
        ("li-1", "refused"),
        ("res-2-1", "refused"),
        ("res-1-1", "held"),
        ("res-1-2", "held"),
    ]


def test_a_record_whose_retry_was_refused_is_listed_and_one_a_stopped_push_left_is_not():
    """An `unanswered` record whose retry the SIS refused (a 409 for the record its first try
    stored) was refused all the same; one the push stopped on (a 429 once its retries ran out,
    after a try that got no answer) was refused by no one, whatever its status."""
    so_far = answered(
        ("result", "res-1", 409, "unanswered"),
        ("result", "res-2", 429, "unanswered"),
        ("result", "res-3", 403, "refused"),
    ).with_columns(
        pl.when(pl.col("sourcedId") == "res-1")
        .then(pl.lit("the result exists" + REFUSED_RETRY))
        .when(pl.col("sourcedId") == "res-2")
        .then(pl.lit("https://sis.example/results/res-2: HTTP 429 Too Many Requests after 3 tries"))
        .otherwise(pl.lit("locked"))
        .alias("reason")
    )

    listed = not_accepted(so_far).collect()

    assert listed.select("sourcedId", "outcome").rows() == [
        ("res-1", "unanswered"),
        ("res-3", "refused"),
    ]
