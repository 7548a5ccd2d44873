"""The incremental reference check finds exactly what the whole check finds.

A district is validated as a first feed would be: its records become the stored ones (their
row hashes) and the references it holds closed are kept. Then a second feed changes it at
random: records of the referenced files leave or are marked for removal (so that records left
as they were point at nothing), references of some records are pointed elsewhere or at nothing,
other fields are edited, rows are reordered. Validated against the stored records and the
closed references, the second feed must give the issues of validating it whole.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.schemas.csvfile import LINE
from rosterflow.schemas.feed import open_feed
from rosterflow.schemas.issues import ISSUE_SCHEMA
from rosterflow.schemas.records import ROW_HASH
from rosterflow.schemas.references import (
    closed_references,
    date_order_issues,
    range_order_issues,
)
from rosterflow.schemas.validate import validate_feed
from rosterflow.schemas.writer import write_feed
from rosterflow.transforms.source_state import next_source_state
from tests.feeds import tiny_district, with_cell

CHECKED = ("users", "classes", "orgs", "courses", "academicSessions", "enrollments")


def stored_hashes_of(validated) -> dict[str, pl.DataFrame]:
    """The `sourcedId, row_hash` a warehouse stores of a validated (bulk) feed's records."""
    return {
        name: next_source_state(name, None, rows, "bulk", 1).select("sourcedId", ROW_HASH)
        for name, rows in validated.tables.items()
    }


def in_order(issues: pl.DataFrame) -> pl.DataFrame:
    return issues.sort(pl.all())


def validated_both_ways(folder, first_frames, second_frames):
    first = validate_feed(open_feed(write_feed(folder / "first.zip", first_frames)))
    assert first.ok, first.issues
    closed = set(first.closed.iter_rows())
    second = open_feed(write_feed(folder / "second.zip", second_frames))
    incremental = validate_feed(second, None, None, stored_hashes_of(first), (), closed)
    whole = validate_feed(open_feed(folder / "second.zip"))
    return closed, incremental, whole


def test_a_first_feed_holds_its_references_closed(tmp_path):
    first = validate_feed(open_feed(write_feed(tmp_path / "a.zip", tiny_district())))
    closed = set(first.closed.iter_rows())
    assert ("enrollments", "userSourcedId", "users") in closed
    assert ("users", "orgSourcedIds", "orgs") in closed
    assert ("classes", "courseSourcedId", "courses") in closed


def test_a_reference_that_fails_is_not_closed(tmp_path):
    frames = with_cell(tiny_district(), "classes", 2, "status", "tobedeleted")
    validated = validate_feed(open_feed(write_feed(tmp_path / "a.zip", frames)))
    issues = validated.issues.filter(pl.col("rule") == "reference.removed")
    assert issues.height  # an enrollment points at the removed class
    closed = set(validated.closed.iter_rows())
    assert ("enrollments", "classSourcedId", "classes") not in closed
    assert ("enrollments", "userSourcedId", "users") in closed


def test_unchanged_records_pointing_at_a_record_that_went_are_found(tmp_path):
    district = tiny_district()
    users = district["users"]
    gone = users["sourcedId"][-1]  # a student with enrollments that stay as they are
    changed = dict(district, users=users.filter(pl.col("sourcedId") != gone))
    closed, incremental, whole = validated_both_ways(tmp_path, district, changed)
    assert ("enrollments", "userSourcedId", "users") in closed
    missing = incremental.issues.filter(pl.col("rule") == "reference", pl.col("value") == gone)
    assert missing.height > 0
    assert_frame_equal(in_order(incremental.issues), in_order(whole.issues))


def test_closed_references_only_between_bulk_files(tmp_path):
    frames = tiny_district()
    issues = validate_feed(open_feed(write_feed(tmp_path / "a.zip", frames))).issues
    tables = {
        name: frame.with_columns(pl.lit(2, pl.Int64).alias("__line"))
        for name, frame in frames.items()
    }
    modes = {name: "bulk" for name in frames} | {"users": "delta"}
    closed = set(closed_references(issues, tables, modes).iter_rows())
    assert not any("users" in (file, target) for file, _, target in closed)
    assert ("enrollments", "classSourcedId", "classes") in closed


def test_a_date_order_is_checked_between_two_valid_dates_as_dates():
    pairs = [
        ("2026-08-15", "2026-08-14"),  # ends the day before it starts
        ("2026-08-15", "2026-08-15"),
        ("2026-8-5", "2026-12-18"),  # after 2026-12-18 as text
        ("abc", "2026-12-18"),
        ("2026-08-15", "2026-02-30"),  # before 2026-08-15 as text, but no day
        ("2026-08-15", "2026/01/01"),
        (None, "2026-01-01"),
        ("2027-01-01", "2026-12-31"),
    ]
    sessions = pl.DataFrame(
        {
            "startDate": [start for start, _ in pairs],
            "endDate": [end for _, end in pairs],
            LINE: range(2, len(pairs) + 2),
        },
        schema={"startDate": pl.String, "endDate": pl.String, LINE: pl.Int64},
    )
    enrollments = sessions.rename({"startDate": "beginDate"})

    found = pl.concat(
        date_order_issues({"academicSessions": sessions, "enrollments": enrollments})
    ).collect()

    expected = pl.DataFrame(
        [
            (
                file,
                line,
                "endDate",
                end,
                "date.order",
                "warning",
                f"ends before it starts ({start})",
            )
            for file in ("academicSessions.csv", "enrollments.csv")
            for line, start, end in [
                (2, "2026-08-15", "2026-08-14"),
                (9, "2027-01-01", "2026-12-31"),
            ]
        ],
        schema=ISSUE_SCHEMA,
        orient="row",
    )
    assert_frame_equal(found, expected)


