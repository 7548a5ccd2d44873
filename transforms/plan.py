"""The change set: desired state joined against the tenant's current lms rows.

For each entity, in dependency order (domains, users, courses, enrollments, observers,
resources, class and course resources):

- a desired row with no current managed row is a `create` (it gets a new id);
- a desired row matching a current row by `external_id` is compared on the fields the SIS
  owns: `adopt` if the row was hand-made (its external ID was set by hand to a managed one),
  else `reactivate` / `inactivate` on a status change, `move` when a user's domain changes,
  `update` for any other difference, nothing when equal. A hand edit is thereby reverted;
- a current managed row that is no longer desired gets the configured policy: `delete`, `keep`
  (nothing), `inactivate` or `withdraw`; enrollments and observer links of a deleted user or
  course, and the class and course assignments of a deleted course or resource, are deleted
  with it. Its `detail` says why: the record was marked `tobedeleted` (`marked`), or is no
  longer in the feed, or what it belongs to was deleted;
- rows whose external ID does not start with `or-` are hand-made: never read as missing, never
  changed.

`detail` is JSON naming each changed field with its old and new value.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from rosterflow.schemas.changes import EntityPlan, Plan, PlanError
from rosterflow.schemas.issues import ISSUE_SCHEMA, issues_from
from rosterflow.schemas.lms import CASCADING, ENTITIES, MANAGED_PREFIX, Entity, external_column
from rosterflow.schemas.reads import Reads, RowsOf
from rosterflow.schemas.settings import Policy
from rosterflow.transforms.adoption import LINES_SCHEMA, as_adopted, with_adoption_detail
from rosterflow.transforms.desired import MANAGED

CUR = "__cur"
# the file whose records are an entity's rows one for one (external ID `or--<sourcedId>`): a
# record of it marked tobedeleted removes that row; the other rows (base courses, their
# teachers' enrollments, observer links) are derived from several records
RECORD_FILES = {
    "domain": "orgs",
    "user": "users",
    "course": "classes",
    "enrollment": "enrollments",
    "resource": "resources",
    "class_resource": "classResources",
    "course_resource": "courseResources",
}
REASON_MARKED = "marked tobedeleted"
REASON_GONE = "not in the feed"


def marked_external_ids(marked: Mapping[str, pl.Series]) -> dict[str, pl.Series]:
    """Per entity, the external IDs of its rows that the records `marked` tobedeleted (per
    file, their sourcedIds) remove."""
    return {
        name: (MANAGED + marked[file]).alias("external_id")
        for name, file in RECORD_FILES.items()
        if file in marked and marked[file].len()
    }


# per entity name, `external_id` and the entity's id of tenant's managed lms rows that rows an
# incremental plan plans refer to and it does not plan itself (they stay as they are): read
# for the external IDs `references_outside` names
Outside = Mapping[str, pl.DataFrame]


def references_outside(
    entity: Entity, desired: pl.DataFrame, planned: Mapping[str, pl.DataFrame]
) -> dict[str, pl.Series]:
    """Per entity `desired` rows refer to, the external IDs they name that are not among the
    rows `planned` (nor among `desired` itself, for a reference to its own entity): those an
    incremental plan must find in lms (`Outside`), one read per entity for all the references
    to it (an observer link names two users: one read of lms.users, not two)."""
    named: dict[str, pl.Series] = {}
    for target in dict.fromkeys(entity.references.values()):
        values = [
            desired.get_column(external_column(ref)).drop_nulls()
            for ref, to in entity.references.items()
            if to == target
        ]
        known = (desired if target == entity.name else planned[target]).get_column("external_id")
        unplanned = pl.concat(values).unique()
        unplanned = unplanned.filter(~unplanned.is_in(known.implode()))
        if unplanned.len():
            named[target] = unplanned
    return named


def plan_changes(
    tenant: str,
    desired: dict[str, pl.DataFrame],
    next_ids: Mapping[str, int],
    policy: Policy,
    adopted: pl.DataFrame | None = None,
    marked: Mapping[str, pl.Series] | None = None,
    read: dict[str, pl.DataFrame] | None = None,
) -> Reads[Plan]:
    """The change set that turns the tenant's lms rows (all of them, read per entity:
    `RowsOf`) into `desired`: the full plan, every record of the tenant considered. `adopted`
    holds the accounts made by hand that new records take over (`transforms.adoption`),
    `marked` per entity the external IDs of rows the feed marked tobedeleted
    (`marked_external_ids`), `read` per entity the rows read already (every user, to find
    the accounts to adopt).

    `desired` and `read` are consumed: each entity's frames are released once planned, and
    the current rows are read one entity at a time, so a state's millions of enrollments are
    held once.
    """
    plan = Plan(tenant)
    planned: dict[str, pl.DataFrame] = {}
    deleted: dict[str, pl.Series] = {}
    read = read if read is not None else {}
    for name, entity in ENTITIES.items():
        rows, active = (read.pop(name) if name in read else (yield RowsOf(name))), None
        if name == "user" and adopted is not None and adopted.height:
            # the guard's base is the managed rows before the run, not the accounts it adopts
            active = _managed_active(rows)
            rows = as_adopted(rows, adopted)
        entity_plan, ids = plan_entity(
            entity,
            tenant,
            desired.pop(name),
            rows,
            planned,
            next_ids[name],
            getattr(policy, entity.table),
            deleted,
            managed_active=active,
            marked=(marked or {}).get(name),
        )
        del rows
        if name == "user" and adopted is not None:
            entity_plan.changes = with_adoption_detail(entity_plan.changes, adopted)
        plan.entities[name] = entity_plan
        if name in REFERENCED:  # nothing refers to enrollments, links or assignments
            planned[name] = ids
        deleted[name] = entity_plan.changes.filter(pl.col("action") == "delete")[entity.id]
    return plan


REFERENCED = {target for e in ENTITIES.values() for target in e.references.values()}


def _managed_active(rows: pl.DataFrame) -> int:
    managed = pl.col("external_id").str.starts_with(MANAGED_PREFIX)
    return rows.select((managed & (pl.col("status") == "active")).sum()).item()


def _cascade(entity: Entity, current: pl.DataFrame, deleted: Mapping[str, pl.Series]) -> pl.Series:
    """Ids of managed rows that point at a user, course or resource this run deletes. Those the
    SIS no longer states go with it; those it still states are re-pointed by their update."""
    conditions = [
        pl.col(ref).is_in(deleted[target].implode())
        for ref, target in entity.references.items()
        if target in CASCADING and target != entity.name and target in deleted
    ]
    if not conditions or not any(deleted[t].len() for t in CASCADING if t in deleted):
        return pl.Series(entity.id, [], pl.Int64)
    return current.filter(
        pl.col("external_id").str.starts_with(MANAGED_PREFIX) & pl.any_horizontal(conditions)
    )[entity.id]


def plan_entity(
    entity: Entity,
    tenant: str,
    desired: pl.DataFrame,
    current: pl.DataFrame,
    planned: Mapping[str, pl.DataFrame],
    next_id: int,
    policy: str,
    deleted: Mapping[str, pl.Series],
    *,
    outside: Outside | None = None,
    managed_active: int | None = None,
    marked: pl.Series | None = None,
) -> tuple[EntityPlan, pl.DataFrame]:
    """One full join of desired and current managed rows on external_id decides every row:
    desired only -> create, both -> compare, current only -> the policy (the reason, in its
    detail: the external IDs `marked` were marked tobedeleted, the others are not in the feed).

    The full plan passes every desired and current row. An incremental plan passes only the
    rows of the external IDs that may change (and every current row that points at a user or
    course it deletes), with `outside` to look up the ids of rows it leaves alone and the
    tenant's count of active managed rows. `planned` holds, per entity planned before, the id
    of each external ID it planned (null where the row is deleted). Returns the plan and this
    entity's ids in the same form.

    With no current row (a first load, or only new records), every desired row is a create:
    those are built directly (`_plan_creates`), the same plan the join gives."""
    if current.height == 0:
        return _plan_creates(entity, tenant, desired, planned, next_id, outside, managed_active)
    return _plan_joined(
        entity,
        tenant,
        desired,
        current,
        planned,
        next_id,
        policy,
        deleted,
        outside=outside,
        managed_active=managed_active,
        marked=marked,
    )


def _plan_joined(
    entity: Entity,
    tenant: str,
    desired: pl.DataFrame,
    current: pl.DataFrame,
    planned: Mapping[str, pl.DataFrame],
    next_id: int,
    policy: str,
    deleted: Mapping[str, pl.Series],
    *,
    outside: Outside | None = None,
    managed_active: int | None = None,
    marked: pl.Series | None = None,
) -> tuple[EntityPlan, pl.DataFrame]:
    """`plan_entity` by the full join: any desired and current rows."""
    cascade = _cascade(entity, current, deleted)
    managed = current.lazy().filter(pl.col("external_id").str.starts_with(MANAGED_PREFIX))
    managed_rows, active_rows, distinct_hashes = (
        managed.select(
            pl.len(), (pl.col("status") == "active").sum(), pl.col("external_id").hash().n_unique()
        )
        .collect()
        .row(0)
    )
    if distinct_hashes < managed_rows:  # a repeated external ID (or two sharing a hash)
        _refuse_duplicates(entity, managed)
    # references to other entities become ids before the join (the long external-ID columns
    # go); references to this entity's own rows wait for the ids the join assigns
    to_itself = {r: t for r, t in entity.references.items() if t == entity.name}
    resolved = _with_other_ids(entity, desired, planned, outside)
    deletes = pl.col("in_current") & ~pl.col("in_desired")
    deletes = deletes & (pl.col("is_cascaded") | pl.lit(policy == "delete"))
    joined = (
        resolved.with_columns(pl.lit(True).alias("in_desired"))
        .join(
            managed.select(
                "external_id",
                entity.id,
                *(pl.col(f).alias(f + CUR) for f in entity.owned),
                pl.col("origin").alias("origin" + CUR),
                pl.lit(True).alias("in_current"),
            ),
            on="external_id",
            how="full",
            coalesce=True,
        )
        .with_columns(pl.col("in_desired", "in_current").fill_null(False))
        .with_columns(
            pl.col("in_desired").and_(~pl.col("in_current")).alias("is_new"),
            (
                pl.col(entity.id).is_in(cascade.implode()).fill_null(False) & ~pl.col("in_desired")
            ).alias("is_cascaded"),
        )
        .with_columns(
            pl.coalesce(entity.id, _new_ids(next_id, pl.col("is_new"))).alias(entity.id),
            deletes.alias("is_deleted"),
        )
        .collect()
    )
    del desired, current  # the joined frame holds what is needed of both
    # every row of a full join is on a side; a row this run deletes is nobody's target any
    # more: what still names it is re-pointed now, not by the next run
    ids = joined.select(
        "external_id", pl.when(~pl.col("is_deleted")).then(pl.col(entity.id)).alias(entity.id)
    )
    stated = joined.lazy().filter("in_desired")
    for ref, target in to_itself.items():
        stated = _resolve(stated, ids, ref, target, outside)
    # one lazy query per entity: only rows that change are ever materialized in full
    changes = pl.concat(
        [
            _stated_changes(entity, tenant, stated),
            _departed_changes(entity, tenant, joined.lazy().filter("in_current"), policy, marked),
        ],
        how="vertical",
    ).collect()
    active = active_rows if managed_active is None else managed_active
    return EntityPlan(entity, changes, active), ids


def _new_ids(next_id: int, is_new: pl.Expr | None = None) -> pl.Expr:
    """New rows take the next free ids in external-ID order: the same records get the same ids
    whatever the order of the feed (and of the joins)."""
    ranked = pl.col("external_id") if is_new is None else pl.when(is_new).then("external_id")
    return next_id - 1 + ranked.rank("ordinal").cast(pl.Int64)


def _plan_creates(
    entity: Entity,
    tenant: str,
    desired: pl.DataFrame,
    planned: Mapping[str, pl.DataFrame],
    next_id: int,
    outside: Outside | None,
    managed_active: int | None,
) -> tuple[EntityPlan, pl.DataFrame]:
    """`plan_entity` when no current row is given: every desired row is a create. The same
    plan the join gives (ids, references, actions, detail), without building the join's
    current-side columns, comparing every field or writing a detail that creates never keep."""
    resolved = _with_other_ids(entity, desired, planned, outside)
    stated = resolved.with_columns(_new_ids(next_id).alias(entity.id)).collect()
    del desired
    ids = stated.select("external_id", entity.id)
    created = stated.lazy()
    for ref, target in entity.references.items():
        if target == entity.name:
            created = _resolve(created, ids, ref, target, outside)
    # as _stated_changes writes a create: the run's tenant and origin, no detail
    given = {
        "tenant": pl.lit(tenant),
        "origin": pl.lit("sync"),
        "updated_run_id": pl.lit(None, pl.Int64),
    }
    changes = created.select(
        *(given[c].alias(c) if c in given else pl.col(c) for c in entity.columns),
        pl.lit("create").alias("action"),
        pl.lit(None, pl.String).alias("detail"),
    ).collect()
    active = 0 if managed_active is None else managed_active
    return EntityPlan(entity, changes, active), ids


def _refuse_duplicates(entity: Entity, managed: pl.LazyFrame) -> None:
    """A managed external ID on two rows (a hand edit) leaves no way to tell which of them is
    the SIS's record: refuse, rather than guess, before anything refers to either row."""
    repeated = (
        managed.filter(pl.col("external_id").is_duplicated())
        .select(pl.col("external_id").unique().sort())
        .collect()
        .to_series()
    )
    if repeated.len():
        raise PlanError(
            f"lms.{entity.table} has {repeated.len():,} managed external ID(s) on more than one "
            f"row (e.g. {repeated[0]!r}); give all but one a hand-made external ID, then sync "
            "again"
        )


