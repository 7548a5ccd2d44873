"""What the platform holds that no OneRoster feed can say, exported as a feed the product's own
validator refuses: a control character (a vertical tab a word processor pastes for a line
break, a NUL, an ESC) in a line item's title, description or category, or in a score's comment
or text score; a day whose year has five digits (a typo a date field takes: 20270). The record
is not sent, and its exclusion names the column and shows the value."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from rosterflow.schemas.gradebook import (
    CLASS_SCHEMA,
    COURSE_SCHEMA,
    ENROLLMENT_SCHEMA,
    LINE_ITEM_SCHEMA,
    REASONS,
    SCORE_SCHEMA,
    SESSION_SCHEMA,
    USER_SCHEMA,
    Gradebook,
)
from rosterflow.transforms.gradebook import gradebook
from rosterflow.transforms.gradebook_push import push_records
from tests.transforms.test_gradebook import (
    CLASSES,
    COURSES,
    SESSIONS,
    USERS,
    book_of,
    enrollment,
    files,
    item,
    lazy,
    score,
)

CONTROL = "line item 7 holds a control character (shown as \\xNN), which no OneRoster value may: "


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"title": "Quiz\x0b1"}, "title 'Quiz\\x0b1'"),
        ({"description": "pasted\x00from a document"}, "description 'pasted\\x00from a document'"),
        ({"category": "Tests\x07"}, "category 'Tests\\x07'"),
        (
            {"title": "\x1b[31mQuiz", "description": "page\x0cbreak"},
            "title '\\x1b[31mQuiz', description 'page\\x0cbreak'",
        ),
    ],
)
def test_a_line_item_holding_a_control_character_is_not_sent_nor_its_scores(fields, shown):
    book = book_of([item(7, **fields), item(8)], [score(1, 7), score(1, 8)])

    exclusions = book.exclusions.collect()
    assert exclusions.select("sourcedId", "reason", "message").rows() == [
        ("li-7", "line_item.control_character", CONTROL + shown),
        (
            "res-7-1",
            "result.line_item_not_sent",
            "line item 7 is not sent (line_item.control_character)",
        ),
    ]
    assert "line_item.control_character" in REASONS
    sent = files(book)
    assert sent["lineItems"]["sourcedId"].to_list() == ["li-8"]
    assert sent["results"]["sourcedId"].to_list() == ["res-8-1"]
    assert sent["categories"]["title"].to_list() == ["General"]


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"comment": "good\x1bjob"}, "comment 'good\\x1bjob'"),
        ({"text_score": "A\x08-"}, "text_score 'A\\x08-'"),
    ],
)
def test_a_score_holding_a_control_character_is_not_sent(fields, shown):
    book = book_of([item(7)], [score(1, 7, **fields), score(2, 7, comment="fine")])

    exclusions = book.exclusions.collect()
    assert exclusions.select("sourcedId", "reason", "message").rows() == [
        (
            "res-7-1",
            "result.control_character",
            "the score holds a control character (shown as \\xNN), which no OneRoster value "
            f"may: {shown}",
        )
    ]
    assert "result.control_character" in REASONS
    assert files(book)["results"]["sourcedId"].to_list() == ["res-7-2"]
    assert push_records(book, "1.2")["results"].collect()["sourcedId"].to_list() == ["res-7-2"]


def test_tabs_line_breaks_and_whitespace_around_a_category_are_sent_as_they_are():
    """What a CSV value may hold (a tab, LF, CR: quoted) is no control character, and the
    whitespace a category's title is trimmed of is not sent."""
    texts = {"title": "Quiz\t1", "description": "line 1\r\nline 2", "category": "\x0bHomework "}
    book = book_of([item(7, **texts)], [score(1, 7, comment="good\njob")])

    assert book.exclusions.collect().is_empty()
    sent = files(book)
    assert sent["lineItems"].select("title", "description").row(0) == (
        "Quiz\t1",
        "line 1\r\nline 2",
    )
    assert sent["categories"]["title"].to_list() == ["Homework"]
    assert sent["results"]["comment"].to_list() == ["good\njob"]


def book_on_days(items: list[dict], scores: list[dict], **days: pl.Expr) -> Gradebook:
    """`book_of`, line item 7 and user 1's score on it having the `days` (column -> day),
    which a Python date cannot hold (a year beyond 9999, or before 1)."""

    def on_days(rows: list[dict], schema: dict) -> pl.LazyFrame:
        chosen = pl.col("line_item_id") == 7
        if "user_id" in schema:
            chosen &= pl.col("user_id") == 1
        return lazy(rows, schema).with_columns(
            pl.when(chosen).then(day).otherwise(pl.col(name)).alias(name)
            for name, day in days.items()
            if name in schema
        )

    return gradebook(
        line_items=on_days(items, LINE_ITEM_SCHEMA),
        scores=on_days(scores, SCORE_SCHEMA),
        courses=lazy(COURSES, COURSE_SCHEMA),
        users=lazy(USERS, USER_SCHEMA),
        enrollments=lazy([enrollment(1), enrollment(2)], ENROLLMENT_SCHEMA),
        classes=lazy(CLASSES, CLASS_SCHEMA),
        sessions=lazy(SESSIONS, SESSION_SCHEMA),
    )


@pytest.mark.parametrize(
    ("days", "shown"),
    [
        ({"due_date": pl.date(20270, 2, 1)}, "due_date +20270-02-01"),
        ({"assign_date": pl.date(-1, 9, 1)}, "assign_date -0001-09-01"),
    ],
)
def test_a_line_item_due_on_a_day_no_oneroster_date_says_is_not_sent_nor_its_scores(days, shown):
    """Written, `+20270-02-01` failed the export's own validation (date) and the JSON's
    DateTime."""
    items = [item(7), item(8, due_date=date(9999, 12, 31))]
    book = book_on_days(items, [score(1, 7)], **days)

    assert book.exclusions.collect().select("sourcedId", "reason", "message").rows() == [
        (
            "li-7",
            "line_item.not_a_date",
            "a day of line item 7 is no OneRoster date (YYYY-MM-DD, a year of four digits): "
            + shown,
        ),
        ("res-7-1", "result.line_item_not_sent", "line item 7 is not sent (line_item.not_a_date)"),
    ]
    assert "line_item.not_a_date" in REASONS
    assert files(book)["lineItems"].select("sourcedId", "dueDate").rows() == [
        ("li-8", "9999-12-31")
    ]


def test_a_score_graded_on_a_day_no_oneroster_date_says_is_not_sent():
    graded = pl.datetime(20207, 2, 2, 10)
    book = book_on_days([item(7)], [score(1, 7), score(2, 7)], graded_at=graded)

    assert book.exclusions.collect().select("sourcedId", "reason", "message").rows() == [
        (
            "res-7-1",
            "result.not_a_date",
            "the day the score was graded is no OneRoster date (YYYY-MM-DD, a year of four "
            "digits): graded_at +20207-02-02",
        )
    ]
    assert "result.not_a_date" in REASONS
    assert files(book)["results"].select("sourcedId", "scoreDate").rows() == [
        ("res-7-2", "2026-10-01")
    ]
