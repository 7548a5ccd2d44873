"""Undoing a run: the change set that brings every lms row a run changed back to its version
from before that run.

A run's changes name the rows it touched (`audit.changes`); the versions it ended are in
history (`history.<table>_closed` with `closed_run_id` = the run, hand-made rows it adopted
included). Per row: a version before the run and none now -> create it again under its id;
none before and one now (the run created it) -> delete; both -> update the row back, named like
the sync names such changes (reactivate, inactivate, withdraw, move, update). A row that is
hand-made now (its `origin` says so, or its external ID was set by hand to one without the
managed prefix) is never touched, and a row whose external ID another row holds now is not
brought back (that would repeat a managed external ID). A row given back to a version made by
hand (the run adopted it) is that version whole: its external ID (named in the detail) and the
run that wrote it last (`updated_run_id`, most often none) included. The managed rows a later
run made that point at a row the undo deletes are deleted with it (`cascaded_deletes`), as a
sync deletes the enrollments of a user it deletes: an undo leaves nothing pointing at nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from rosterflow.schemas.changes import EntityPlan, Plan
from rosterflow.schemas.lms import ENTITIES, MANAGED_PREFIX, Entity
from rosterflow.schemas.reads import ExistingIds, ManagedRowsPointingAt, Reads
from rosterflow.transforms.plan import CUR, changes_detail, deleted_ids


def _managed_now() -> pl.Expr:
    """Whether a touched row is the sync's to undo: gone from lms, or managed now. A row whose
    external ID was set by hand to one without the managed prefix (an account the district took
    over after the run inactivated it, say) is hand-made, whatever its `origin` says: a sync
    never touches it, and neither does an undo (it would take the account back into the sync)."""
    external_now = pl.col("external_id" + CUR)
    return (~pl.col("is_current") | external_now.str.starts_with(MANAGED_PREFIX)).fill_null(False)


def undo_changes(
    entity: Entity,
    run_id: int,
    touched: pl.DataFrame,
    before: pl.DataFrame,
    current: pl.DataFrame,
    taken: pl.Series,
) -> pl.DataFrame:
    """The changes undoing run `run_id` for one entity: lms columns (the row after the change)
    + action + detail, like a plan's.

    `touched`: `entity_id` of each row the run changed; `before`: the versions the run ended
    (lms columns); `current`: the lms rows now with those ids; `taken`: external IDs that rows
    other than these hold now."""
    key = entity.id
    # the external ID too: undoing an adoption gives the account the one it had by hand
    compared = ("external_id", *entity.owned, "origin")
    others = [c for c in entity.columns if c != key]
    rows = (
        touched.lazy()
        .select(pl.col("entity_id").cast(pl.Int64).alias(key))
        .unique()
        .join(
            before.lazy().with_columns(pl.lit(True).alias("had_before")),
            on=key,
            how="left",
        )
        .join(
            current.lazy().select(
                key,
                *(pl.col(c).alias(c + CUR) for c in others),
                pl.lit(True).alias("is_current"),
            ),
            on=key,
            how="left",
        )
        .with_columns(pl.col("had_before", "is_current").fill_null(False))
        .filter(pl.col("origin" + CUR).ne_missing(pl.lit("manual")) & _managed_now())
    )
    differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(c + CUR)) for c in compared)
    was, now = pl.col("status" + CUR), pl.col("status")
    # a row given back to the hand that made it is an update (its detail names each field,
    # domain_id included): the undo of an adoption, no school move
    moved = (
        pl.col("domain_id").ne_missing(pl.col("domain_id" + CUR)) & (pl.col("origin") != "manual")
        if entity.name == "user"
        else pl.lit(False)
    )
    action = (
        pl.when(pl.col("had_before") & ~pl.col("is_current"))
        .then(pl.when(pl.col("external_id").is_in(taken.implode())).then(None).otherwise(pl.lit("create")))
        .when(~pl.col("had_before") & pl.col("is_current")).then(pl.lit("delete"))
        .when(~pl.col("had_before") | ~differs).then(None)
        .when((was != "active") & (now == "active")).then(pl.lit("reactivate"))
        .when((was == "active") & (now == "inactive")).then(pl.lit("inactivate"))
        .when((was == "active") & (now == "withdrawn")).then(pl.lit("withdraw"))
        .when(moved).then(pl.lit("move"))
        .otherwise(pl.lit("update"))
    )  # fmt: skip
    deleting = pl.col("action") == "delete"
    reason = f"undo of run {run_id}"
    return (
        rows.with_columns(action.alias("action"))
        .filter(pl.col("action").is_not_null())
        .with_columns(
            pl.when(deleting)
            .then(pl.lit(f'{{"reason":"{reason}: the run created it"}}'))
            .when(pl.col("action") == "create")
            .then(pl.lit(f'{{"reason":"{reason}: the run removed it"}}'))
            .otherwise(changes_detail(compared))
            .alias("detail"),
            # the row after the change: the version from before the run; a row deleted keeps
            # its values as they are (history closes that version)
            *(
                pl.when(deleting).then(pl.col(c + CUR)).otherwise(pl.col(c)).alias(c)
                for c in others
                if c != "updated_run_id"
            ),
            # a row given back to the hand that made it is as it was, the run that wrote it
            # last included (none, for most: `warehouse.apply` keeps it); every other row is
            # stamped with the undo's run, as a sync stamps the rows it writes
            pl.when(~deleting & (pl.col("origin") == "manual"))
            .then(pl.col("updated_run_id"))
            .otherwise(None)
            .alias("updated_run_id"),
        )
        .select(*entity.columns, "action", "detail")
        .sort(key)
        .collect()
        .cast(entity.schema)
    )


def points_at(entity: Entity, ids: Mapping[str, pl.Series]) -> pl.Expr:
    """Whether a row of `entity` points, through any of its references, at one of `ids` (per
    entity referenced: the ids of those rows), as a boolean column."""
    conditions = [
        pl.col(ref).is_in(ids[target].implode()).fill_null(False)
        for ref, target in entity.references.items()
        if target in ids and ids[target].len()
    ]
    return pl.any_horizontal(conditions) if conditions else pl.lit(False)


def referenced_ids(entity: Entity, rows: pl.DataFrame) -> dict[str, pl.Series]:
    """Per entity `rows` of `entity` refer to, the ids they name (each once, no null)."""
    named: dict[str, list[pl.Series]] = {}
    for ref, target in entity.references.items():
        named.setdefault(target, []).append(rows.get_column(ref).cast(pl.Int64))
    return {
        target: pl.concat(columns).drop_nulls().unique().sort().alias("id")
        for target, columns in named.items()
    }


def cascaded_deletes(entity: Entity, run_id: int, rows: pl.DataFrame) -> pl.DataFrame:
    """The changes deleting `rows` (lms rows of `entity`) that point at rows the undo of run
    `run_id` deletes: managed rows a later run made or changed (an enrollment of the user the
    run created), which the undo deletes with what they point at, as a sync deletes the
    enrollments of a user it deletes. Like the undo's other deletions, each keeps its values
    as they are (history closes that version)."""
    targets = " or ".join(dict.fromkeys(entity.references.values()))
    reason = f"undo of run {run_id}: the {targets} it points at was deleted"
    return (
        rows.with_columns(
            pl.lit(None, pl.Int64).alias("updated_run_id"),
            pl.lit("delete").alias("action"),
            pl.lit(f'{{"reason":"{reason}"}}').alias("detail"),
        )
        .select(*entity.columns, "action", "detail")
        .cast(entity.schema)
    )


@dataclass(frozen=True)
class MadeExact:
    """An undo's plan made exact (`made_exact`), and what that took: per lms table, the rows
    it deletes with the rows they point at (`cascaded`, made or changed by `later_runs`) and the
    rows it leaves as they are (`left_out`)."""

    plan: Plan
    cascaded: dict[str, int]
    left_out: dict[str, int]
    later_runs: list[int]

    @property
    def note(self) -> str:
        """What it took, for the undo's message (empty when nothing)."""
        note = ""
        if self.cascaded:
            note += f"; deleted with the rows they point at: {rows_of(self.cascaded)}"
        if self.left_out:
            note += "; not brought back, as a row they would point at is gone: " + rows_of(
                self.left_out
            )
        return note


