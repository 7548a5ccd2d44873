"""The platform's gradebook as OneRoster records: what is sent, in which shape, and what is not
sent and why."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.schemas.gradebook import (
    CLASS_SCHEMA,
    COURSE_SCHEMA,
    ENROLLMENT_SCHEMA,
    EXCLUSION_SCHEMA,
    LINE_ITEM_SCHEMA,
    REASONS,
    SCORE_SCHEMA,
    SESSION_SCHEMA,
    USER_SCHEMA,
)
from rosterflow.schemas.spec import SPECS_BY_VERSION
from rosterflow.transforms.gradebook import gradebook, gradebook_files

# a section (course 10, class k1, terms fall then spring) with two students enrolled by the SIS
COURSES = [
    {"course_id": 10, "external_id": "or--k1", "kind": "section", "title": "Algebra I - 1"},
    {"course_id": 11, "external_id": "or--obc--s1--Algebra", "kind": "org_base", "title": "Alg"},
    {"course_id": 12, "external_id": None, "kind": None, "title": "Chess club"},
    {"course_id": 13, "external_id": "or--k9", "kind": "section", "title": "Gone"},
]
USERS = [
    {"user_id": 1, "external_id": "or--u-s1"},
    {"user_id": 2, "external_id": "or--u-s2"},
    {"user_id": 3, "external_id": "guest-3"},
]
CLASSES = [{"sourcedId": "k1", "termSourcedIds": "fall, spring", "schoolSourcedId": "s1"}]
SESSIONS = [
    {"sourcedId": "fall", "startDate": "2026-08-15", "endDate": "2026-12-20"},
    {"sourcedId": "spring", "startDate": "2027-01-05", "endDate": "2027-06-15"},
]


def item(line_item_id: int = 7, **fields) -> dict:
    return {
        "line_item_id": line_item_id,
        "tenant": "t",
        "course_id": 10,
        "title": "Homework 1",
        "due_date": date(2026, 9, 30),
        "points_possible": 10.0,
        "min_score": 0.0,
        "category": None,
        "description": None,
        "assign_date": None,
        "status": "active",
    } | fields


def score(user_id: int = 1, line_item_id: int = 7, **fields) -> dict:
    return {
        "line_item_id": line_item_id,
        "user_id": user_id,
        "score": 8.0,
        "graded_at": datetime(2026, 10, 1, 14, 30),
        "status": "fully graded",
        "comment": None,
        "text_score": None,
        "late": None,
        "missing": None,
    } | fields


def enrollment(user_id: int = 1, **fields) -> dict:
    return {
        "user_id": user_id,
        "course_id": 10,
        "external_id": f"or--e{user_id}",
        "role": "student",
        "status": "active",
    } | fields


def lazy(rows: list[dict], schema: dict) -> pl.LazyFrame:
    return pl.LazyFrame(rows, schema=schema, orient="row")


def book_of(items: list[dict], scores: list[dict] = (), enrollments: list[dict] | None = None):
    enrolled = [enrollment(1), enrollment(2)] if enrollments is None else enrollments
    return gradebook(
        line_items=lazy(items, LINE_ITEM_SCHEMA),
        scores=lazy(list(scores), SCORE_SCHEMA),
        courses=lazy(COURSES, COURSE_SCHEMA),
        users=lazy(USERS, USER_SCHEMA),
        enrollments=lazy(enrolled, ENROLLMENT_SCHEMA),
        classes=lazy(CLASSES, CLASS_SCHEMA),
        sessions=lazy(SESSIONS, SESSION_SCHEMA),
    )


def text_frame(columns: tuple[str, ...], *rows: tuple | dict) -> pl.DataFrame:
    """Rows of text in `columns`: tuples in column order, or dicts (a column left out is empty)."""
    listed = [
        tuple(row.get(column) for column in columns) if isinstance(row, dict) else row
        for row in rows
    ]
    return pl.DataFrame(listed, schema=dict.fromkeys(columns, pl.String), orient="row")


def files(book, version: str = "1.1") -> dict[str, pl.DataFrame]:
    return {name: frame.collect() for name, frame in gradebook_files(book, version).items()}


def test_a_line_item_and_its_scores_as_oneroster_1_1_records():
    book = book_of(
        [
            item(7, category=" Homework ", assign_date=date(2026, 9, 20)),
            item(8, title="Quiz", due_date=date(2027, 2, 3), points_possible=20.5, min_score=1.0),
        ],
        [score(1, 7, score=9.5, comment="well done"), score(2, 7), score(1, 8, score=None)],
    )

    found = files(book)

    header = SPECS_BY_VERSION["1.1"]
    assert_frame_equal(
        found["categories"],
        text_frame(
            header["categories"].header,
            ("cat-486f6d65776f726b", None, None, "Homework"),
            ("cat-default", None, None, "General"),
        ),
    )
    assert_frame_equal(
        found["lineItems"],
        text_frame(
            header["lineItems"].header,
            {
                "sourcedId": "li-7",
                "title": "Homework 1",
                "assignDate": "2026-09-20",
                "dueDate": "2026-09-30",
                "classSourcedId": "k1",
                "categorySourcedId": "cat-486f6d65776f726b",
                "gradingPeriodSourcedId": "fall",  # the term holding the due date
                "resultValueMin": "0",
                "resultValueMax": "10",
            },
            {
                "sourcedId": "li-8",
                "title": "Quiz",
                "assignDate": "2027-02-03",  # none given: the due date
                "dueDate": "2027-02-03",
                "classSourcedId": "k1",
                "categorySourcedId": "cat-default",
                "gradingPeriodSourcedId": "spring",
                "resultValueMin": "1",
                "resultValueMax": "20.5",
            },
        ),
    )
    assert_frame_equal(
        found["results"],
        text_frame(
            header["results"].header,
            (
                "res-7-1",
                None,
                None,
                "li-7",
                "u-s1",
                "fully graded",
                "9.5",
                "2026-10-01",
                "well done",
            ),
            ("res-7-2", None, None, "li-7", "u-s2", "fully graded", "8", "2026-10-01", None),
            ("res-8-1", None, None, "li-8", "u-s1", "fully graded", None, "2026-10-01", None),
        ),
    )
    assert book.exclusions.collect().height == 0


def test_oneroster_1_2_records_name_the_session_the_school_the_class_and_the_flags():
    book = book_of(
        [item(7)],
        [score(1, 7, text_score="B+", late=True, missing=False, status="partially graded")],
    )

    found = files(book, "1.2")

    header = SPECS_BY_VERSION["1.2"]
    assert found["categories"].columns == list(header["categories"].header)  # with weight
    assert_frame_equal(
        found["lineItems"],
        text_frame(
            header["lineItems"].header,
            {
                "sourcedId": "li-7",
                "title": "Homework 1",
                "assignDate": "2026-09-30",
                "dueDate": "2026-09-30",
                "classSourcedId": "k1",
                "categorySourcedId": "cat-default",
                "academicSessionSourcedId": "fall",
                "resultValueMin": "0",
                "resultValueMax": "10",
                "schoolSourcedId": "s1",
            },
        ),
    )
    assert_frame_equal(
        found["results"],
        text_frame(
            header["results"].header,
            {
                "sourcedId": "res-7-1",
                "lineItemSourcedId": "li-7",
                "studentSourcedId": "u-s1",
                "scoreStatus": "partially graded",
                "score": "8",
                "scoreDate": "2026-10-01",
                "textScore": "B+",
                "classSourcedId": "k1",
                "late": "true",
                "missing": "false",
            },
        ),
    )


@pytest.mark.parametrize(
    ("due", "period"),
    [
        (date(2026, 8, 15), "fall"),  # a term's first day
        (date(2027, 6, 15), "spring"),  # a term's last day
        (date(2026, 12, 30), "fall"),  # between the terms: the first listed
        (date(2027, 8, 1), "fall"),  # after them all
    ],
)
def test_the_grading_period_is_the_term_holding_the_due_date_else_the_first(due, period):
    found = files(book_of([item(due_date=due)]))["lineItems"]

    assert found["gradingPeriodSourcedId"].to_list() == [period]


def exclusion(entity, sourced_id, line_item_id, user_id, reason, message) -> pl.DataFrame:
    assert reason in REASONS  # every reason is explained (and the how-to lists them)
    return pl.DataFrame(
        [(entity, sourced_id, line_item_id, user_id, reason, message)],
        schema=EXCLUSION_SCHEMA,
        orient="row",
    )


@pytest.mark.parametrize(
    ("fields", "reason", "message"),
    [
        (
            {"course_id": 99},
            "line_item.unknown_course",
            "course 99 is none of the tenant's courses in lms.courses (deleted by a sync, or "
            "never one of them)",
        ),
        (
            {"course_id": 12},
            "line_item.hand_made_course",
            "course 12 (Chess club) was made by hand in the platform: the SIS does not know it",
        ),
        (
            {"course_id": 11},
            "line_item.not_a_section",
            "course 11 (Alg) is a base course (org_base), not a class's section",
        ),
        (
            {"course_id": 13},
            "line_item.class_not_in_sis",
            "class k9 of course 13 (Gone) is no longer among the SIS's records",
        ),
        ({"status": "inactive"}, "line_item.inactive", "line item 7 is inactive"),
    ],
)
def test_a_line_item_not_sent_says_why_and_takes_its_scores_along(fields, reason, message):
    book = book_of([item(7, **fields)], [score(1, 7)])

    found = files(book)

    assert [frame.height for frame in found.values()] == [0, 0, 0]
    assert_frame_equal(
        book.exclusions.collect(),
        pl.concat(
            [
                exclusion("lineItem", "li-7", 7, None, reason, message),
                exclusion(
                    "result",
                    "res-7-1",
                    7,
                    1,
                    "result.line_item_not_sent",
                    f"line item 7 is not sent ({reason})",
                ),
            ]
        ),
    )


@pytest.mark.parametrize(
    ("enrollments", "user", "message"),
    [
        ([enrollment(1, status="inactive")], 1, "enrollment inactive"),
        ([enrollment(1, status="withdrawn")], 1, "enrollment withdrawn"),
        ([], 1, "no student enrollment"),
        ([enrollment(1, course_id=11)], 1, "no student enrollment"),  # in another course
        ([enrollment(1, role="teacher")], 1, "no student enrollment"),
        ([enrollment(1, external_id="by-hand")], 1, "no student enrollment"),  # not the SIS's
    ],
)
def test_a_score_of_a_student_not_actively_enrolled_is_not_sent(enrollments, user, message):
    book = book_of([item(7)], [score(user, 7)], enrollments)

    assert files(book)["results"].height == 0
    assert_frame_equal(
        book.exclusions.collect(),
        exclusion(
            "result",
            "res-7-1",
            7,
            1,
            "result.not_enrolled",
            f"student u-s1 is not actively enrolled in class k1 ({message})",
        ),
    )


def test_an_active_enrollment_beside_an_inactive_one_counts():
    enrollments = [enrollment(1, status="inactive"), enrollment(1, external_id="or--e1b")]

    assert files(book_of([item(7)], [score(1, 7)], enrollments))["results"].height == 1


def test_a_score_of_a_user_made_by_hand_is_not_sent():
    book = book_of([item(7)], [score(3, 7)], [enrollment(3, external_id="by-hand")])

    (row,) = book.exclusions.collect().rows(named=True)
    assert (row["reason"], row["message"]) == (
        "result.not_enrolled",
        "user 3 is not a student the SIS knows (made by hand in the platform)",
    )


def test_a_score_of_a_user_no_longer_in_lms_users_is_not_called_hand_made():
    """A sync under `[policy] users = "delete"` removes the student's row and leaves the score:
    the user is gone, not one made by hand."""
    book = book_of([item(7)], [score(4, 7)], [])

    (row,) = book.exclusions.collect().rows(named=True)
    assert (row["reason"], row["message"]) == (
        "result.not_enrolled",
        "user 4 is none of the tenant's users in lms.users (deleted by a sync, or never one of "
        "them)",
    )


@pytest.mark.parametrize(
    ("value", "sent"),
    [(0.0, True), (10.0, True), (10.5, False), (-1.0, False), (None, True)],
)
def test_a_score_outside_the_line_items_range_is_not_sent(value, sent):
    book = book_of([item(7)], [score(1, 7, score=value)])

    exclusions = book.exclusions.collect()
    assert files(book)["results"].height == int(sent)
    if not sent:
        assert exclusions["reason"].to_list() == ["result.out_of_range"]
        assert exclusions["message"].to_list() == [f"score {value:g} is outside 0 to 10"]


def test_the_records_do_not_depend_on_row_order():
    items = [item(n, course_id=10 if n % 2 else 12, category=f"c{n % 3}") for n in range(1, 9)]
    scores = [score(user, n, score=float(n + user)) for n in range(1, 9) for user in (1, 2, 3)]
    book = book_of(items, scores)
    shuffled = book_of(items[::-1], scores[::-1])

    for name, frame in files(book).items():
        assert_frame_equal(frame, files(shuffled)[name])
    assert_frame_equal(book.exclusions.collect(), shuffled.exclusions.collect())


def test_an_empty_gradebook_gives_empty_files_of_text():
    found = files(book_of([]), "1.2")

    for name, frame in found.items():
        assert frame.height == 0
        assert frame.columns == list(SPECS_BY_VERSION["1.2"][name].header)
        assert set(frame.dtypes) == {pl.String}
