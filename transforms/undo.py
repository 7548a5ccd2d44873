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

import polars as pl

from rosterflow.schemas.lms import MANAGED_PREFIX, Entity
from rosterflow.transforms.plan import CUR, changes_detail


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
