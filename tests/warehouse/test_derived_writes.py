"""A run's derived state (`oneroster.derived`, `write_derived`): a frame the run carried through
as it read it from the warehouse keeps its stored blob and is stamped with the run; any other is
written anew. What a later run and an undo find is the same either way."""

from __future__ import annotations

import io

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rosterflow.flows.operations import undo_run
from rosterflow.warehouse.apply import RunWrites, record_run
from rosterflow.warehouse.records import derived, derived_states
from rosterflow.warehouse.schema import connect
from rosterflow.warehouse.state import lms_checksum
from tests.feeds import tiny_district, with_cell
from tests.recorded import NO_ISSUES, apply_first_run, no_changes, run_record
from tests.states import TENANT
from tests.syncing import Warehouse

GRADES = pl.DataFrame({"sourcedId": ["u-s1", "u-s2"], "grade_level": ["9", "10"]})
ORDER = pl.DataFrame(
    {
        "sourcedId": ["e-t1", "e-t2"],
        "run_id": [1, 1],
        "line": [2, 3],
        "classSourcedId": ["c1", "c1"],
        "userSourcedId": ["u-t1", "u-t2"],
    }
)


def uncompressed(frame: pl.DataFrame) -> bytes:
    """`frame` as a Parquet blob other than the one `write_derived` encodes: a blob kept is
    told from one written anew by its bytes."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="uncompressed")
    return buffer.getvalue()


def stored_blob(con, name: str) -> bytes:
    return con.execute(
        "select records from oneroster.derived where tenant = ? and name = ?", [TENANT, name]
    ).fetchall()[0][0]


def with_stored(con, name: str, frame: pl.DataFrame) -> bytes:
    """`frame` stored as the tenant's derived `name`, in a blob of its own."""
    blob = uncompressed(frame)
    con.execute(
        "update oneroster.derived set records = ?, record_count = ? where tenant = ? and name = ?",
        [blob, frame.height, TENANT, name],
    )
    return blob


def record_derived(
    con, run, derived: dict[str, pl.DataFrame], stored: dict[str, pl.DataFrame]
) -> None:
    """Record `run` as changing nothing but deriving `derived`, having read `stored`."""
    record_run(con, run, NO_ISSUES, RunWrites(no_changes(), derived=derived, stored_derived=stored))


def test_a_frame_carried_through_keeps_its_blob_and_is_stamped_with_the_run(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        apply_first_run(con)
        grades_blob = with_stored(con, "grade_levels", GRADES)
        with_stored(con, "teacher_order", ORDER)
        run = run_record(con, settings_key="settings of the run")
        moved = ORDER.with_columns(pl.col("line") + 1)

        record_derived(
            con,
            run,
            {"grade_levels": GRADES, "teacher_order": moved},
            {"grade_levels": GRADES, "teacher_order": ORDER},
        )

        assert stored_blob(con, "grade_levels") == grades_blob
        assert_frame_equal(derived(con, TENANT, "teacher_order"), moved)
        states = derived_states(con, TENANT)
        checksum = lms_checksum(con, TENANT)
        for name in ("grade_levels", "teacher_order"):
            assert (states[name].run_id, states[name].settings_key, states[name].lms_checksum) == (
                run.run_id,
                "settings of the run",
                checksum,
            )
        assert con.execute(
            "select count(*) from oneroster.derived where tenant = ? and name = 'grade_levels'",
            [TENANT],
        ).fetchall() == [(1,)]


@pytest.mark.parametrize("how", ["another row order", "another column type"])
def test_a_frame_that_differs_from_the_stored_one_only_in_form_is_written_anew(tmp_path, how):
    # the stored frame is what the run derived, to the row order and the column types
    new = {
        "another row order": ORDER.reverse(),
        # equal values, which `DataFrame.equals` alone calls equal
        "another column type": ORDER.with_columns(pl.col("line").cast(pl.Int32)),
    }[how]
    with connect(tmp_path / "w.duckdb") as con:
        apply_first_run(con)
        blob = with_stored(con, "teacher_order", ORDER)

        record_derived(con, run_record(con), {"teacher_order": new}, {"teacher_order": ORDER})

        assert stored_blob(con, "teacher_order") != blob
        assert_frame_equal(derived(con, TENANT, "teacher_order"), new)


def test_a_frame_the_run_read_but_no_longer_stored_is_written(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        apply_first_run(con)
        con.execute("delete from oneroster.derived where name = 'grade_levels'")
        run = run_record(con)

        record_derived(con, run, {"grade_levels": GRADES}, {"grade_levels": GRADES})

        assert_frame_equal(derived(con, TENANT, "grade_levels"), GRADES)
        assert derived_states(con, TENANT)["grade_levels"].run_id == run.run_id


@pytest.mark.slow  # (over 2 s of 2 cores; the tests of write_derived above check the kept frame)
def test_a_resync_that_derives_the_same_keeps_it_and_the_next_run_and_an_undo_find_it_so(
    tmp_path,
):
    """A name changed: the grade levels and the desired courses are those of the last run,
    kept as stored (the teacher order names the run that sent each line: written anew); the
    run after it plans incrementally from them and leaves what a run in full leaves, and an
    undo takes them away as it takes what it wrote."""
    warehouse = Warehouse(tmp_path)
    district = tiny_district()
    warehouse.sync(district)
    kept = ("desired_courses", "grade_levels")

    def blobs() -> dict[str, bytes]:
        rows = warehouse.query("select name, records from oneroster.derived").rows()
        return {name: bytes(blob) for name, blob in rows if name in kept}

    first = blobs()
    renamed = with_cell(district, "users", 0, "givenName", "Renamed")

    again = warehouse.sync(renamed)

    assert again.planning == "incremental", again.planning_note
    assert blobs() == first
    assert warehouse.query("select distinct run_id from oneroster.derived").rows() == [
        (again.run_id,)
    ]
    later = warehouse.sync(with_cell(renamed, "users", 0, "familyName", "Later"))
    assert later.planning == "incremental", later.planning_note
    full = Warehouse(tmp_path / "full")
    (tmp_path / "full").mkdir()
    full.sync(with_cell(renamed, "users", 0, "familyName", "Later"))
    with (
        connect(warehouse.path, read_only=True) as ours,
        connect(full.path, read_only=True) as theirs,
    ):
        for name in (*kept, "teacher_order"):
            # (in any order: a plan in full derives them in another)
            ours_now, theirs_now = (
                derived(con, "district", name).drop("run_id", strict=False).sort(pl.all())
                for con in (ours, theirs)
            )
            assert_frame_equal(ours_now, theirs_now)

    undo_run(warehouse.path, later.run_id)

    assert warehouse.query(
        "select count(*) from oneroster.derived where run_id = ?", [later.run_id]
    ).rows() == [(0,)]
    assert warehouse.sync(with_cell(renamed, "users", 1, "givenName", "Third")).planning == "full"
