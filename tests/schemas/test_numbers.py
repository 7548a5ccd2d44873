"""The numbers of a OneRoster feed (a line item's range, a score, a category's weight): a decimal
that is finite as a double, or an error naming its file, line, field and value."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.models import FINITE_NUMBER, MODELS
from rosterflow.schemas.models12 import MODELS_12
from rosterflow.schemas.prescreen import suspect_rows
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.vocabulary import Kind
from rosterflow.schemas.writer import write_feed
from tests.feeds import frame, tiny_district, with_cell
from tests.feeds12 import as_v12, frame12

NOT_A_NUMBER = "not a number (a decimal such as 8 or 8.5)"
TOO_LARGE = "too large for a number (beyond ±1.8e308)"
# too large for a double: each would be infinity on the platform and in the REST binding's JSON
OVERFLOWING = ["1e999", "-1e999", "1E+400", "9" * 400, "1.7976931348623159e308"]
# no decimal at all
NOT_DECIMALS = ["inf", "-inf", "Infinity", "nan", "NaN", " 5", "5 ", "0x10", "1_000", "8,5", ""]
FINITE = ["+5", "5.", ".5", "-0", "1e308", "-1.7976931348623157e308", "1e-999", "0.5e-3"]


def gradebook(version: str = "1.1") -> dict[str, pl.DataFrame]:
    """tiny_district with a category, a line item from 0 to 10 and a score of 8 (1.2: with a
    weight, and a learning objective's score of 4)."""
    period = "gradingPeriodSourcedId" if version == "1.1" else "academicSessionSourcedId"
    make = frame if version == "1.1" else frame12
    roster = tiny_district() if version == "1.1" else as_v12(tiny_district())
    files = roster | {
        "categories": make("categories", {"sourcedId": "cat-hw", "title": "Homework"}),
        "lineItems": make(
            "lineItems",
            {
                "sourcedId": "li-1",
                "title": "Homework 1",
                "assignDate": "2026-09-01",
                "dueDate": "2026-09-30",
                "classSourcedId": "k1",
                "categorySourcedId": "cat-hw",
                period: "t1",
                "resultValueMin": "0",
                "resultValueMax": "10",
                "schoolSourcedId": "s1",
            },
        ),
        "results": make(
            "results",
            {
                "sourcedId": "res-1",
                "lineItemSourcedId": "li-1",
                "studentSourcedId": "u-s1",
                "scoreStatus": "fully graded",
                "score": "8",
                "scoreDate": "2026-10-01",
            },
        ),
    }
    if version == "1.2":
        files["categories"] = files["categories"].with_columns(weight=pl.lit("1"))
        files["resultLearningObjectiveIds"] = frame12(
            "resultLearningObjectiveIds",
            {
                "sourcedId": "rlo-1",
                "resultSourcedId": "res-1",
                "source": "x",
                "learningObjectiveId": "o1",
                "score": "4",
            },
        )
    return files


def issues_of(tmp_path, frames, version: str = "1.1") -> pl.DataFrame:
    feed = open_feed(write_feed(tmp_path / "feed.zip", frames, version=version))
    return validate_feed(feed).issues


NUMBERS_11 = [
    ("lineItems", "resultValueMin"),
    ("lineItems", "resultValueMax"),
    ("results", "score"),
]
NUMBERS_12 = [*NUMBERS_11, ("categories", "weight"), ("resultLearningObjectiveIds", "score")]


@pytest.mark.slow
@pytest.mark.parametrize("value", OVERFLOWING + NOT_DECIMALS[:-1])
@pytest.mark.parametrize(("name", "column"), NUMBERS_11)
def test_a_number_no_double_holds_is_an_error_naming_file_line_field_and_value(
    tmp_path, name, column, value
):
    frames = with_cell(gradebook(), name, 0, column, value)

    issues = issues_of(tmp_path, frames)

    assert issues.select(
        "file", "line", "field", "value", "rule", "severity", "message"
    ).rows() == [
        (
            f"{name}.csv",
            2,
            column,
            value,
            "number",
            "error",
            (TOO_LARGE if value in OVERFLOWING else NOT_A_NUMBER)
            + (" (the value has spaces around it)" if value != value.strip() else ""),
        )
    ]


@pytest.mark.slow
@pytest.mark.parametrize("value", ["1e999", "-1e400", "9" * 400, "NaN"])
@pytest.mark.parametrize(("name", "column"), NUMBERS_12)
def test_a_12_number_no_double_holds_is_an_error_too(tmp_path, name, column, value):
    frames = with_cell(gradebook("1.2"), name, 0, column, value)

    issues = issues_of(tmp_path, frames, "1.2")

    assert issues.select("file", "line", "field", "value", "rule", "severity").rows() == [
        (f"{name}.csv", 2, column, value, "number", "error")
    ]


@pytest.mark.parametrize("value", FINITE)
def test_every_finite_decimal_is_a_number(tmp_path, value):
    frames = gradebook()
    for name, column in NUMBERS_11:
        frames = with_cell(
            frames, name, 0, column, value if column != "resultValueMax" else "1e308"
        )

    issues = issues_of(tmp_path, frames)

    assert issues.height == 0, issues


def test_an_overflowing_maximum_is_no_range_to_order(tmp_path):
    """-1e999 is below 0 as a double, but it is no number: its error alone, no range.order."""
    frames = with_cell(gradebook(), "lineItems", 0, "resultValueMax", "-1e999")

    issues = issues_of(tmp_path, frames)

    assert issues.select("field", "rule").rows() == [("resultValueMax", "number")]


@pytest.mark.parametrize("models", [MODELS, MODELS_12], ids=["1.1", "1.2"])
def test_every_number_column_of_every_model_is_checked_finite(models):
    unchecked = [
        (name, column_name)
        for name, model in models.items()
        for column_name, column in model.to_schema().columns.items()
        if column.metadata["kind"] == Kind.NUMBER
        # an inherited check is named after its method (`finite_number_score`)
        and not any(check.name.startswith(FINITE_NUMBER) for check in column.checks)
    ]
    assert unchecked == []


def test_the_prescreen_suspects_an_overflowing_number_and_no_finite_one():
    for models in (MODELS, MODELS_12):
        model = models["results"]
        scores = ["1e308", "1e999", None, "-1E400", "NaN"]
        rows = frame("results", *({"score": score} for score in scores)).with_columns(
            sourcedId=pl.format("r{}", pl.int_range(pl.len())),
            lineItemSourcedId=pl.lit("li-1"),
            studentSourcedId=pl.lit("u-s1"),
            scoreStatus=pl.lit("fully graded"),
            scoreDate=pl.lit("2026-10-01"),
        )
        if models is MODELS_12:
            rows = rows.with_columns(
                pl.lit(None, pl.String).alias(c) for c in model.to_schema().columns if c not in rows
            ).select(*model.to_schema().columns)

        assert suspect_rows(rows, model).to_list() == [False, True, False, True, True]
