"""The teacher rules of docs/reference/feeds.md held against `rosterflow validate`: a teacher
whose enrollment is `inactive` (the OneRoster 1.0 status) left the class, as the page says."""

from __future__ import annotations

import polars as pl

from tests.docs.test_reference_claims import issues, rule_row
from tests.feeds import tiny_district, with_cell


def fired(found: list[dict], rule: str) -> list[tuple[str, str]]:
    return [(issue["file"], issue["value"]) for issue in found if issue["rule"] == rule]


def test_a_class_whose_only_teacher_is_inactive_has_no_teacher_as_the_page_says(tmp_path):
    """k1's one teacher enrollment (e1, on line 2) inactive: class.no_teacher on k1, which the
    page's row ("a class without a teacher") did not tell of."""
    district = with_cell(tiny_district(), "enrollments", 0, "status", "inactive")

    found = issues(tmp_path, district)

    assert fired(found, "class.no_teacher") == [("classes.csv", "k1")]
    severity, fired_by = rule_row("class.no_teacher")
    assert severity == "warning"
    assert "`inactive`" in fired_by and "left" in fired_by
    assert "`inactive`" in rule_row("enrollment.primary")[1]


def test_an_inactive_primary_teacher_is_no_second_primary_as_the_page_says(tmp_path):
    """A second primary teacher of k1 who left (inactive) is no `enrollment.primary`; active,
    the same enrollment is."""
    district = tiny_district()
    left = (
        district["enrollments"]
        .head(1)
        .with_columns(
            pl.lit("e7").alias("sourcedId"),
            pl.lit("u-t2").alias("userSourcedId"),
            pl.lit("inactive").alias("status"),
        )
    )
    district["enrollments"] = pl.concat([district["enrollments"], left])
    active = with_cell(district, "enrollments", 6, "status", None)  # e7 stays

    assert fired(issues(tmp_path / "left", district), "enrollment.primary") == []
    # active, e1 and e7 are two primary teachers of k1: a warning on each
    assert len(fired(issues(tmp_path / "active", active), "enrollment.primary")) == 2
    assert "counts for none" in rule_row("enrollment.primary")[1]