def _with_other_ids(
    entity: Entity,
    desired: pl.DataFrame,
    planned: Mapping[str, pl.DataFrame],
    outside: Outside | None,
) -> pl.LazyFrame:
    """`desired` with each reference to another entity set to the id of the row it names
    (`_resolve`): among the rows `planned`, else among those found `outside` the plan."""
    to_others = {r: t for r, t in entity.references.items() if t != entity.name}
    resolved = desired.lazy()
    for ref, target in to_others.items():
        resolved = _resolve(resolved, planned[target], ref, target, outside).drop(
            external_column(ref)
        )
    return resolved


def _resolve(
    rows: pl.LazyFrame, ids: pl.DataFrame, ref: str, target: str, outside: Outside | None
) -> pl.LazyFrame:
    """`rows` with `ref` set to the id of the row its external-ID column names (null if none).

    `ids` has two columns, `external_id` and the referenced entity's id, for the rows planned
    (the id null where the row is deleted); its external IDs are unique (see
    _refuse_duplicates). An external ID it lacks is taken from the rows found `outside` the
    plan, if given (they may hold more than the references need: only those it lacks count)."""
    external_ids, id_values = ids.get_columns()
    lookup = pl.DataFrame({external_column(ref): external_ids, ref: id_values.cast(pl.Int64)})
    if outside is not None and target in outside:
        found_ids, found_values = outside[target].get_columns()
        found = pl.DataFrame({external_column(ref): found_ids, ref: found_values.cast(pl.Int64)})
        lookup = pl.concat([lookup, found.join(lookup, on=external_column(ref), how="anti")])
    return rows.join(lookup.lazy(), on=external_column(ref), how="left")


