"""The checks of one file share their distinct values: the lenient reads find them, the
pre-screen judges each once (`isin` checks included), and a column whose values hardly repeat
is judged row by row instead. Every way flags the same rows, and a feed gets the same issues."""

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal, assert_series_equal

from rosterflow.schemas import prescreen
from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.lenient import judged_columns, normalize
from rosterflow.schemas.prescreen import distinct_values, suspect_rows
from rosterflow.schemas.spec import MODELS_BY_VERSION, SPECS_BY_VERSION
from rosterflow.schemas.validate import model_issues, validate_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_cell
from tests.schemas.test_prescreen import rows_of

FILES = [("1.1", "users"), ("1.1", "enrollments"), ("1.1", "lineItems"), ("1.2", "roles")]


def _checked(model) -> list[str]:
    """The columns of a model with a check of their values."""
    return [name for name, column in model.to_schema().columns.items() if column.checks]


@pytest.mark.slow  # (an equivalence of ways to judge, each of which fast tests hold to pandera)
@pytest.mark.parametrize(("version", "name"), FILES, ids=[f"{v}-{n}" for v, n in FILES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_way_of_judging_a_column_flags_the_same_rows(version, name, data):
    spec = SPECS_BY_VERSION[version][name]
    model = MODELS_BY_VERSION[version][name]
    rows = data.draw(rows_of(spec), label="rows")
    more = data.draw(rows_of(spec), label="more")
    alone = suspect_rows(rows, model)
    # each distinct value judged once, given (as the lenient reads share them), and given for
    # a frame the rows are part of (the rows a sync checks of a file it read whole)
    assert_series_equal(suspect_rows(rows, model, distinct_values(rows, _checked(model))), alone)
    whole = distinct_values(pl.concat([rows, more]), _checked(model))
    assert_series_equal(suspect_rows(rows, model, whole), alone)
    # every row judged: as for a column whose values hardly repeat
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(prescreen, "_repeats", lambda values: False)
        assert_series_equal(suspect_rows(rows, model), alone)


def test_values_that_hardly_repeat_are_judged_row_by_row_with_the_same_issues():
    """userIds with one value per user, two of them not a list of {type:identifier}: the
    pre-screen judges the rows, not their distinct values, and the issues are pandera's."""
    height = 30_000
    user_ids = [f"{{SIS:{i}}}" for i in range(height)]
    user_ids[7], user_ids[29_000] = "SIS:7", "{SIS:}{x:1}"
    spec = SPECS_BY_VERSION["1.1"]["users"]
    rows = pl.DataFrame(
        {
            "sourcedId": [f"u{i}" for i in range(height)],
            "enabledUser": ["true"] * height,
            "orgSourcedIds": ["s1"] * height,
            "role": ["student"] * height,
            "username": [f"user{i}" for i in range(height)],
            "userIds": user_ids,
            "givenName": ["Ana"] * height,
            "familyName": ["Silva"] * height,
        }
    ).select(
        *(pl.col(c) if c in ("sourcedId", "enabledUser", "orgSourcedIds", "role", "username",
                             "userIds", "givenName", "familyName") else pl.lit(None, pl.String).alias(c)
          for c in spec.header),
        pl.int_range(2, height + 2, dtype=pl.Int64).alias(LINE),
    )  # fmt: skip
    assert not prescreen._repeats(rows["userIds"])  # (the case this test is about)
    assert prescreen._repeats(rows["orgSourcedIds"])
    assert suspect_rows(rows, MODELS_BY_VERSION["1.1"]["users"]).arg_true().to_list() == [
        7,
        29_000,
    ]
    # (in the order of the lines: the report sorts the issues, pandera's failures come in any)
    issues = model_issues(rows, spec, {}).collect().sort("line")
    assert issues.select("line", "field", "value", "rule").rows() == [
        (9, "userIds", "SIS:7", "user_ids"),
        (29_002, "userIds", "{SIS:}{x:1}", "user_ids"),
    ]


def test_the_lenient_reads_leave_the_distinct_values_of_the_rows_they_return():
    spec = SPECS_BY_VERSION["1.1"]["users"]
    rows = pl.DataFrame(
        {
            "sourcedId": ["u1", "u2", "u3"],
            "enabledUser": ["TRUE", "true", "False"],
            "role": ["Student", "teacher", "student"],
            "status": ["inactive", None, "Active"],
            "dateLastModified": ["2026-01-05", None, "2026-01-05T10:00:00.000Z"],
            "grades": ["09", "KG", "09"],
        }
    ).select(
        *(pl.col(c) if c in ("sourcedId", "enabledUser", "role", "status", "dateLastModified",
                             "grades") else pl.lit(None, pl.String).alias(c)
          for c in spec.header),
        pl.int_range(2, 5, dtype=pl.Int64).alias(LINE),
    )  # fmt: skip
    given_before = {"userIds": pl.Series("userIds", [], pl.String)}  # found by another check
    shared = dict(given_before)
    normalized, found = normalize(rows, spec, shared)
    alone, found_alone = normalize(rows, spec)
    assert_frame_equal(normalized, alone)
    assert_frame_equal(found.collect(), found_alone.collect())
    assert shared["userIds"] is given_before["userIds"]  # (not looked for again)
    for name in judged_columns(spec):
        held = normalized.get_column(name).drop_nulls().unique().sort()
        assert_series_equal(shared[name].sort(), held, check_names=False)
    assert sorted(shared["role"].to_list()) == ["student", "teacher"]  # `Student` rewritten


def test_a_feed_with_every_kind_of_bad_value_gets_the_same_issues_as_before(tmp_path):
    """A district whose files hold recased vocabulary words, values a model rejects and
    repeated sourcedIds: validating shares the distinct values between the lenient reads and
    the pre-screen, and reports each issue on its line as pandera finds it."""
    district = tiny_district()
    for row, column, value in [
        (0, "role", "Student"),
        (1, "role", "pupil"),
        (2, "enabledUser", "TRUE"),
        (3, "enabledUser", "yes"),
    ]:
        district = with_cell(district, "users", row, column, value)
    enrollments = district["enrollments"]
    district["enrollments"] = pl.concat([enrollments, enrollments.head(1)])
    district = with_cell(district, "enrollments", 1, "beginDate", "2026-02-30")
    write_feed(tmp_path / "feed", district)
    issues = validate_feed(open_feed(tmp_path / "feed")).issues
    said = issues.select("file", "line", "field", "value", "rule").rows()
    assert ("users.csv", 2, "role", "Student", "enum.case") in said
    assert ("users.csv", 3, "role", "pupil", "enum") in said
    assert ("users.csv", 4, "enabledUser", "TRUE", "boolean.case") in said
    assert ("users.csv", 5, "enabledUser", "yes", "boolean") in said
    assert ("enrollments.csv", 3, "beginDate", "2026-02-30", "date") in said
    repeated = enrollments["sourcedId"][0]
    last = enrollments.height + 2
    assert ("enrollments.csv", 2, "sourcedId", repeated, "unique") in said
    assert ("enrollments.csv", last, "sourcedId", repeated, "unique") in said
    # the recased words were read as the vocabulary's, and no other issue is about them
    assert not issues.filter(
        pl.col("file") == "users.csv",
        pl.col("value").is_in(["Student", "TRUE"]),
        ~pl.col("rule").str.ends_with(".case"),
    ).height
