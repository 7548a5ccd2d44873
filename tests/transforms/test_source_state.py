import polars as pl
from polars.testing import assert_frame_equal

from rosterflow.schemas.records import ROW_HASH, empty_source, record_changes, with_row_hash
from rosterflow.transforms.source_state import marked_records, next_source_state


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


def test_a_record_a_delta_updates_keeps_its_place_in_file_order_and_a_new_one_comes_last():
    # (a class's first teacher enrollment in file order is its primary teacher when none is
    # marked: a delta that updates an enrollment must not make another teacher first)
    state = next_source_state(
        "orgs", PREVIOUS, orgs(("c", "active", "C"), ("a", "active", "A2")), "delta", 2
    )

    placed = state.select("sourcedId", "name", "run_id", "line").sort("run_id", "line").rows()
    assert placed == [("a", "A2", 1, 2), ("b", "B", 1, 3), ("c", "C", 2, 2)]


def test_the_records_marked_tobedeleted_are_those_a_feed_removes_by_saying_so():
    tables = {
        "orgs": orgs(("a", None, "A"), ("b", "tobedeleted", None), ("c", "active", "C")),
        "users": orgs(("d", "active", "D")).select("sourcedId", "status"),
        "demographics": orgs(("u", "tobedeleted", None)),  # not a synced file
    }

    marked = marked_records(tables)

    assert {name: found.to_list() for name, found in marked.items()} == {
        "orgs": ["b"],
        "users": [],
    }


def test_absent_keeps_the_previous_records():
    assert_frame_equal(next_source_state("orgs", PREVIOUS, None, "absent", 2), PREVIOUS)


def test_records_carry_a_hash_of_their_fields_not_of_their_place():
    first = next_source_state("orgs", None, orgs(("a", None, "A"), ("b", None, "B")), "bulk", 1)
    # the same records later in another order, and one of them edited
    again = next_source_state("orgs", None, orgs(("b", None, "B"), ("a", None, "A")), "bulk", 9)
    edited = next_source_state("orgs", None, orgs(("a", None, "A2")), "bulk", 9)
    hashes = dict(zip(first["sourcedId"], first[ROW_HASH], strict=True))
    assert dict(zip(again["sourcedId"], again[ROW_HASH], strict=True)) == hashes
    assert edited[ROW_HASH][0] != hashes["a"]


def changes_between(before: list[tuple], after: list[tuple]) -> tuple[list, list, list]:
    stored = with_row_hash("orgs", next_source_state("orgs", None, orgs(*before), "bulk", 1))
    current = next_source_state("orgs", None, orgs(*after), "bulk", 2)
    found = record_changes(stored.select("sourcedId", ROW_HASH), current)
    return sorted(found.changed), sorted(found.removed), sorted(found.added)


def test_record_changes_tell_edits_arrivals_and_removals_apart():
    before = [("a", None, "A"), ("b", None, "B"), ("c", None, "C")]
    after = [("c", None, "C"), ("b", None, "B2"), ("d", None, "D")]
    assert changes_between(before, after) == (["b", "d"], ["a"], ["d"])


def test_record_changes_of_the_same_records_reordered_are_none():
    before = [("a", None, "A"), ("b", None, "B")]
    assert changes_between(before, before[::-1]) == ([], [], [])
    assert changes_between([], before) == (["a", "b"], [], ["a", "b"])
    assert changes_between(before, []) == ([], ["a", "b"], [])
