"""Read a tenant's current lms state from the warehouse: rows, checksums, ids."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NamedTuple

import duckdb
import polars as pl

from rosterflow.schemas.guard import SCHOOL_REMOVALS_SCHEMA
from rosterflow.schemas.identity import same_login
from rosterflow.schemas.lms import ENTITIES, MANAGED_PREFIX, Entity
from rosterflow.schemas.reads import CurrentRows
from rosterflow.schemas.spec import SYNCED_FILES
from rosterflow.warehouse.records import stored_ids
from rosterflow.warehouse.schema import connect, staged
from rosterflow.warehouse.seal import note_summary, vouched_summary


def current_rows(con: duckdb.DuckDBPyConnection, tenant: str, entity: Entity) -> pl.DataFrame:
    """All of the tenant's rows of lms.<entity> (managed and hand-made)."""
    columns = ", ".join(entity.columns)
    rows = con.sql(
        f"select {columns} from lms.{entity.table} where tenant = ?", params=[tenant]
    ).pl()
    return rows.cast(entity.schema)


class TableSummary(NamedTuple):
    rows: int  # managed rows of the tenant
    hash_sum: int  # sum of their row hashes
    active: int  # of them with status active

    def text(self, table: str) -> str:
        return f"{table}:{self.rows}:{self.hash_sum}"


def lms_summary(con: duckdb.DuckDBPyConnection, tenant: str) -> dict[str, TableSummary]:
    """Per entity: the tenant's managed rows, a sum of their row hashes (any hand edit,
    insert or delete of a managed row changes it) and how many are active. Read by a scan of
    every managed row, unless the file's seal vouches for it (`warehouse.seal`)."""
    vouched = vouched_summary(con, tenant)
    if vouched is not None and vouched.keys() == ENTITIES.keys():
        return {name: TableSummary(*vouched[name]) for name in ENTITIES}
    found = {}
    for name, entity in ENTITIES.items():
        count, total, active = con.execute(
            f"select count(*), coalesce(sum(hash(rows)), 0), count(*) filter (status = 'active') "
            f"from lms.{entity.table} as rows "
            "where tenant = ? and starts_with(external_id, ?)",
            [tenant, MANAGED_PREFIX],
        ).fetchall()[0]
        found[name] = TableSummary(count, int(total), active)
    note_summary(con, tenant, {name: tuple(summary) for name, summary in found.items()})
    return found


def checksum_text(summary: dict[str, TableSummary]) -> str:
    return ";".join(summary[name].text(entity.table) for name, entity in ENTITIES.items())


def lms_checksum(con: duckdb.DuckDBPyConnection, tenant: str) -> str:
    """Row count and a sum of row hashes of the tenant's managed rows, per lms table."""
    return checksum_text(lms_summary(con, tenant))


def hand_made_users_checksum(con: duckdb.DuckDBPyConnection, tenant: str) -> str:
    """Row count and a sum of row hashes of the tenant's users made by hand (no managed
    external ID): the accounts `[identity] adopt_by` matched new records against, which
    `lms_checksum` leaves out. Any insert, delete or edit of one changes it."""
    count, total = con.execute(
        "select count(*), coalesce(sum(hash(rows)), 0) from lms.users as rows "
        "where tenant = ? and not coalesce(starts_with(external_id, ?), false)",
        [tenant, MANAGED_PREFIX],
    ).fetchall()[0]
    return f"users:{count}:{int(total)}"


