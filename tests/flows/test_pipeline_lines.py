"""A feed of the last run's lines in another order is recalled without a parse (`schemas.lines`,
`warehouse.runs.recall`), and leaves what the run planned from its parsed records would.

The oracle is the same feed synced on a copy of the warehouse without the recall: planned
incrementally from every parsed record, it must find nothing to change and raise the same
issues, on the same lines; and what the recall leaves must be what the next run, planned
incrementally, builds on as soundly as on the oracle's (that run is held to `--full` too).
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from rosterflow.demo.district import generate_feed
from rosterflow.flows.operations import undo_run
from rosterflow.flows.pipeline import Steps, run_steps
from rosterflow.schemas import feed as feed_module
from rosterflow.schemas.settings import Settings, load_settings
from rosterflow.schemas.writer import write_feed
from rosterflow.warehouse.records import LINE_MARKS, LINE_SUMMARIES, derived
from rosterflow.warehouse.schema import connect
from tests.changes import change
from tests.feeds import feed_files, tiny_district, with_cell, write_zip
from tests.flows.test_pipeline_incremental import assert_same_plan, leaves, run_once

TENANT = "district"
_feeds = itertools.count(1)
NOT_RECALLED = Steps(recall=lambda con, run, lines=None: None)


def sync(warehouse: Path, feed: Path, steps: Steps | None = None, **options):
    config = options.pop("config", Settings())
    return run_steps(steps or Steps(), feed, warehouse, config, TENANT, **options)


def zipped(folder: Path, frames) -> Path:
    return write_feed(folder / f"feed-{next(_feeds)}.zip", frames)


def shuffled(frames, seeds: dict[str, int]) -> dict[str, pl.DataFrame]:
    return {
        name: frame.sample(fraction=1.0, shuffle=True, seed=seeds[name])
        for name, frame in frames.items()
    }


def sorted_issues(result) -> pl.DataFrame:
    return result.issues.sort(pl.all())


def assert_same_leaves(ours: Path, oracle: Path) -> None:
    """The two warehouses hold the same lms, history, changes, records and derived state; the
    teacher order only a run that parsed the enrollments can write (the recall keeps the last
    one, which the next run compares its own order with: kept or derived again, the course
    hierarchy is the same)."""
    ours_left, oracle_left = leaves(ours), leaves(oracle)
    for what, rows in oracle_left.items():
        if what != "teacher_order":
            assert_frame_equal(ours_left[what], rows, check_dtypes=False)


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    students=st.integers(20, 60),
    seed=st.integers(0, 50),
    no_email=st.booleans(),
    data=st.data(),
)
def test_the_same_lines_in_another_order_are_recalled_as_the_parsed_records_plan_them(
    tmp_path_factory, students, seed, no_email, data
):
    folder = tmp_path_factory.mktemp("lines")
    ours, oracle = folder / "ours.duckdb", folder / "oracle.duckdb"
    district = generate_feed(students, seed=seed)
    if no_email:  # a warning on a line, which must move with it
        teachers = district["users"].with_row_index().filter(pl.col("role") == "teacher")
        district = with_cell(district, "users", teachers["index"][0], "email", None)
    assert sync(ours, zipped(folder, district)).outcome == "applied"
    seeds = {name: data.draw(st.integers(0, 10**6), label=name) for name in district}
    reordered = zipped(folder, shuffled(district, seeds))
    shutil.copyfile(ours, oracle)

    recalled = sync(ours, reordered)
    planned = sync(oracle, reordered, NOT_RECALLED)

    assert planned.planning == "incremental" and planned.summary.height == 0
    # recalled unless the order of a class's teachers decides its primary teacher and moved
    assert recalled.planning in ("recalled", "incremental"), recalled.planning_note
    assert_frame_equal(sorted_issues(recalled), sorted_issues(planned))
    assert recalled.summary.height == 0
    assert_same_leaves(ours, oracle)
    # the next run builds on what the recall left as the full run does
    changed, made, _ = change(district, data, data.draw(st.integers(1, 3), label="changes"))
    feed = zipped(folder, changed)
    shutil.copyfile(ours, oracle)
    _, ours_next = run_once(ours, feed, Settings(), full=False)
    _, oracle_next = run_once(oracle, feed, Settings(), full=True)
    assert ours_next.run.planning == "incremental", (ours_next.run.planning_note, made)
    assert_same_plan(ours_next, oracle_next)
    assert_same_leaves(ours, oracle)


def test_a_reordered_feed_is_recalled_without_parsing_a_file(tmp_path, monkeypatch):
    district = generate_feed(30, seed=4)
    sync(tmp_path / "w.duckdb", zipped(tmp_path, district))
    parsed = []
    parse = feed_module._parse_file
    monkeypatch.setattr(
        feed_module, "_parse_file", lambda *args: parsed.append(args[1].name) or parse(*args)
    )

    result = sync(
        tmp_path / "w.duckdb", zipped(tmp_path, {k: v.reverse() for k, v in district.items()})
    )

    assert result.planning == "recalled"
    assert result.planning_note.startswith(
        "the same records as run 1, line for line in another order"
    )
    assert parsed == []


def test_a_warning_is_recorded_on_the_line_its_record_moved_to(tmp_path):
    district = with_cell(tiny_district(), "users", 1, "email", None)  # u-t2, on line 3
    first = sync(tmp_path / "w.duckdb", zipped(tmp_path, district))
    assert first.issues.select("rule", "line").rows() == [("teacher.no_email", 3)]
    reordered = district | {"users": district["users"].reverse()}  # u-t2 on line 5

    again = sync(tmp_path / "w.duckdb", zipped(tmp_path, reordered))
    back = sync(tmp_path / "w.duckdb", zipped(tmp_path, district))

    assert again.planning == back.planning == "recalled"
    assert again.issues.select("rule", "line").rows() == [("teacher.no_email", 5)]
    assert back.issues.select("rule", "line").rows() == [("teacher.no_email", 3)]
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        recorded = con.sql("select run_id, line from audit.issues order by run_id").fetchall()
    assert recorded == [(1, 3), (2, 5), (3, 3)]


def test_teachers_whose_order_decides_a_primary_teacher_are_planned_when_they_move(tmp_path):
    """k1 gets a second teacher and none is marked primary: its first teacher in file order is
    its primary, so a feed that swaps the two is planned (the section moves to the other
    teacher's base course), and one that keeps their order is recalled."""
    district = tiny_district()
    enrollments = district["enrollments"].with_columns(pl.lit("false").alias("primary"))
    second = enrollments.filter(pl.col("sourcedId") == "e5").with_columns(
        pl.lit("e7").alias("sourcedId"), pl.lit("k1").alias("classSourcedId")
    )
    district |= {"enrollments": pl.concat([enrollments, second])}  # e1 (u-t1), then e7 (u-t2)
    sync(tmp_path / "w.duckdb", zipped(tmp_path, district))
    oracle = tmp_path / "oracle.duckdb"
    shutil.copyfile(tmp_path / "w.duckdb", oracle)
    students_first = district["enrollments"].sort("role")  # students, then e1, e3, e5, e7
    swapped = district["enrollments"].reverse()  # e7 before e1

    kept = sync(tmp_path / "w.duckdb", zipped(tmp_path, district | {"enrollments": students_first}))
    moved_feed = zipped(tmp_path, district | {"enrollments": swapped})
    moved = sync(tmp_path / "w.duckdb", moved_feed)
    full = sync(oracle, moved_feed, full=True)

    assert kept.planning == "recalled"
    assert moved.planning == "incremental"
    assert ("course", "update") in set(moved.summary.select("entity", "action").iter_rows())
    assert_frame_equal(moved.summary, full.summary)


@pytest.mark.slow
@pytest.mark.parametrize(
    "why",
    ["hand edit", "same title", "undo", "delta", "unknown file"],
)
def test_a_reordered_feed_is_planned_when_the_last_run_cannot_be_built_on(tmp_path, why):
    district = tiny_district()
    if why == "same title":  # u-t1 teaches k1 and k2, both titled alike: a warning on k2
        district = with_cell(district, "classes", 1, "title", district["classes"]["title"][0])
    warehouse = tmp_path / "w.duckdb"
    first = sync(warehouse, zipped(tmp_path, district))
    assert ("teacher.same_title" in first.issues["rule"]) == (why == "same title")
    if why == "hand edit":
        with connect(warehouse) as con:
            con.execute("update lms.users set email = 'edited@example.org' where user_id = 1")
    if why == "undo":  # lms is as the first run left it, which its lines no longer vouch for
        changed = sync(warehouse, zipped(tmp_path, with_cell(district, "users", 0, "email", None)))
        undo_run(warehouse, changed.run_id)
    reordered = {name: frame.reverse() for name, frame in district.items()}
    modes = {"users": "delta"} if why == "delta" else None
    if why == "delta":
        sync(warehouse, write_feed(tmp_path / "delta.zip", district, modes=modes))

    if why == "unknown file":  # a member the last run's lines cannot account for
        again_feed = write_zip(tmp_path / "again.zip", feed_files(reordered) | {"notes.csv": "x"})
    else:
        again_feed = write_feed(tmp_path / "again.zip", reordered, modes=modes)

    again = sync(warehouse, again_feed)

    assert again.planning != "recalled", again.planning_note
    if why == "unknown file":
        assert again.issues["rule"].to_list() == ["file.unknown"]
    if why == "hand edit":
        assert again.summary.filter(pl.col("action") == "update").height == 1


def test_a_dry_run_of_a_reordered_feed_is_recalled_and_stores_no_lines(tmp_path):
    district = tiny_district()
    warehouse = tmp_path / "w.duckdb"
    sync(warehouse, zipped(tmp_path, district))
    with connect(warehouse, read_only=True) as con:
        before = derived(con, TENANT, LINE_MARKS), derived(con, TENANT, LINE_SUMMARIES)
    reordered = zipped(tmp_path, {name: frame.reverse() for name, frame in district.items()})

    dry = sync(warehouse, reordered, dry_run=True)

    assert (dry.outcome, dry.planning) == ("planned", "recalled")
    with connect(warehouse, read_only=True) as con:
        after = derived(con, TENANT, LINE_MARKS), derived(con, TENANT, LINE_SUMMARIES)
    for was, now in zip(before, after, strict=True):
        assert_frame_equal(was, now)
    assert sync(warehouse, reordered).planning == "recalled"


@pytest.mark.parametrize("same_settings", [True, False])
def test_validate_with_a_warehouse_takes_the_lines_of_its_last_run(
    tmp_path, monkeypatch, same_settings
):
    """`rosterflow validate FEED --warehouse W`: a feed of the lines of the tenant's last
    applied run, in another order, is answered without a parse, with that run's issues on the
    lines they moved to, as validating every record finds them; under other settings it is
    validated record by record."""
    from rosterflow.flows.commands import validate
    from rosterflow.schemas.feed import open_feed
    from rosterflow.schemas.validate import validate_feed
    from rosterflow.warehouse.state import known_ids

    district = with_cell(tiny_district(), "users", 1, "email", None)
    warehouse = tmp_path / "w.duckdb"
    sync(warehouse, zipped(tmp_path, district))
    reordered = zipped(tmp_path, {name: frame.reverse() for name, frame in district.items()})
    config = None
    if not same_settings:
        config = tmp_path / "rosterflow.toml"
        config.write_text('[validation.required]\nusers = ["email"]\n')
    parsed = []
    parse = feed_module._parse_file
    monkeypatch.setattr(
        feed_module, "_parse_file", lambda *args: parsed.append(args[1].name) or parse(*args)
    )

    _, validated = validate(reordered, config, warehouse, TENANT)

    assert (parsed == []) == same_settings
    settings = Settings() if config is None else load_settings(config)
    every_record = validate_feed(open_feed(reordered), settings, known_ids(warehouse, TENANT))
    assert_frame_equal(sorted_issues(validated), sorted_issues(every_record))
    assert validated.issues.height >= 1


def test_a_reordered_feed_keeps_the_plans_warnings_and_validate_leaves_them_out(tmp_path):
    """The generated district assigns content to courses no class is of: the sync warns of
    each (`course_resource.no_org_base`), and a recalled run of the same lines reordered
    warns again, as planning them would; `validate --warehouse`, answering from that run's
    issues, gives validation's alone, as it does for a changed feed."""
    from rosterflow.flows.commands import validate

    district = generate_feed(30, seed=4)
    first = sync(tmp_path / "w.duckdb", zipped(tmp_path, district))
    warned = first.issues.filter(pl.col("rule") == "course_resource.no_org_base")
    assert warned.height > 0
    reordered = zipped(tmp_path, {k: v.reverse() for k, v in district.items()})

    recalled = sync(tmp_path / "w.duckdb", reordered)

    assert recalled.planning == "recalled"
    assert recalled.issues.filter(pl.col("rule") == "course_resource.no_org_base").height == (
        warned.height
    )
    _, validated = validate(reordered, None, tmp_path / "w.duckdb", None)
    assert validated.issues.filter(pl.col("rule") == "course_resource.no_org_base").height == 0