def test_a_date_order_is_found_in_a_table_in_chunks_with_one_that_has_none():
    """A run by lines checks the changed lines' chunk, then the stored records' chunks: a chunk
    without a reversed date between two with one is emptied by the filter, and Polars'
    `pl.format` panicked on the column it left (`assertion failed: i < self.len()`)."""
    chunks = [
        [("2026-09-01", "2026-08-01"), ("2026-09-01", "2026-08-02")],
        [("2026-09-01", "2026-10-01"), ("2026-09-01", "2026-10-02")],  # none reversed
        [("2026-09-01", "2026-08-03"), ("2026-09-01", "2026-08-04")],
    ]
    enrollments = pl.concat(
        [
            pl.DataFrame(
                {
                    "beginDate": [begin for begin, _ in rows],
                    "endDate": [end for _, end in rows],
                    LINE: [-1 - 2 * n, -2 - 2 * n],
                },
                schema={"beginDate": pl.String, "endDate": pl.String, LINE: pl.Int64},
            )
            for n, rows in enumerate(chunks)
        ],
        rechunk=False,
    )
    assert enrollments["endDate"].n_chunks() == 3

    found = pl.concat(date_order_issues({"enrollments": enrollments})).collect()

    assert found.select("line", "value", "message").rows() == [
        (line, f"2026-08-0{day}", "ends before it starts (2026-09-01)")
        for line, day in [(-1, 1), (-2, 2), (-5, 3), (-6, 4)]
    ]


@pytest.mark.parametrize("value", ["1e999", "-1e999", "1E+400", "NaN"])
def test_a_range_order_is_judged_between_finite_numbers_alone(value):
    line_items = pl.DataFrame(
        {"resultValueMin": ["0", value], "resultValueMax": [value, "0"], LINE: [2, 3]},
        schema={"resultValueMin": pl.String, "resultValueMax": pl.String, LINE: pl.Int64},
    )

    assert pl.concat(range_order_issues({"lineItems": line_items})).collect().height == 0


def test_a_range_order_is_checked_between_two_numbers_as_numbers():
    pairs = [
        ("10", "5"),  # the highest score below the lowest
        ("0", "10"),
        ("5", "5"),
        ("9", "10"),  # below 9 as text
        ("1e1", "9.5"),
        ("ten", "5"),  # no number: the model's error alone
        ("0", "NaN"),
        (None, "-1"),
        ("-0.5", "-1"),
    ]
    line_items = pl.DataFrame(
        {
            "resultValueMin": [low for low, _ in pairs],
            "resultValueMax": [high for _, high in pairs],
            LINE: range(2, len(pairs) + 2),
        },
        schema={"resultValueMin": pl.String, "resultValueMax": pl.String, LINE: pl.Int64},
    )

    found = pl.concat(range_order_issues({"lineItems": line_items})).collect()

    expected = pl.DataFrame(
        [
            (
                "lineItems.csv",
                line,
                "resultValueMax",
                high,
                "range.order",
                "warning",
                f"below resultValueMin ({low})",
            )
            for line, low, high in [(2, "10", "5"), (6, "1e1", "9.5"), (10, "-0.5", "-1")]
        ],
        schema=ISSUE_SCHEMA,
        orient="row",
    )
    assert_frame_equal(found, expected)
    assert range_order_issues({}) == []


