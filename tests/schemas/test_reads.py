"""A plan's reads of lms rows as values (`schemas.reads`): the dialogue and its answers."""

from __future__ import annotations

import polars as pl
import pytest

from rosterflow.schemas.reads import (
    CurrentRows,
    IdsOf,
    ManagedActive,
    PointingAt,
    Reads,
    RowsOf,
    answered,
)


class Recorded(CurrentRows):
    """Answers each read with what names it, and keeps the reads in order."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def rows(self, entity, external_ids=None):
        self.asked.append(f"rows {entity}")
        return pl.DataFrame({"entity": [entity]})

    def ids(self, entity, external_ids):
        self.asked.append(f"ids {entity} {external_ids.to_list()}")
        return pl.DataFrame({"external_id": external_ids, "id": range(external_ids.len())})

    def pointing_at(self, entity, field, ids):
        self.asked.append(f"pointing {entity}.{field}")
        return pl.Series("external_id", [f"{entity}-{i}" for i in ids])

    def managed_active(self, entity):
        self.asked.append(f"active {entity}")
        return 7


def asking() -> Reads[tuple]:
    rows = yield RowsOf("user")
    ids = yield IdsOf("domain", pl.Series(["or--a", "or--b"]))
    pointing = yield PointingAt("enrollment", "user_id", pl.Series([1, 2]))
    active = yield ManagedActive("user")
    return rows["entity"][0], ids["id"].to_list(), pointing.to_list(), active


def test_each_read_is_answered_by_the_lookup_it_names_in_the_order_asked():
    current = Recorded()
    assert answered(asking(), current.answer) == (
        "user",
        [0, 1],
        ["enrollment-1", "enrollment-2"],
        7,
    )
    assert current.asked == [
        "rows user",
        "ids domain ['or--a', 'or--b']",
        "pointing enrollment.user_id",
        "active user",
    ]


def test_a_computation_that_reads_nothing_returns_its_result():
    def nothing() -> Reads[int]:
        return 3
        yield  # (a generator that asks for no read)

    assert answered(nothing(), Recorded().answer) == 3


def test_what_is_no_read_is_refused():
    with pytest.raises(TypeError, match="not a read of lms rows"):
        Recorded().answer("select * from lms.users")


def test_an_answer_that_raises_stop_iteration_is_an_error_not_the_end_of_the_plan():
    class Exhausted(Recorded):
        def rows(self, entity, external_ids=None):
            raise StopIteration  # (an iterator run dry inside the answering code, say)

    with pytest.raises(StopIteration):
        answered(asking(), Exhausted().answer)
