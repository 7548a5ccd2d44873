import polars as pl
from polars.testing import assert_frame_equal

from transforms.source_state import empty_source, next_source_state, source_write


def orgs(*rows) -> pl.DataFrame:
    """orgs rows (sourcedId, status, name) as a validated table with lines from 2."""
    header = empty_source("orgs").drop("run_id", "line").columns
    frame = pl.DataFrame(
        [{"sourcedId": s, "status": st, "name": n, "type": "school"} for s, st, n in rows],
        schema={c: pl.String for c in header},
    )
    return frame.with_columns((pl.int_range(pl.len()) + 2).cast(pl.Int64).alias("__line"))


def records(state: pl.DataFrame) -> list[tuple]:
    return state.select("sourcedId", "name", "run_id").sort("sourcedId").rows()


PREVIOUS = next_source_state("orgs", None, orgs(("a", None, "A"), ("b", None, "B")), "bulk", 1)


def test_bulk_replaces_and_drops_removals():
    state = next_source_state(
        "orgs", PREVIOUS, orgs(("b", None, "B2"), ("c", "tobedeleted", "C")), "bulk", 2
    )
    assert records(state) == [("b", "B2", 2)]


def test_delta_upserts_and_removes():
    state = next_source_state(
        "orgs", PREVIOUS, orgs(("b", "tobedeleted", None), ("c", "active", "C")), "delta", 2
    )
    assert records(state) == [("a", "A", 1), ("c", "C", 2)]


def test_absent_keeps_the_previous_records():
    assert_frame_equal(next_source_state("orgs", PREVIOUS, None, "absent", 2), PREVIOUS)


def test_writes_skip_absent_files_and_the_same_bulk_file():
    assert source_write(PREVIOUS, "absent", "", "f1") is None
    assert source_write(PREVIOUS, "bulk", "f1", "f1") is None
    assert source_write(PREVIOUS, "bulk", "f2", "f1").fingerprint == "f2"
    after_delta = source_write(PREVIOUS, "delta", "f3", "f1")
    assert after_delta.fingerprint is None and after_delta.rows is PREVIOUS