def _changed(field_: str) -> pl.Expr:
    return pl.col(field_).ne_missing(pl.col(field_ + CUR))


def changes_detail(fields: tuple[str, ...]) -> pl.Expr:
    """JSON of the changed fields: {"email": {"from": "a@x", "to": "b@x"}, ...}."""
    parts = [
        pl.when(_changed(f)).then(
            pl.concat_str(
                pl.lit(f'"{f}":'),
                pl.struct(
                    pl.col(f + CUR).alias("from"), pl.col(f).alias("to")
                ).struct.json_encode(),
            )
        )
        for f in fields
    ]
    return pl.concat_str(
        pl.lit("{"), pl.concat_str(parts, separator=",", ignore_nulls=True), pl.lit("}")
    )


def _stated_changes(entity: Entity, tenant: str, stated: pl.LazyFrame) -> pl.LazyFrame:
    """Changes to rows the SIS states: create, adopt, reactivate, inactivate, move, update."""
    status, was = pl.col("status"), pl.col("status" + CUR)
    any_change = pl.any_horizontal(_changed(f) for f in entity.owned)
    moved = _changed("domain_id") if entity.name == "user" else pl.lit(False)
    action = (
        pl.when("is_new").then(pl.lit("create"))
        .when(pl.col("origin" + CUR) == "manual").then(pl.lit("adopt"))
        .when((was != "active") & (status == "active")).then(pl.lit("reactivate"))
        .when((was == "active") & (status == "inactive")).then(pl.lit("inactivate"))
        .when(moved).then(pl.lit("move"))
        .when(any_change).then(pl.lit("update"))
    )  # fmt: skip
    changed = stated.with_columns(action.alias("action")).filter(pl.col("action").is_not_null())
    return changed.select(
        pl.col(entity.id),
        pl.lit(tenant).alias("tenant"),
        "external_id",
        *(pl.col(f) for f in entity.schema if f in entity.owned and f != "status"),
        "status",
        pl.lit("sync").alias("origin"),
        pl.lit(None, pl.Int64).alias("updated_run_id"),
        "action",
        pl.when(pl.col("action") == "create")
        .then(pl.lit(None, pl.String))
        .otherwise(changes_detail(entity.owned))
        .alias("detail"),
    ).select(*entity.columns, "action", "detail")