def _edited(frames: dict[str, pl.DataFrame], data) -> dict[str, pl.DataFrame]:
    """Random changes that reach the references: targets leave or are marked for removal,
    references point elsewhere or at nothing, other fields change, rows are reordered."""
    edited = dict(frames)
    for name in data.draw(st.lists(st.sampled_from(CHECKED), max_size=4, unique=True)):
        rows = edited[name]
        if rows.height == 0:
            continue
        picks = data.draw(st.lists(st.integers(0, rows.height - 1), max_size=4, unique=True))
        action = data.draw(st.sampled_from(["drop", "tobedeleted", "repoint", "missing", "edit"]))
        chosen = pl.int_range(pl.len()).is_in(picks)
        if action == "drop":
            rows = rows.filter(~chosen)
        elif action == "tobedeleted":
            rows = rows.with_columns(
                pl.when(chosen).then(pl.lit("tobedeleted")).otherwise("status").alias("status")
            )
        else:
            column = {
                "users": "orgSourcedIds",
                "classes": "courseSourcedId",
                "orgs": "parentSourcedId",
                "courses": "orgSourcedId",
                "academicSessions": "parentSourcedId",
                "enrollments": data.draw(st.sampled_from(["userSourcedId", "classSourcedId"])),
            }[name]
            if action == "edit":
                column = "title" if "title" in rows.columns else "sourcedId"
                value = pl.col(column) + "-2" if column != "sourcedId" else pl.col(column)
            elif action == "missing":
                value = pl.lit("nobody-here")
            else:  # another row's reference, in turn
                value = pl.col(column).shift(1).fill_null(pl.col(column))
            rows = rows.with_columns(
                pl.when(chosen).then(value).otherwise(pl.col(column)).alias(column)
            )
        if data.draw(st.booleans()):
            rows = rows.sample(fraction=1.0, shuffle=True, seed=data.draw(st.integers(0, 99)))
        edited[name] = rows
    return edited


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(students=st.integers(5, 40), seed=st.integers(0, 20), data=st.data())
def test_the_incremental_reference_check_is_the_whole_check(tmp_path_factory, students, seed, data):
    folder = tmp_path_factory.mktemp("references")
    district = generate_feed(students, seed=seed)
    _, incremental, whole = validated_both_ways(folder, district, _edited(district, data))
    assert_frame_equal(in_order(incremental.issues), in_order(whole.issues))
    assert_frame_equal(incremental.closed.sort(pl.all()), whole.closed.sort(pl.all()))


def _stored_orgs() -> pl.DataFrame:
    """tiny_district's orgs as a warehouse stores them after a bulk feed."""
    orgs = tiny_district()["orgs"].with_columns(pl.int_range(2, pl.len() + 2).alias(LINE))
    return next_source_state("orgs", None, orgs, "bulk", 1)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_delta_removing_an_org_stored_orgs_name_as_parent_is_warned(tmp_path, version):
    # s1 and s2 name d1 as their parent in the warehouse alone: no reference check sees them
    stored_orgs = _stored_orgs()
    delta = tiny_district()["orgs"].filter(pl.col("sourcedId") == "d1")
    delta = delta.with_columns(status=pl.lit("tobedeleted"))
    feed = open_feed(
        write_feed(
            tmp_path / "delta.zip", {"orgs": delta}, modes={"orgs": "delta"}, version=version
        )
    )
    known = {"orgs": stored_orgs["sourcedId"]}
    validated = validate_feed(feed, known=known, carried={"orgs": stored_orgs})
    warned = validated.issues.filter(pl.col("rule") == "reference.removed")
    assert warned.select("file", "line", "field", "value", "severity").rows() == [
        ("orgs.csv", 2, "sourcedId", "d1", "warning")
    ]
    assert "2 stored org(s)" in warned["message"][0] and "s1, s2" in warned["message"][0]


def test_an_org_removed_with_the_orgs_naming_it_sent_again_is_not_warned_twice(tmp_path):
    # the delta moves s1 and s2 under the state before it removes d1: nothing left hangs
    stored_orgs = _stored_orgs()
    orgs = tiny_district()["orgs"].filter(pl.col("sourcedId").is_in(["d1", "s1", "s2"]))
    delta = orgs.with_columns(
        status=pl.when(pl.col("sourcedId") == "d1")
        .then(pl.lit("tobedeleted"))
        .otherwise(pl.lit("active")),
        parentSourcedId=pl.when(pl.col("sourcedId") == "d1")
        .then(pl.col("parentSourcedId"))
        .otherwise(pl.lit("st")),
    )
    feed = open_feed(write_feed(tmp_path / "delta.zip", {"orgs": delta}, modes={"orgs": "delta"}))
    validated = validate_feed(
        feed, known={"orgs": stored_orgs["sourcedId"]}, carried={"orgs": stored_orgs}
    )
    assert not validated.issues.filter(pl.col("rule") == "reference.removed").height


def test_a_delta_record_pointing_at_a_stored_record_the_delta_removes_is_warned(tmp_path):
    # Kim (u-s2) is in the warehouse; the delta removes her and sends an enrollment of hers
    district = tiny_district()
    users = district["users"].filter(pl.col("sourcedId") == "u-s2")
    enrollments = district["enrollments"].filter(pl.col("sourcedId") == "e4")
    feed = open_feed(
        write_feed(
            tmp_path / "delta.zip",
            {"users": users.with_columns(status=pl.lit("tobedeleted")), "enrollments": enrollments},
            modes={"users": "delta", "enrollments": "delta"},
        )
    )
    known = {name: district[name]["sourcedId"] for name in ("users", "classes", "orgs")}
    validated = validate_feed(feed, known=known)
    warned = validated.issues.filter(pl.col("rule") == "reference.removed")
    assert warned.select("file", "line", "field", "value", "severity").rows() == [
        ("enrollments.csv", 2, "userSourcedId", "u-s2", "warning")
    ]
    # a stored record the delta leaves alone still resolves the references to it
    kept = validate_feed(
        open_feed(
            write_feed(
                tmp_path / "kept.zip", {"enrollments": enrollments}, modes={"enrollments": "delta"}
            )
        ),
        known=known,
    )
    assert kept.issues.filter(pl.col("rule").str.starts_with("reference")).height == 0