def rows_of(counts: Mapping[str, int]) -> str:
    """`1 row of lms.enrollments, 2 of lms.observers`."""
    return ", ".join(
        f"{count:,} {'row' if count == 1 else 'rows'} of lms.{table}" if i == 0
        else f"{count:,} of lms.{table}"
        for i, (table, count) in enumerate(counts.items())
    )  # fmt: skip


def made_exact(plan: Plan, run_id: int) -> Reads[MadeExact]:
    """The undo of run `run_id`'s `plan` (each row brought back alone) made to leave no managed
    row pointing at a row that does not exist, asking the lms rows it needs as reads
    (`schemas.reads`). Two ways the plan as given would: a row the undo deletes (a user run
    `run_id` created) that managed rows a later run made still point at (its enrollment, made by
    the next run without changing the user), which are deleted with it, as a sync deletes the
    enrollments of a user it deletes; and a row brought back pointing at a row that is gone by
    then (an enrollment the run deleted, of a user a later run deleted), which is left as it is
    now, as a row whose external ID another row holds is. Entities are made exact in dependency
    order, so what each points at is settled first; an entity pointing at itself (a domain under
    a domain, a course built on a course) until its own deletions stop growing. Rows made by
    hand are never touched (the undo warns of them)."""
    exact = Plan(plan.tenant, dict(plan.entities))
    cascaded: dict[str, int] = {}
    left_out: dict[str, int] = {}
    later_runs: set[int] = set()
    for name, entity in ENTITIES.items():
        if not entity.references:
            continue
        targets = dict.fromkeys(entity.references.values())
        changes = exact.entities[name].changes
        kept_as_is = pl.Series(entity.id, [], pl.Int64)
        while True:
            gone = {target: deleted_ids(exact, target) for target in targets}
            writes = changes.filter(pl.col("action") != "delete")
            absent = {}
            for target, ids in referenced_ids(entity, writes).items():
                absent[target] = yield from _absent(exact, target, ids)
            dropped = writes.filter(points_at(entity, absent)).get_column(entity.id)
            if dropped.len():
                changes = changes.filter(~pl.col(entity.id).is_in(dropped.implode()))
                kept_as_is = pl.concat([kept_as_is, dropped])
            pointing = yield ManagedRowsPointingAt(name, gone, changes.get_column(entity.id))
            if pointing.height:
                later_runs.update(pointing.get_column("updated_run_id").drop_nulls())
                changes = pl.concat([changes, cascaded_deletes(entity, run_id, pointing)]).sort(
                    entity.id
                )
                cascaded[entity.table] = cascaded.get(entity.table, 0) + pointing.height
            exact.entities[name] = EntityPlan(entity, changes, 0)
            if name not in targets or not (dropped.len() or pointing.height):
                break
        # (a row not brought back that points at a row deleted now is deleted with it)
        kept_as_is = kept_as_is.filter(~kept_as_is.is_in(changes.get_column(entity.id).implode()))
        if kept_as_is.len():
            left_out[entity.table] = kept_as_is.len()
    return MadeExact(exact, cascaded, left_out, sorted(later_runs))


def _absent(plan: Plan, name: str, ids: pl.Series) -> Reads[pl.Series]:
    """Those of `ids` (of entity `name`) that no row will hold once `plan` is applied: not
    written by it, and deleted by it or not in lms now."""
    written = plan.entities[name].changes.filter(pl.col("action") != "delete")
    outside = ids.filter(~ids.is_in(written.get_column(ENTITIES[name].id).implode()))
    if outside.len() == 0:
        return outside
    staying = yield ExistingIds(name, outside)
    staying = staying.filter(~staying.is_in(deleted_ids(plan, name).implode()))
    return outside.filter(~outside.is_in(staying.implode()))