def _belongs_to(entity: Entity) -> str:
    if "resource" in entity.references.values():
        return "a course or resource"
    return "a user or course"


def _departed_changes(
    entity: Entity,
    tenant: str,
    current: pl.LazyFrame,
    policy: str,
    marked: pl.Series | None = None,
) -> pl.LazyFrame:
    """The policy applied to managed rows the SIS no longer states, and cascaded deletes.

    `current` is the joined frame's rows that exist in lms (their values in the `__cur`
    columns); `marked` the external IDs of rows whose records the feed marked tobedeleted,
    the others' records being no longer in the feed."""
    reason = pl.lit(REASON_GONE)
    if marked is not None and marked.len():
        reason = (
            pl.when(pl.col("external_id").is_in(marked.implode()))
            .then(pl.lit(REASON_MARKED))
            .otherwise(reason)
        )
    affected = current.filter(~pl.col("in_desired"))
    active = pl.col("status") == "active"
    action = (
        pl.when("is_cascaded").then(pl.lit("delete"))
        .when(pl.lit(policy == "delete")).then(pl.lit("delete"))
        .when(pl.lit(policy == "inactivate") & active).then(pl.lit("inactivate"))
        .when(pl.lit(policy == "withdraw") & active).then(pl.lit("withdraw"))
    )  # fmt: skip
    new_status = {"inactivate": "inactive", "withdraw": "withdrawn"}
    return (
        affected.select(
            entity.id,
            "external_id",
            "is_cascaded",
            *(pl.col(f + CUR).alias(f) for f in entity.owned),
            pl.col("origin" + CUR).alias("origin"),
        )
        .with_columns(action.alias("action"))
        .filter(pl.col("action").is_not_null())
        .with_columns(
            pl.col("action")
            .replace_strict(new_status, default=None)
            .fill_null(pl.col("status"))
            .alias("status"),
            pl.col("status").alias("status" + CUR),
            pl.lit(tenant).alias("tenant"),
        )
        .with_columns(
            pl.when("is_cascaded")
            .then(pl.lit(f'{{"reason":"{_belongs_to(entity)} it belongs to was deleted"}}'))
            .when(pl.col("action") == "delete")
            .then(pl.concat_str(pl.lit('{"reason":"'), reason, pl.lit('"}')))
            .otherwise(
                pl.concat_str(
                    pl.lit('{"status":{"from":"'),
                    pl.col("status" + CUR),
                    pl.lit('","to":"'),
                    pl.col("status"),
                    pl.lit('"},"reason":"'),
                    reason,
                    pl.lit('"}'),
                )
            )
            .alias("detail"),
            pl.lit(None, pl.Int64).alias("updated_run_id"),
        )
        .select(*entity.columns, "action", "detail")
    )


