"""Course titles that differ only in spaces or letter case: `course.title_variants`
(`references.title_variant_issues`), a warning, since base courses are keyed by the exact title."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.references import title_variant_issues
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from tests.feeds import tiny_district, with_cell
from tests.syncing import Warehouse


def _courses(*rows: tuple[str, str | None, str | None]) -> pl.DataFrame:
    """courses.csv rows (sourcedId, title, status), on lines 2, 3, ..."""
    return pl.DataFrame(
        rows, schema=dict.fromkeys(["sourcedId", "title", "status"], pl.String), orient="row"
    ).with_columns(pl.int_range(2, pl.len() + 2).alias(LINE))


def _variants(courses: pl.DataFrame) -> pl.DataFrame:
    found = title_variant_issues({"courses": courses})
    return pl.concat(found).collect().sort("line") if found else pl.DataFrame()


def test_each_spelling_is_warned_naming_the_others():
    courses = _courses(
        ("c1", "Algebra I", None),
        ("c2", "Algebra I ", None),
        ("c3", "algebra  I", "active"),
        ("c4", "Algebra I", None),  # the same spelling: one base course with c1's
        ("c5", "Biology", None),
    )

    found = _variants(courses)

    assert found.select("file", "line", "field", "value", "rule", "severity").rows() == [
        ("courses.csv", 2, "title", "Algebra I", "course.title_variants", "warning"),
        ("courses.csv", 3, "title", "Algebra I ", "course.title_variants", "warning"),
        ("courses.csv", 4, "title", "algebra  I", "course.title_variants", "warning"),
        ("courses.csv", 5, "title", "Algebra I", "course.title_variants", "warning"),
    ]
    assert found["message"][1] == (
        '"Algebra I " differs only in spaces or letter case (or how its accents are stored, '
        'or characters a screen does not show) from "Algebra I" (course c1), "algebra  I" '
        "(course c3): base courses are made per exact title, so each spelling gets district, "
        "state and teacher base courses of its own; spell the title alike in the SIS"
    )


@pytest.mark.parametrize(
    "titles",
    [
        ["Algebra I", "Algebra I", "Algebra II"],  # alike, or differing in more than spaces
        ["Algebra I", None],
        [],
    ],
    ids=["alike", "no-title", "empty"],
)
def test_titles_spelt_one_way_are_not_warned(titles):
    courses = _courses(*((f"c{n}", title, None) for n, title in enumerate(titles)))
    assert _variants(courses).height == 0


def test_a_removed_course_s_title_is_no_variant():
    courses = _courses(("c1", "Algebra I", None), ("c2", "ALGEBRA I", "tobedeleted"))
    assert _variants(courses).height == 0


def test_a_no_break_space_is_a_space():
    courses = _courses(("c1", "Algebra I", None), ("c2", "Algebra\u00a0I", None))
    assert _variants(courses)["value"].to_list() == ["Algebra I", "Algebra\u00a0I"]


def test_a_feed_with_title_variants_is_valid_and_warned(tmp_path):
    district = with_cell(tiny_district(), "courses", 1, "title", "algebra i ")
    validated = validate_feed(open_feed(write_feed(tmp_path / "feed.zip", district)))

    assert validated.ok
    warned = validated.issues.filter(pl.col("rule") == "course.title_variants")
    assert warned.select("line", "value").rows() == [(2, "Algebra I"), (3, "algebra i ")]


def test_a_sync_of_two_schools_spelling_a_title_two_ways_warns_of_both(tmp_path):
    # North High's Algebra I and South High's "Algebra I " give the district two base
    # courses of one visible title: the sync applies as before, and says so
    district = tiny_district()
    district["courses"] = pl.concat(
        [
            district["courses"],
            district["courses"]
            .head(1)
            .with_columns(
                sourcedId=pl.lit("c-alg-south"),
                title=pl.lit("Algebra I "),
                orgSourcedId=pl.lit("s2"),
            ),
        ]
    )
    district["classes"] = district["classes"].with_columns(
        courseSourcedId=pl.when(pl.col("sourcedId") == "k3")
        .then(pl.lit("c-alg-south"))
        .otherwise(pl.col("courseSourcedId"))
    )
    warehouse = Warehouse(tmp_path)

    result = warehouse.sync(district)

    assert result.outcome == "applied", result.issues
    warned = result.issues.filter(pl.col("rule") == "course.title_variants")
    assert warned.select("file", "line", "value").rows() == [
        ("courses.csv", 2, "Algebra I"),
        ("courses.csv", 4, "Algebra I "),
    ]
    district_bases = warehouse.query(
        "select title from lms.courses where tenant = ? and external_id like 'or--obc--d1--%' "
        "order by title",
        [warehouse.tenant],
    )
    # the key is unchanged: two district base courses, which the warning names
    assert district_bases["title"].to_list() == ["Algebra I", "Algebra I "]


def test_a_delta_s_course_is_compared_with_the_stored_courses_it_does_not_send():
    sent = _courses(("c2", "ALGEBRA I", "active"), ("c3", "Biology", "active"))
    stored = pl.DataFrame(
        {"sourcedId": ["c1", "c3", "c4"], "title": ["Algebra I", "biology", "Chemistry"]}
    )

    found = pl.concat(
        title_variant_issues({"courses": sent}, {"courses": "delta"}, {"courses": stored})
    ).collect()

    # c3 is sent anew: its stored spelling is gone, and a stored course has no line to warn on
    assert found.select("line", "value").rows() == [(2, "ALGEBRA I")]
    assert (
        '"ALGEBRA I" differs only in spaces or letter case (or how its accents are stored, or '
        'characters a screen does not show) from "Algebra I" (course c1)' in (found["message"][0])
    )


def test_a_courses_delta_spelling_a_stored_title_otherwise_is_warned_by_the_sync(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.sync(tiny_district())
    south_algebra = (
        tiny_district()["courses"]
        .filter(pl.col("sourcedId") == "c-alg")
        .with_columns(
            sourcedId=pl.lit("c-alg-south"),
            title=pl.lit("Algebra  I"),
            orgSourcedId=pl.lit("s2"),
            status=pl.lit("active"),
            dateLastModified=pl.lit("2027-01-10T08:00:00.000Z"),
        )
    )

    result = warehouse.sync({"courses": south_algebra}, modes={"courses": "delta"}, dry_run=True)

    warned = result.issues.filter(pl.col("rule") == "course.title_variants")
    assert warned.select("file", "line", "value").rows() == [("courses.csv", 2, "Algebra  I")]
    assert 'from "Algebra I" (course c-alg)' in warned["message"][0]
