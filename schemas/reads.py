"""What a plan asks of the tenant's lms rows while it plans: the reads, as values.

The incremental plan (`transforms.incremental`) reads only the lms rows of the keys it plans,
and it learns those keys as it goes: the enrollments to plan include those pointing at the
users it has just planned to delete. So it cannot be handed its current state whole before it
starts, and it must not read the warehouse itself (transforms are pure functions of frames).
It is written as a generator instead: it yields a read (`RowsOf`, `IdsOf`, `PointingAt`,
`ManagedActive`) and is sent back the frame that answers it. Whoever drives it decides where
the answers come from: `warehouse.state.WarehouseCurrent` reads them from DuckDB, the tests'
`LiteralCurrent` from literal frames (both `CurrentRows`), and `answered` runs the dialogue to
the plan it returns.

An undo making its plan exact (`transforms.undo.made_exact`) asks two reads of its own the same
way (`ExistingIds`, `ManagedRowsPointingAt`), which `warehouse.operations.answer_undo_read`
answers.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl


@dataclass(frozen=True)
class RowsOf:
    """The tenant's lms rows of `entity` (managed and hand-made) whose external ID is one of
    `external_ids`, or all of them when None. Answered with a frame of the entity's schema."""

    entity: str
    external_ids: pl.Series | None = None


@dataclass(frozen=True)
class IdsOf:
    """`external_id` and the entity's id of the tenant's managed rows of `entity` among
    `external_ids`: how a plan resolves a reference to a row it does not plan."""

    entity: str
    external_ids: pl.Series


@dataclass(frozen=True)
class PointingAt:
    """The external IDs of the tenant's managed rows of `entity` whose `field` is one of
    `ids` (the enrollments of a user deleted now, say). Answered with a String series."""

    entity: str
    field: str
    ids: pl.Series


@dataclass(frozen=True)
class ManagedActive:
    """How many of the tenant's managed rows of `entity` are active (the safety guard's base).
    Answered with an int."""

    entity: str


@dataclass(frozen=True)
class ExistingIds:
    """Those of `ids` (ids of lms rows of `entity`) that a row holds now, of any tenant (ids
    are unique across tenants). Answered with an Int64 series."""

    entity: str
    ids: pl.Series


@dataclass(frozen=True)
class ManagedRowsPointingAt:
    """The tenant's managed lms rows of `entity` that point, through any of its references, at
    a row of `deleted` (per entity referenced, ids), but those whose id is `planned`. Answered
    with a frame of the entity's schema, in id order."""

    entity: str
    deleted: Mapping[str, pl.Series]
    planned: pl.Series


Read = RowsOf | IdsOf | PointingAt | ManagedActive | ExistingIds | ManagedRowsPointingAt
# pl.DataFrame for RowsOf, IdsOf and ManagedRowsPointingAt, pl.Series for PointingAt and
# ExistingIds, int for ManagedActive
Answer = Any
T = TypeVar("T")
# a computation that asks for reads as it goes, and returns a T
Reads = Generator[Read, Answer, T]


def answered(reads: Reads[T], answer: Callable[[Read], Answer]) -> T:
    """Run `reads` to its end, answering each read it yields with `answer`; its result."""
    try:
        read = next(reads)
    except StopIteration as done:
        return done.value
    while True:
        answering = answer(read)  # (outside the try: an answer's own StopIteration is an error)
        try:
            read = reads.send(answering)
        except StopIteration as done:
            return done.value


class CurrentRows:
    """The tenant's lms rows, by the four lookups a plan's reads name; `answer` answers a read
    with the one it names."""

    def rows(self, entity: str, external_ids: pl.Series | None = None) -> pl.DataFrame:
        raise NotImplementedError

    def ids(self, entity: str, external_ids: pl.Series) -> pl.DataFrame:
        raise NotImplementedError

    def pointing_at(self, entity: str, field: str, ids: pl.Series) -> pl.Series:
        raise NotImplementedError

    def managed_active(self, entity: str) -> int:
        raise NotImplementedError

    def answer(self, read: Read) -> Answer:
        match read:
            case RowsOf(entity, external_ids):
                return self.rows(entity, external_ids)
            case IdsOf(entity, external_ids):
                return self.ids(entity, external_ids)
            case PointingAt(entity, field, ids):
                return self.pointing_at(entity, field, ids)
            case ManagedActive(entity):
                return self.managed_active(entity)
        raise TypeError(f"not a read of lms rows: {read!r}")