def renumber_new_ids(
    plan: Plan, planned_from: Mapping[str, int], free_now: Mapping[str, int]
) -> Plan:
    """`plan` with the ids of the rows it creates moved up to start at `free_now`, when rows
    another tenant created since took the ids it planned from (`planned_from`): every id column
    and reference at or above the first id planned moves by the same amount, so new ids stay
    consecutive and references to new rows stay right. Ids of existing rows are all below it."""
    shifts = {
        name: max(0, free_now[name] - planned_from[name]) for name in ENTITIES if name in free_now
    }
    renumbered = Plan(plan.tenant)
    for name, entity_plan in plan.entities.items():
        entity = entity_plan.entity
        targets = {entity.id: name} | dict(entity.references)
        moved = [
            pl.when(pl.col(column) >= planned_from[target])
            .then(pl.col(column) + shifts[target])
            .otherwise(pl.col(column))
            .alias(column)
            for column, target in targets.items()
            if shifts.get(target)
        ]
        changes = entity_plan.changes.with_columns(moved) if moved else entity_plan.changes
        renumbered.entities[name] = EntityPlan(entity, changes, entity_plan.managed_active)
    return renumbered


def deleted_ids(plan: Plan, name: str) -> pl.Series:
    """The ids of the rows of entity `name` (`user_id`, ...) that `plan` deletes: none when it
    plans no such entity."""
    entity_plan = plan.entities.get(name)
    if entity_plan is None:
        return pl.Series(ENTITIES[name].id, [], pl.Int64)
    return entity_plan.changes.filter(pl.col("action") == "delete").get_column(
        entity_plan.entity.id
    )