def next_ids(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The first free id of each lms table (`audit.next_ids`, which rows made by hand take
    too): above every id lms holds or history remembers (ids are unique across tenants, and a
    deleted row's id is never given to another), and above the file's id range in a
    per-tenant layout."""
    found = dict(con.execute("select table_name, next_id from audit.next_ids").fetchall())
    return {name: int(found[entity.table]) for name, entity in ENTITIES.items()}


def known_ids(warehouse: str | Path | None, tenant: str) -> dict[str, pl.Series]:
    """sourcedIds the warehouse holds for the tenant, per OneRoster file (for validation);
    none without a warehouse file (a tenant of a layout that has never synced)."""
    if warehouse is None:
        return {name: pl.Series("sourcedId", [], pl.String) for name in SYNCED_FILES}
    with connect(warehouse, read_only=True) as con:
        return stored_ids(con, tenant)


# the tables whose rows a plan reads by key in two passes: the rowids of the keys' rows found
# first, then those rows read whole. One pass decodes every column of each block of rows that
# holds a key (the keys of a run are spread through the table: nearly every block), which the
# long text of users (names, emails, logins) makes dearer than a second pass; the other tables'
# columns are numbers and short codes, which one pass reads for less
READ_BY_ROWID = frozenset({"user"})


class WarehouseCurrent(CurrentRows):
    """The tenant's lms rows as a plan reads them (`schemas.reads`); for the incremental plan,
    only the rows of the external IDs it plans, by a semi join in DuckDB."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        tenant: str,
        summary: dict[str, TableSummary] | None = None,
    ) -> None:
        self.con, self.tenant, self.summary = con, tenant, summary

    @contextmanager
    def _keys(self, values: pl.Series) -> Iterator[str]:
        name = "rosterflow_planned_keys"
        self.con.register(name, values.to_frame("key"))
        try:
            yield name
        finally:
            with suppress(duckdb.Error):
                self.con.unregister(name)

    def rows(self, entity: str, external_ids: pl.Series | None = None) -> pl.DataFrame:
        table = ENTITIES[entity]
        if external_ids is None:
            return current_rows(self.con, self.tenant, table)
        if external_ids.len() == 0:  # (a scan of every row of the table would find none)
            return pl.DataFrame(schema=table.schema)
        with self._keys(external_ids.cast(pl.String)) as keys:
            found = f"tenant = ? and external_id in (select key from {keys})"
            if entity in READ_BY_ROWID:
                found = f"rowid in (select rowid from lms.{table.table} where {found})"
            return (
                self.con.sql(
                    f"select {', '.join(table.columns)} from lms.{table.table} where {found}",
                    params=[self.tenant],
                )
                .pl()
                .cast(table.schema)
            )

    def ids(self, entity: str, external_ids: pl.Series) -> pl.DataFrame:
        table = ENTITIES[entity]
        if external_ids.len() == 0:
            return pl.DataFrame(schema={"external_id": pl.String, table.id: pl.Int64})
        with self._keys(external_ids.cast(pl.String)) as keys:
            return (
                self.con.sql(
                    f"select external_id, {table.id} from lms.{table.table} "
                    "where tenant = ? and starts_with(external_id, ?) "
                    f"and external_id in (select key from {keys})",
                    params=[self.tenant, MANAGED_PREFIX],
                )
                .pl()
                .cast({"external_id": pl.String, table.id: pl.Int64})
            )

    def pointing_at(self, entity: str, field: str, ids: pl.Series) -> pl.Series:
        table = ENTITIES[entity]
        if ids.len() == 0:
            return pl.Series("external_id", [], pl.String)
        with self._keys(ids.cast(pl.Int64)) as keys:
            return (
                self.con.sql(
                    f"select external_id from lms.{table.table} "
                    "where tenant = ? and starts_with(external_id, ?) "
                    f"and {field} in (select key from {keys})",
                    params=[self.tenant, MANAGED_PREFIX],
                )
                .pl()
                .get_column("external_id")
                .cast(pl.String)
            )

    def managed_active(self, entity: str) -> int:
        if self.summary is None:
            self.summary = lms_summary(self.con, self.tenant)
        return self.summary[entity].active


# a row of the tenant the sync does not manage (no managed external ID): made by hand
_HAND_MADE = "tenant = $tenant and not coalesce(starts_with(external_id, $managed), false)"

HAND_MADE_REFERENCES_SCHEMA = {
    "user_id": pl.Int64,
    "enrollments": pl.Int64,
    "observers": pl.Int64,
    "scores": pl.Int64,
}


def hand_made_references(
    con: duckdb.DuckDBPyConnection, tenant: str, user_ids: pl.Series
) -> pl.DataFrame:
    """Per user of `user_ids` that rows made by hand point at, how many: the tenant's
    enrollments and observer links made by hand (either side of a link), and the platform's
    scores (lms.scores, which a sync never writes). A plan that deletes those users leaves
    these rows pointing at no user: they are never touched. Columns: user_id, enrollments,
    observers, scores; users nothing made by hand points at are left out."""
    return _pointing_at(
        con,
        tenant,
        user_ids,
        HAND_MADE_REFERENCES_SCHEMA,
        ("enrollments", "user_id", f"lms.enrollments where {_HAND_MADE}"),
        ("observers", "observer_user_id", f"lms.observers where {_HAND_MADE}"),
        ("observers", "student_user_id", f"lms.observers where {_HAND_MADE}"),
        # a score has no tenant of its own: user ids are unique across tenants
        ("scores", "user_id", "lms.scores"),
    )


HAND_MADE_COURSE_REFERENCES_SCHEMA = {
    "course_id": pl.Int64,
    "enrollments": pl.Int64,
    "courses": pl.Int64,
    "assignments": pl.Int64,
    "line_items": pl.Int64,
}


def hand_made_course_references(
    con: duckdb.DuckDBPyConnection, tenant: str, course_ids: pl.Series
) -> pl.DataFrame:
    """Per course of `course_ids` that rows the sync does not manage point at, how many: the
    tenant's enrollments, courses (built on it as their base) and content assignments made by
    hand, and the platform's line items (lms.line_items, which a sync never writes). A plan
    that deletes those courses leaves these rows pointing at no course. Columns: course_id,
    enrollments, courses, assignments, line_items; courses nothing made by hand points at are
    left out."""
    return _pointing_at(
        con,
        tenant,
        course_ids,
        HAND_MADE_COURSE_REFERENCES_SCHEMA,
        ("enrollments", "course_id", f"lms.enrollments where {_HAND_MADE}"),
        ("courses", "base_course_id", f"lms.courses where {_HAND_MADE}"),
        ("assignments", "course_id", f"lms.class_resources where {_HAND_MADE}"),
        ("assignments", "course_id", f"lms.course_resources where {_HAND_MADE}"),
        ("line_items", "course_id", "lms.line_items where tenant = $tenant"),
    )


HAND_MADE_RESOURCE_REFERENCES_SCHEMA = {
    "resource_id": pl.Int64,
    "class_assignments": pl.Int64,
    "course_assignments": pl.Int64,
}


def hand_made_resource_references(
    con: duckdb.DuckDBPyConnection, tenant: str, resource_ids: pl.Series
) -> pl.DataFrame:
    """Per resource of `resource_ids` that content assignments made by hand point at, how
    many: the tenant's class and course assignments the sync does not manage. A plan that
    deletes those resources leaves these rows pointing at no resource. Columns: resource_id,
    class_assignments, course_assignments; resources nothing made by hand points at are left
    out."""
    return _pointing_at(
        con,
        tenant,
        resource_ids,
        HAND_MADE_RESOURCE_REFERENCES_SCHEMA,
        ("class_assignments", "resource_id", f"lms.class_resources where {_HAND_MADE}"),
        ("course_assignments", "resource_id", f"lms.course_resources where {_HAND_MADE}"),
    )


def _pointing_at(
    con: duckdb.DuckDBPyConnection,
    tenant: str,
    ids: pl.Series,
    schema: Mapping[str, pl.DataType],
    *sources: tuple[str, str, str],
) -> pl.DataFrame:
    """Per id of `ids` (the first column of `schema`) that rows of `sources` point at, how
    many of each kind: a source is `(column, referring column, table and condition)`, its
    rows counted in `column` of `schema` (two sources may count in one). Ids nothing points
    at are left out; no id, no scan (most plans delete nothing)."""
    key, *counted = schema
    if ids.len() == 0:
        return pl.DataFrame(schema=schema)
    counts = ", ".join(f"count(*) filter (kind = '{column}') as {column}" for column in counted)
    pointing = " union all ".join(
        f"select {referring} as {key}, '{column}' as kind from {rows}"
        for column, referring, rows in sources
    )
    name = f"rosterflow_deleted_{key}s"
    with staged(con, name, ids.cast(pl.Int64).to_frame(key)):
        found = con.sql(
            f"select {key}, {counts} from ({pointing}) as pointing "
            f"where {key} in (select {key} from {name}) group by {key} order by {key}",
            params={"tenant": tenant, "managed": MANAGED_PREFIX},
        ).pl()
    return found.cast(schema)


ROWS_IN_DOMAINS_SCHEMA = {"entity": pl.String, "id": pl.Int64, "domain_id": pl.Int64}


def rows_in_domains(
    con: duckdb.DuckDBPyConnection, tenant: str, domain_ids: pl.Series
) -> pl.DataFrame:
    """`entity, id, domain_id` of the tenant's rows that belong to one of `domain_ids`, managed
    or made by hand: users and courses in it, domains under it (`parent_domain_id`). What a
    plan that deletes those domains must not leave pointing at nothing."""
    if domain_ids.len() == 0:  # (most plans delete no domain: no scan)
        return pl.DataFrame(schema=ROWS_IN_DOMAINS_SCHEMA)
    name = "rosterflow_deleted_domains"
    with staged(con, name, domain_ids.cast(pl.Int64).to_frame("domain_id")):
        found = con.sql(
            "select 'user' as entity, user_id as id, domain_id from lms.users "
            f"where tenant = $tenant and domain_id in (select domain_id from {name}) "
            "union all select 'course', course_id, domain_id from lms.courses "
            f"where tenant = $tenant and domain_id in (select domain_id from {name}) "
            "union all select 'domain', domain_id, parent_domain_id from lms.domains "
            f"where tenant = $tenant and parent_domain_id in (select domain_id from {name})",
            params={"tenant": tenant},
        ).pl()
    return found.cast(ROWS_IN_DOMAINS_SCHEMA)


# per guarded entity: the column of a removed row that places it, the CTE `placed` that leads
# from that column (of the rows staged) to the row's school, and the CTE `active` of the
# tenant's active managed rows per school (of the schools of `removed` alone)
_SCHOOL_OF = {
    "user": (
        "domain_id",
        """
placed as (
    select domain_id
    from staged
),
""",
        """
active as (
    select domain_id, count(*) as active
    from lms.users
    where tenant = $tenant
        and starts_with(external_id, $managed)
        and status = 'active'
        and domain_id in (select domain_id from removed)
    group by domain_id
),
""",
    ),
    "enrollment": (
        "course_id",
        """
placed as (
    select courses.domain_id
    from staged
    join lms.courses as courses on courses.course_id = staged.course_id
),
""",
        """
active as (
    select courses.domain_id, count(*) as active
    from lms.enrollments as enrollments
    join lms.courses as courses on courses.course_id = enrollments.course_id
    where enrollments.tenant = $tenant
        and starts_with(enrollments.external_id, $managed)
        and enrollments.status = 'active'
        and courses.domain_id in (select domain_id from removed)
    group by courses.domain_id
),
""",
    ),
}
# a guarded entity's removals per school, its `placed` and `active` CTEs in their places
_SCHOOL_REMOVALS_SQL = """
with

{placed}

removed as (
    select domain_id, count(*) as removed
    from placed
    group by domain_id
),

{active}

final as (
    select
        $entity as entity,
        removed.domain_id,
        domains.name as school,
        removed.removed,
        coalesce(active.active, 0) as active,
    from removed
    left join active on active.domain_id = removed.domain_id
    left join lms.domains as domains on domains.domain_id = removed.domain_id
)

select * from final order by domain_id
"""


def school_removals(
    con: duckdb.DuckDBPyConnection, tenant: str, removed: dict[str, pl.DataFrame]
) -> pl.DataFrame:
    """Per school (domain) and guarded entity: how many of its active managed rows a plan
    removes, and how many it has. `removed` holds, per entity ("user", "enrollment"), the plan's
    removals of active rows; a user belongs to its domain, an enrollment to its course's.
    A frame of `schemas.guard.SCHOOL_REMOVALS_SCHEMA`, in entity then domain order."""
    found = []
    for name, (column, placed, active) in _SCHOOL_OF.items():
        rows = removed.get(name)
        if rows is None or rows.height == 0:
            continue
        # (one statement: the schools of the removals stay in DuckDB, never staged again)
        with staged(con, "staged", rows.select(column)):
            found.append(
                con.sql(
                    _SCHOOL_REMOVALS_SQL.format(placed=placed, active=active),
                    params={"tenant": tenant, "managed": MANAGED_PREFIX, "entity": name},
                )
                .pl()
                .cast(SCHOOL_REMOVALS_SCHEMA)
            )
    return pl.concat(found) if found else pl.DataFrame(schema=SCHOOL_REMOVALS_SCHEMA)


HAND_MADE_LOGINS_SCHEMA = {"user_id": pl.Int64, "login": pl.String}


def hand_made_logins(
    con: duckdb.DuckDBPyConnection, tenant: str, logins: pl.Series
) -> pl.DataFrame:
    """`user_id, login` of the tenant's active accounts made by hand that sign in with one of
    `logins`, compared as sign-in compares them (`schemas.identity.same_login`: trimmed, in
    any letter case): the accounts a user created with that login would share it with. A
    plan that creates no user reads none."""
    if logins.len() == 0:  # (most runs create no user: no scan)
        return pl.DataFrame(schema=HAND_MADE_LOGINS_SCHEMA)
    # the accounts made by hand are few beside the SIS's: read whole and compared here, where
    # `same_login` itself folds them (DuckDB's `lower` and `trim` are not Polars')
    accounts = (
        con.sql(
            f"select user_id, login from lms.users where {_HAND_MADE} and status = 'active' "
            "and login is not null",
            params={"tenant": tenant, "managed": MANAGED_PREFIX},
        )
        .pl()
        .cast(HAND_MADE_LOGINS_SCHEMA)
    )
    if accounts.height == 0:
        return accounts
    keys = logins.cast(pl.String).to_frame("login").select(same_login(pl.col("login")).alias("key"))
    return accounts.join(
        keys.unique(), left_on=same_login(pl.col("login")), right_on="key", how="semi"
    ).sort("user_id")


SYNCED_LOGINS_SCHEMA = {"user_id": pl.Int64, "external_id": pl.String, "login": pl.String}


def synced_logins(con: duckdb.DuckDBPyConnection, tenant: str, logins: pl.Series) -> pl.DataFrame:
    """`user_id, external_id, login` of the tenant's active synced accounts (managed external
    ID) that sign in with one of `logins`, compared as sign-in compares them (`same_login`), as
    lms holds them before a plan: among them the accounts `[policy] users = "keep"` kept when
    their records left the SIS, which a user the plan has sign in with that login would share
    it with (`transforms.adoption.kept_login_issues`). A plan that has nobody sign in anew
    reads none."""
    if logins.null_count() == logins.len() or not _has_synced_accounts(con, tenant):
        # (a first load creates every user and meets no account: its logins are not folded)
        return pl.DataFrame(schema=SYNCED_LOGINS_SCHEMA)
    keys = (
        logins.cast(pl.String)
        .to_frame("login")
        .select(same_login(pl.col("login")).alias("key"))
        .drop_nulls()
        .unique()
    )
    if keys.height == 0:  # (most runs have nobody sign in anew: no scan)
        return pl.DataFrame(schema=SYNCED_LOGINS_SCHEMA)
    name = "rosterflow_signing_in"
    with staged(con, name, keys):
        candidates = con.sql(
            "select user_id, external_id, login from lms.users where tenant = $tenant "
            "and starts_with(external_id, $managed) and status = 'active' and login is not null "
            # synced accounts are the SIS's, a million at a large district: DuckDB finds those
            # of an ASCII login equal in lower case alone, and leaves to `same_login` the
            # logins its `lower` may fold otherwise (`İ`, a final `Σ`, an accent typed apart:
            # any not ASCII) or that start or end with a space or a control character (which
            # `same_login` trims). A full read took 0.4 s at a million accounts, this 0.15 s
            f"and (lower(login) in (select key from {name}) "
            "or strlen(login) <> length(login) or left(login, 1) <= ' ' "
            "or right(login, 1) <= ' ')",
            params={"tenant": tenant, "managed": MANAGED_PREFIX},
        ).pl()
    return (
        candidates.cast(SYNCED_LOGINS_SCHEMA)
        .join(keys, left_on=same_login(pl.col("login")), right_on="key", how="semi")
        .sort("user_id")
    )


def _has_synced_accounts(con: duckdb.DuckDBPyConnection, tenant: str) -> bool:
    """Whether the tenant has an active synced account with a login (none before its first
    load): a lookup that stops at the first."""
    return con.execute(
        "select exists (select 1 from lms.users where tenant = $tenant "
        "and starts_with(external_id, $managed) and status = 'active' and login is not null)",
        {"tenant": tenant, "managed": MANAGED_PREFIX},
    ).fetchall()[0][0]