def _counted(column: str, one: str, many: str) -> pl.Expr:
    """`1 enrollment`, `3 enrollments`; nothing for none."""
    count = pl.col(column)
    return pl.when(count > 0).then(
        pl.format("{} {}", count, pl.when(count == 1).then(pl.lit(one)).otherwise(pl.lit(many)))
    )


def _pointing(*counts: tuple[str, str, str]) -> pl.Expr:
    """`1 enrollment, 2 line items`: each (column, one, many) of `counts` that is not none,
    as the column `pointing`."""
    return pl.concat_str(
        [_counted(*count) for count in counts], separator=", ", ignore_nulls=True
    ).alias("pointing")


def _deleted_under_hand_made(
    plan: Plan,
    entity: str,
    references: pl.DataFrame,
    lines: pl.LazyFrame | None,
    *kinds: tuple[str, str, str],
) -> pl.LazyFrame:
    """The rows of `entity` `plan` deletes that rows made by hand point at (`references`: per
    id, how many of each of `kinds`), with `sourcedId`, `pointing` (what points at it, said)
    and `__line`: its record's line among `lines` (a record marked tobedeleted has one, a
    record gone from the feed none)."""
    id_column = ENTITIES[entity].id
    deleted = plan.entities[entity].changes.lazy().filter(pl.col("action") == "delete")
    sent = pl.LazyFrame(schema=LINES_SCHEMA) if lines is None else lines
    return (
        deleted.select(id_column, "external_id")
        .join(references.lazy(), on=id_column)
        .join(sent, on="external_id", how="left")
        .with_columns(
            pl.col("external_id").str.strip_prefix(MANAGED).alias("sourcedId"),
            _pointing(*kinds),
            pl.col("line").alias("__line"),
        )
        .sort(id_column)
    )


def left_behind_issues(
    plan: Plan, references: pl.DataFrame, lines: pl.LazyFrame | None = None, advice: bool = True
) -> pl.DataFrame:
    """A warning per user `plan` deletes that rows made by hand still point at (`references`:
    `user_id, enrollments, observers, scores`, as `warehouse.state.hand_made_references`
    counts them): the plan never touches a row made by hand, so they are left pointing at no
    user. Each stands on the user's record's line among `lines` (`external_id, line`: a record
    marked tobedeleted has one, a record gone from the feed none). With `advice`, it says which
    `[policy]` keeps such users (and `course_left_behind_issues`, `left_in_deleted_domains`
    such courses and domains): not an undo's, which deletes what its run created whatever the
    policy."""
    if references.height == 0:
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    left = _deleted_under_hand_made(
        plan,
        "user",
        references,
        lines,
        ("enrollments", "enrollment", "enrollments"),
        ("observers", "observer link", "observer links"),
        ("scores", "score", "scores"),
    )
    return issues_from(
        left,
        file="users.csv",
        field="sourcedId",
        value=pl.col("sourcedId"),
        rule="user.delete_leaves_hand_made",
        severity="warning",
        message=pl.format(
            "user {} ({}) is deleted, but rows made by hand still point at it: {}; they are "
            "left as they are (delete them by hand"
            + (', or keep such users with [policy] users = "inactivate"' if advice else "")
            + ")",
            "user_id",
            "sourcedId",
            "pointing",
        ),
    ).collect()


def course_left_behind_issues(
    plan: Plan,
    references: pl.DataFrame,
    lines: pl.LazyFrame | None = None,
    advice: bool = True,
) -> pl.DataFrame:
    """A warning per course `plan` deletes that rows made by hand still point at
    (`references`: `course_id, enrollments, courses, assignments, line_items`, as
    `warehouse.state.hand_made_course_references` counts them): the plan never touches a row
    made by hand, so they are left pointing at no course. A section stands on its class's
    record in classes.csv, on its line among `lines` (`external_id, line` of the run's
    classes, as `transforms.adoption.sent_lines` gives them: a class marked tobedeleted has
    one, a class gone from the feed none); a base course on courses.csv, on no line (it is
    derived from a course's title: no record of the feed is its)."""
    if references.height == 0:
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    courses = plan.entities["course"].changes.lazy().filter(pl.col("action") == "delete")
    sent = pl.LazyFrame(schema=LINES_SCHEMA) if lines is None else lines
    sections = pl.col("kind") == "section"
    left = (
        courses.select("course_id", "external_id", "kind")
        .join(references.lazy(), on="course_id")
        .join(sent, on="external_id", how="left")
        .with_columns(
            pl.col("external_id").str.strip_prefix(MANAGED).alias("key"),
            _pointing(
                ("enrollments", "enrollment", "enrollments"),
                ("courses", "course built on it", "courses built on it"),
                ("assignments", "resource assignment", "resource assignments"),
                ("line_items", "line item", "line items"),
            ),
            # a base course's external ID is none of a class's: it never takes a class's line
            pl.when(sections).then(pl.col("line")).alias("__line"),
        )
        .sort("course_id")
    )
    message = pl.format(
        "course {} ({}) is deleted, but rows made by hand still point at it: {}; they are "
        "left as they are (delete them by hand"
        + (', or keep such courses with [policy] courses = "keep"' if advice else "")
        + ")",
        "course_id",
        "key",
        "pointing",
    )
    return pl.concat(
        [
            issues_from(
                left.filter(sections),
                file="classes.csv",
                field="sourcedId",
                value=pl.col("key"),
                rule="course.delete_leaves_hand_made",
                severity="warning",
                message=message,
            ),
            issues_from(
                left.filter(~sections),
                file="courses.csv",
                field=None,
                value=pl.col("key"),
                rule="course.delete_leaves_hand_made",
                severity="warning",
                message=message,
            ),
        ]
    ).collect()


def resource_left_behind_issues(
    plan: Plan,
    references: pl.DataFrame,
    lines: pl.LazyFrame | None = None,
    advice: bool = True,
) -> pl.DataFrame:
    """A warning per resource `plan` deletes that content assignments made by hand still
    point at (`references`: `resource_id, class_assignments, course_assignments`, as
    `warehouse.state.hand_made_resource_references` counts them): the plan never touches a
    row made by hand, so they are left pointing at no resource, where the managed assignments
    go with it. Each stands on the resource's record's line among `lines` (`external_id,
    line` of the run's resources, as `transforms.adoption.sent_lines` gives them: a record
    marked tobedeleted has one, a record gone from the feed none). With `advice`, it says
    which `[policy]` keeps such resources: not an undo's, which deletes what its run created
    whatever the policy."""
    if references.height == 0:
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    left = _deleted_under_hand_made(
        plan,
        "resource",
        references,
        lines,
        ("class_assignments", "class assignment", "class assignments"),
        ("course_assignments", "course assignment", "course assignments"),
    )
    return issues_from(
        left,
        file="resources.csv",
        field="sourcedId",
        value=pl.col("sourcedId"),
        rule="resource.delete_leaves_hand_made",
        severity="warning",
        message=pl.format(
            "resource {} ({}) is deleted, but content assignments made by hand still point at "
            "it: {}; they are left as they are, showing no content (delete them by hand"
            + (', or keep such resources with [policy] resources = "inactivate"' if advice else "")
            + ")",
            "resource_id",
            "sourcedId",
            "pointing",
        ),
    ).collect()


# the column of each entity that places its row in a domain
_DOMAIN_COLUMNS = {"user": "domain_id", "course": "domain_id", "domain": "parent_domain_id"}


def left_in_deleted_domains(
    plan: Plan,
    rows: pl.DataFrame,
    lines: pl.LazyFrame | None = None,
    advice: bool = True,
) -> pl.DataFrame:
    """A warning per domain `plan` deletes that rows will still belong to once it is applied
    (`rows`: `entity, id, domain_id` of the tenant's users, courses and child domains in the
    deleted domains before the plan, as `warehouse.state.rows_in_domains` reads them), those
    the plan neither deletes nor puts in another domain: users and courses that left the SIS
    and are inactivated or kept as `[policy]` says, rows made by hand. They are left pointing
    at no domain; `[policy] domains = "inactivate"` keeps such domains. Each stands on its
    org's line among `lines` (`external_id, line` of the run's orgs, as `transforms.adoption.
    sent_lines` gives them: an org marked tobedeleted has one, an org gone from the feed
    none)."""
    if rows.height == 0:
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    gone_domains = (
        plan.entities["domain"]
        .changes.filter(pl.col("action") == "delete")
        .select("domain_id", "external_id")
    )
    deleted = gone_domains["domain_id"]
    moved_or_gone = pl.concat(
        [
            plan.entities[name]
            .changes.lazy()
            .filter(
                (pl.col("action") == "delete")
                | ~pl.col(column).is_in(deleted.implode()).fill_null(False)
            )
            .select(pl.lit(name).alias("entity"), pl.col(ENTITIES[name].id).alias("id"))
            for name, column in _DOMAIN_COLUMNS.items()
            if name in plan.entities
        ]
    )
    staying = rows.lazy().join(moved_or_gone, on=["entity", "id"], how="anti")
    counted = (
        staying.group_by("domain_id")
        .agg((pl.col("entity") == name).sum().alias(name) for name in ("user", "course", "domain"))
        .join(gone_domains.lazy(), on="domain_id")
        .join(
            pl.LazyFrame(schema=LINES_SCHEMA) if lines is None else lines,
            on="external_id",
            how="left",
        )
        .with_columns(
            pl.col("external_id").str.strip_prefix(MANAGED).alias("sourcedId"),
            _pointing(
                ("user", "user", "users"),
                ("course", "course", "courses"),
                ("domain", "domain under it", "domains under it"),
            ),
            pl.col("line").alias("__line"),
        )
        .sort("domain_id")
    )
    return issues_from(
        counted,
        file="orgs.csv",
        field="sourcedId",
        value=pl.col("sourcedId"),
        rule="domain.delete_leaves_rows",
        severity="warning",
        message=pl.format(
            "domain {} ({}) is deleted with rows still in it: {} (left in lms as [policy] "
            "says, or made by hand), which are left pointing at no domain"
            + ('; keep such domains with [policy] domains = "inactivate"' if advice else ""),
            "domain_id",
            "sourcedId",
            "pointing",
        ),
    ).collect()
